//go:build !linux

package main

import (
	"context"
	"net"
	"testing"
)

type nsDialer struct{}

func netnsDialer(t *testing.T, ns string) *nsDialer {
	t.Skip("network namespaces are Linux only")
	return nil
}

func (d *nsDialer) Dial(network, addr string) (net.Conn, error) { return nil, net.ErrClosed }

func (d *nsDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, net.ErrClosed
}

// needNetlab skips: network namespaces are Linux only.
func needNetlab(t *testing.T) {
	t.Helper()
	t.Skip("network namespaces are Linux only")
}
