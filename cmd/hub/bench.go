package main

import (
	"fmt"
	"io"
)

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "hub bench: not built into this binary yet")
	return 2
}
