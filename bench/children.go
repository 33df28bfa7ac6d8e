package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// child is one client process and the pipes to it. Commands to one child
// are sequential: send one, read its answer.
type child struct {
	id      int
	cmd     *exec.Cmd
	in      io.WriteCloser
	answers chan answer // everything but progress; closed when stdout ends
	mu      sync.Mutex  // serialises request/answer pairs

	progMu   sync.Mutex
	progress answer // the last progress line
}

// group is the children of one case.
type group struct {
	children []*child
}

// startChildren starts n client processes.
func startChildren(ctx context.Context, cfg *Config, n int) (*group, error) {
	g := &group{}
	for i := range n {
		c, err := startChild(cfg, i)
		if err != nil {
			g.stop()
			return nil, err
		}
		g.children = append(g.children, c)
	}
	// A status round trip proves each child is up.
	for _, c := range g.children {
		if _, err := c.do(ctx, command{Op: opStatus}); err != nil {
			g.stop()
			return nil, fmt.Errorf("client process %d: %w", c.id, err)
		}
	}
	return g, nil
}

func startChild(cfg *Config, id int) (*child, error) {
	exe := cfg.ChildExe
	args := cfg.ChildArgs
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		args = []string{"bench", "-child"}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = cfg.Stderr
	cmd.SysProcAttr = procAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start client process: %w", err)
	}
	c := &child{id: id, cmd: cmd, in: in, answers: make(chan answer, 1)}
	go func() {
		defer close(c.answers)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var a answer
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				continue
			}
			if a.Op == opProgress {
				c.progMu.Lock()
				c.progress = a
				c.progMu.Unlock()
				continue
			}
			c.answers <- a
		}
	}()
	return c, nil
}

var errChildGone = errors.New("client process ended")

// do sends cmd and waits for its answer.
func (c *child) do(ctx context.Context, cmd command) (answer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(cmd)
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		return answer{}, fmt.Errorf("client process %d: %w", c.id, err)
	}
	select {
	case a, ok := <-c.answers:
		if !ok {
			return answer{}, fmt.Errorf("client process %d: %w", c.id, errChildGone)
		}
		if a.Op == opError {
			return a, fmt.Errorf("client process %d: %s", c.id, a.Error)
		}
		return a, nil
	case <-ctx.Done():
		return answer{}, ctx.Err()
	}
}

func (c *child) lastProgress() answer {
	c.progMu.Lock()
	defer c.progMu.Unlock()
	return c.progress
}

// stop closes every child's stdin, which ends it, and kills by PID any that
// has not exited within a few seconds.
func (g *group) stop() {
	if g == nil {
		return
	}
	for _, c := range g.children {
		_ = c.in.Close()
	}
	for _, c := range g.children {
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
	}
	g.children = nil
}

// all runs cmd on every child at once.
func (g *group) all(ctx context.Context, cmd func(i int) command) ([]answer, error) {
	ans := make([]answer, len(g.children))
	errs := make([]error, len(g.children))
	var wg sync.WaitGroup
	for i, c := range g.children {
		wg.Go(func() { ans[i], errs[i] = c.do(ctx, cmd(i)) })
	}
	wg.Wait()
	return ans, errors.Join(errs...)
}

// sum adds the counters of several answers and merges their histograms.
func sum(as []answer) answer {
	var t answer
	t.Latency, t.Join = &Hist{}, &Hist{}
	first := true
	for _, a := range as {
		t.Opened += a.Opened
		t.Failed += a.Failed
		if t.FirstErr == "" {
			t.FirstErr = a.FirstErr
		}
		t.ElapsedNS = max(t.ElapsedNS, a.ElapsedNS)
		t.Conns += a.Conns
		t.Received += a.Received
		if a.FirstRecv != 0 && (t.FirstRecv == 0 || a.FirstRecv < t.FirstRecv) {
			t.FirstRecv = a.FirstRecv
		}
		t.LastRecv = max(t.LastRecv, a.LastRecv)
		t.Closed += a.Closed
		t.CPUSeconds += a.CPUSeconds
		t.ErrFrames += a.ErrFrames
		t.Dropped += a.Dropped
		t.Recovered += a.Recovered
		t.NotRecovered += a.NotRecovered
		t.Replayed += a.Replayed
		t.Gaps += a.Gaps
		t.Dups += a.Dups
		t.Missing += a.Missing
		t.Resyncs += a.Resyncs
		if a.Conns > 0 {
			if first || a.MinPerConn < t.MinPerConn {
				t.MinPerConn = a.MinPerConn
			}
			t.MaxPerConn = max(t.MaxPerConn, a.MaxPerConn)
			first = false
		}
		if t.LastErr == "" {
			t.LastErr = a.LastErr
		}
		t.Latency.Merge(a.Latency)
		t.Join.Merge(a.Join)
	}
	return t
}
