//go:build unix && !linux

package local

import (
	"sync"
	"syscall"
)

// replicaSysProcAttr puts a replica in its own process group.
//
// What differs from Linux: there is no parent-death signal (Pdeathsig) on
// macOS and the BSDs, so the kernel does not kill replicas when sdep dies.
// sdep kills them itself instead: on every way out it controls (SIGINT,
// SIGTERM and SIGHUP drain and stop the replicas; KillReplicas, deferred by
// the commands, kills whatever process group is left, also when the command
// panics). A replica outlives sdep only if sdep is killed with SIGKILL or
// crashes in a way that runs no deferred function (a panic in another
// goroutine, a fatal runtime error); it is then its own process group's
// leader and can be found with `ps -o pid,pgid,command`.
func replicaSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

var groups struct {
	sync.Mutex
	live map[int]bool
}

func started(pid int) {
	groups.Lock()
	defer groups.Unlock()
	if groups.live == nil {
		groups.live = map[int]bool{}
	}
	groups.live[pid] = true
}

func exited(pid int) {
	groups.Lock()
	defer groups.Unlock()
	delete(groups.live, pid)
}

// KillReplicas kills the process group of every replica still running.
func KillReplicas() {
	groups.Lock()
	defer groups.Unlock()
	for pid := range groups.live {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		delete(groups.live, pid)
	}
}
