package operator

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// MemoryLimitShare is the part of its container's memory limit the
// operator's heap may grow to before the garbage collector runs whatever
// DefaultGCPercent says: the rest is for the binary's own pages (30 to
// 50 MiB of them resident once the start-up pages are given back, about
// 70 MiB when they are kept), stacks and the runtime. With the manifests'
// 256 MiB limit the soft limit is 192 MiB, above what 1,000
// SeldonDeployments need (make bench-operator), so it changes nothing
// there; it matters when the SeldonDeployments outgrow the limit's
// headroom, where collecting more often is better than being killed.
const MemoryLimitShare = 0.75

// Where a container's memory limit is read: cgroup v2, else v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// tuneGC sets GOGC to DefaultGCPercent unless $GOGC is set and, unless
// $GOMEMLIMIT is set, a soft memory limit of MemoryLimitShare of the
// container's memory limit when there is one. It returns what is in force
// (-1: the runtime's own setting, a memory limit of none).
func tuneGC(lookupEnv func(string) (string, bool), limitFiles []string) (gcPercent int, memoryLimit int64) {
	gcPercent, memoryLimit = -1, -1
	if _, ok := lookupEnv("GOGC"); !ok {
		debug.SetGCPercent(DefaultGCPercent)
		gcPercent = DefaultGCPercent
	}
	if _, ok := lookupEnv("GOMEMLIMIT"); ok {
		return gcPercent, debug.SetMemoryLimit(-1) // reads the limit without changing it
	}
	for _, f := range limitFiles {
		if limit, ok := readMemoryLimit(f); ok {
			memoryLimit = int64(float64(limit) * MemoryLimitShare)
			debug.SetMemoryLimit(memoryLimit)
			break
		}
	}
	return gcPercent, memoryLimit
}

// readMemoryLimit reads a cgroup memory limit: v2's memory.max ("max": no
// limit) or v1's memory.limit_in_bytes (no limit is a number near the
// largest int64).
func readMemoryLimit(path string) (int64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0, false
	}
	return n, true
}
