package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// ChildEnv is set to "1" in the environment of every child the parent
// starts, so a program other than hub (a test binary) can recognise that it
// should call RunChild.
const ChildEnv = "HUB_BENCH_CHILD"

// FloorEnv, set to an address in a child's environment, makes it the floor
// server listening there.
const FloorEnv = "HUB_BENCH_FLOOR"

func runFloorChild(addr string, in io.Reader, out io.Writer) int {
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- RunFloor(addr, stop) }()
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(stop)
	}()
	if err := <-done; err != nil {
		fmt.Fprintf(out, `{"op":"error","error":%q}`+"\n", err.Error())
		return 1
	}
	return 0
}

// RunChild serves one parent: it reads commands from in, one JSON object a
// line, and writes answers to out, until in ends. It then closes every
// client socket and returns the process exit code. It blocks.
//
// With FloorEnv set to an address, the process is the floor server instead
// (see floor_linux.go): it serves there until in ends.
func RunChild(in io.Reader, out io.Writer) int {
	if addr := os.Getenv(FloorEnv); addr != "" {
		return runFloorChild(addr, in, out)
	}
	p, err := newPool()
	if err != nil {
		fmt.Fprintf(out, `{"op":"error","error":%q}`+"\n", err.Error())
		return 1
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	write := func(a answer) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(a)
	}
	reqs := make(chan poolReq) // unbuffered: the loop picks one request at a time
	quit := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		p.run(reqs, quit)
	}()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	code := 0
	for sc.Scan() {
		var cmd command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			write(answer{Op: opError, Error: "bad command: " + err.Error()})
			continue
		}
		if cmd.Op == opStatus {
			write(p.status()) // atomics only: answered even while the loop is busy
			continue
		}
		done := make(chan struct{})
		req := poolReq{cmd: cmd, reply: func(a answer) { write(a); close(done) }, progress: write}
		select {
		case reqs <- req:
		case <-loopDone:
			write(answer{Op: opError, Error: "client loop ended: " + p.lastErr})
			code = 1
			goto out
		}
		if cmd.Op != opOpen && cmd.Op != opChat {
			<-done // open answers later; status and report meanwhile are fine
		}
	}
out:
	close(quit)
	<-loopDone
	return code
}
