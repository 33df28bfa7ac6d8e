//go:build !linux

package node

// residentBytes is not read off Linux: NodeInfo falls back to the Go
// runtime's own total.
func residentBytes() uint64 { return 0 }
