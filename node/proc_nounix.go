//go:build !unix

package node

// processCPUSeconds is not measured off Unix.
func processCPUSeconds() float64 { return 0 }
