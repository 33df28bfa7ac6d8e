//go:build !linux

package bench

import "errors"

// RunFloor serves the floor server (Linux only).
func RunFloor(addr string, stop <-chan struct{}) error {
	return errors.New("floor server: Linux only")
}
