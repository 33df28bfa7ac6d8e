//go:build linux

package bench

import "syscall"

// procAttr makes the kernel kill a process we start if we die first.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
