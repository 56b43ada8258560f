package testenv

import "syscall"

// sysProcAttr kills a child when the process that started it dies, so a
// crashed test leaves no control plane behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
