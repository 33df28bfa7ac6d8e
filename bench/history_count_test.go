package bench

import (
	"encoding/json"
	"testing"
)

// The counting rules of the history cases: every number of the run once,
// in order; offsets only increase; the tool's probes (negative numbers)
// move the position but are outside the count.
func TestSeqTrack(t *testing.T) {
	type msg struct {
		s   int64
		off uint64
	}
	tests := []struct {
		name            string
		msgs            []msg
		expect          int
		dups, gaps, mis int64
	}{
		{"in order", []msg{{0, 10}, {1, 11}, {2, 12}}, 3, 0, 0, 0},
		{"offsets not contiguous", []msg{{0, 10}, {1, 15}, {2, 40}}, 3, 0, 0, 0},
		{"probes first", []msg{{-1, 3}, {-1, 4}, {0, 5}, {1, 6}}, 2, 0, 0, 0},
		{"duplicate by number", []msg{{0, 10}, {1, 11}, {1, 12}, {2, 13}}, 3, 1, 0, 0},
		{"duplicate by offset is not had", []msg{{0, 10}, {1, 11}, {2, 11}}, 3, 1, 0, 1},
		{"replay overlapping live", []msg{{0, 10}, {1, 11}, {0, 10}, {1, 11}, {2, 12}}, 3, 2, 0, 0},
		{"gap", []msg{{0, 10}, {3, 13}, {4, 14}}, 5, 0, 2, 0},
		{"missing tail", []msg{{0, 10}, {1, 11}}, 5, 0, 0, 3},
		{"nothing", nil, 4, 0, 0, 4},
		{"frames without offsets", []msg{{0, 0}, {1, 0}, {1, 0}}, 2, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr seqTrack
			var dups, gaps int64
			for _, m := range tt.msgs {
				dup, gap := tr.see(m.s, m.off)
				if dup {
					dups++
				}
				gaps += gap
			}
			if dups != tt.dups || gaps != tt.gaps || tr.missing(tt.expect) != tt.mis {
				t.Fatalf("dups %d gaps %d missing %d, want %d %d %d", dups, gaps, tr.missing(tt.expect), tt.dups, tt.gaps, tt.mis)
			}
		})
	}
}

// A drop keeps the position: the next run's numbers start again at 0,
// the offsets go on.
func TestSeqTrack_ResetKeepsPosition(t *testing.T) {
	var tr seqTrack
	tr.see(0, 7)
	tr.see(1, 8)
	tr.reset()
	if tr.off != 8 || tr.missing(2) != 2 {
		t.Fatalf("after reset: off %d missing %d", tr.off, tr.missing(2))
	}
	if dup, _ := tr.see(0, 8); !dup {
		t.Fatal("offset 8 again is not a duplicate")
	}
	if dup, gap := tr.see(0, 9); dup || gap != 0 || tr.missing(2) != 1 {
		t.Fatalf("new run's first message: dup %v gap %d missing %d", dup, gap, tr.missing(2))
	}
}

func TestMsgAndAckFields(t *testing.T) {
	// Frames as the hub writes them (protocol.AppendStoredMessage, EncodeJoinAck).
	msg := []byte(`{"type":"message","room":"hist.x","offset":1042,"from":"al","data":{"t":1764583200000000000,"s":17,"p":"xx"}}`)
	if off, s := msgFields(msg); off != 1042 || s != 17 {
		t.Fatalf("message: offset %d s %d", off, s)
	}
	probe := []byte(`{"type":"message","room":"hist.x","offset":3,"data":{"t":1,"s":-1,"p":""}}`)
	if off, s := msgFields(probe); off != 3 || s != -1 {
		t.Fatalf("probe: offset %d s %d", off, s)
	}
	plain := []byte(`{"type":"message","room":"bench","data":{"t":1,"s":2}}`)
	if off, s := msgFields(plain); off != 0 || s != 2 {
		t.Fatalf("plain: offset %d s %d", off, s)
	}
	for _, tt := range []struct {
		frame string
		epoch string
		off   uint64
		rec   int8
	}{
		{`{"type":"ack","id":1,"room":"hist.x","epoch":"lq2x8a","offset":1057}`, "lq2x8a", 1057, -1},
		{`{"type":"ack","id":1,"room":"hist.x","epoch":"lq2x8a","offset":1057,"recovered":true}`, "lq2x8a", 1057, 1},
		{`{"type":"ack","id":1,"room":"hist.x","epoch":"e","offset":0,"recovered":false}`, "e", 0, 0},
		{`{"type":"ack","id":1}`, "", 0, -1},
	} {
		epoch, off, rec := ackFields([]byte(tt.frame))
		if epoch != tt.epoch || off != tt.off || rec != tt.rec {
			t.Errorf("%s: epoch %q offset %d recovered %d", tt.frame, epoch, off, rec)
		}
	}
}

func TestSinceJoin(t *testing.T) {
	var f struct {
		Type, Room string
		ID         int
		Since      struct {
			Offset uint64
			Epoch  string
		}
	}
	if err := json.Unmarshal(sinceJoin("hist.x", "lq2", 99), &f); err != nil {
		t.Fatal(err)
	}
	if f.Type != "join_room" || f.Room != "hist.x" || f.ID != 1 || f.Since.Offset != 99 || f.Since.Epoch != "lq2" {
		t.Fatalf("%+v", f)
	}
}
