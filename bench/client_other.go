//go:build !linux

package bench

import "errors"

type pool struct{ lastErr string }

type poolReq struct {
	cmd      command
	reply    func(answer)
	progress func(answer)
}

func newPool() (*pool, error) { return nil, errors.New("bench: clients need Linux (epoll)") }

func (p *pool) run(reqs <-chan poolReq, quit <-chan struct{}) {}
func (p *pool) status() answer                                { return answer{} }

var _ = (*pool).run
