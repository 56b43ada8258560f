//go:build !linux

package local

import (
	"fmt"
	"runtime"
)

// CPUSeconds would return the CPU time a process has used so far. Outside
// Linux there is no /proc to read it from, and the system calls that give
// another process's CPU time (proc_pidinfo on macOS) need cgo, which sdep
// is built without; so it reports ErrCPUUnavailable and CPU-based hpaSpecs
// are not acted on (the autoscaler sees no CPU metric, as when
// metrics-server is down).
func CPUSeconds(int) (float64, error) {
	return 0, fmt.Errorf("%w on %s", ErrCPUUnavailable, runtime.GOOS)
}
