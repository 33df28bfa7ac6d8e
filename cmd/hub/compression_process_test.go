package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// A 10,000-member room on a hub process with compression on: every member
// negotiates permessage-deflate, each room message is compressed once (the
// counter grows by one per message) and every member gets the very same
// compressed bytes.
func TestProcessCompressionLargeRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 10,000 connections")
	}
	const members, messages = 10000, 3
	p := startProcWith(t, "zip", "", procOpts{args: []string{"-compression"}})
	type member struct {
		nc net.Conn
		r  io.Reader
	}
	all := make([]member, members)
	join := ws.MustCompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"join_room","room":"big","id":1}`))))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			d := p.wsd
			d.Extensions = []httphead.Option{wsflate.DefaultParameters.Option()}
			for i := range next {
				nc, br, hs, err := d.Dial(context.Background(), p.wsURL(""))
				if err != nil {
					errs <- err
					return
				}
				if len(hs.Extensions) != 1 {
					errs <- fmt.Errorf("member %d: extensions %v", i, hs.Extensions)
					return
				}
				m := member{nc: nc, r: nc}
				if br != nil {
					m.r = io.MultiReader(br, nc)
				}
				if _, err := nc.Write(join); err != nil {
					errs <- err
					return
				}
				_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
				if f, err := ws.ReadFrame(m.r); err != nil || !bytes.Contains(f.Payload, []byte(`"ack"`)) {
					errs <- fmt.Errorf("member %d join: %q %v", i, f.Payload, err)
					return
				}
				all[i] = m
			}
		})
	}
	go func() {
		defer close(next)
		for i := range members {
			select {
			case next <- i:
			case err := <-errs:
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range all {
			if m.nc != nil {
				m.nc.Close()
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	metric := func(name string) float64 {
		resp, err := http.Get(p.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^` + name + ` ([0-9.e+-]+)$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no %s", name)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	if n := metric("hub_compression_negotiated_total"); n != members {
		t.Fatalf("hub_compression_negotiated_total %v, want %d", n, members)
	}
	before := metric("hub_compressions_total")
	for i := range messages {
		body := fmt.Sprintf(`{"n":%d,"text":%q}`, i, strings.Repeat("the same bytes for every member ", 60))
		resp, err := http.Post(p.url("/api/rooms/big/messages"), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}
	first := make([][]byte, messages)
	for i, m := range all {
		_ = m.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		for k := range messages {
			f, err := ws.ReadFrame(m.r)
			for err == nil && f.Header.OpCode.IsControl() {
				f, err = ws.ReadFrame(m.r) // a ping, when the machine is slow enough for one
			}
			if err != nil {
				t.Fatalf("member %d message %d: %v", i, k, err)
			}
			if z, _ := wsflate.IsCompressed(f.Header); !z {
				t.Fatalf("member %d message %d not compressed", i, k)
			}
			if first[k] == nil {
				first[k] = f.Payload
				d, err := wsflate.DecompressFrame(f)
				if err != nil || !bytes.Contains(d.Payload, []byte(fmt.Sprintf(`{"n":%d,`, k))) {
					t.Fatalf("message %d inflates to %.80q (%v)", k, d.Payload, err)
				}
			} else if !bytes.Equal(f.Payload, first[k]) {
				t.Fatalf("member %d got other bytes for message %d", i, k)
			}
		}
	}
	if d := metric("hub_compressions_total") - before; d != messages {
		t.Fatalf("hub_compressions_total grew by %v for %d messages to %d members, want %d", d, messages, members, messages)
	}
	t.Logf("%d messages to %d members: %d compressions; %d compressed bytes per message for %d inflated", messages, members, messages, len(first[0]), 60*len("the same bytes for every member "))
}
