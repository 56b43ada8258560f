// Command pause is the pod sandbox process for sdep's test node: it holds the
// pod's namespaces open, reaps the zombies of a shared PID namespace, and
// exits 0 on SIGINT or SIGTERM. Built static (CGO_ENABLED=0) into the pause
// image by hack/images.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at link time by hack/images.
var version = "dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("pause", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: warning: not pid 1; zombies of other parents are not mine to reap")
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: %s, exiting\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child without blocking; signals coalesce, so
// one SIGCHLD may stand for several children.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
