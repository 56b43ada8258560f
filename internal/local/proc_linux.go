package local

import "syscall"

// replicaSysProcAttr puts a replica in its own process group and has the
// kernel kill it when sdep dies, however it dies (crash, SIGKILL).
func replicaSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// On Linux the kernel's parent-death signal does the bookkeeping that
// KillReplicas does elsewhere.
func started(int) {}
func exited(int)  {}

// KillReplicas kills the process group of every replica still running. On
// Linux the kernel does this when sdep exits (Pdeathsig), so it does
// nothing here.
func KillReplicas() {}
