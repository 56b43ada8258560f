package executor

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// executorGCPercent is the GOGC the executor runs with unless GOGC is set.
// Its live heap is a few MiB while every request allocates a few KiB, so
// at Go's default of 100 the collector ran many times a second under load
// and took about 10% of the executor's CPU in a profile at 32 concurrent
// requests; at 400 it took about 3%, for a heap target of a few tens of MiB.
const executorGCPercent = 400

// Where a container's memory limit is read: cgroup v2, else v1 (whose
// "no limit" is a number near the largest int64, page-rounded).
const (
	cgroupMemoryMax   = "/sys/fs/cgroup/memory.max"
	cgroupV1MemoryMax = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// TuneGC sets the executor's garbage collector: GOGC 400 unless the GOGC
// environment variable says otherwise and, unless GOMEMLIMIT is set, a soft
// memory limit of 3/4 of the container's memory limit when there is one, so
// that the larger GOGC gives way to collections before the pod nears its
// limit (large bodies make the live heap, and so the GOGC target, grow).
// It returns what it set, for the log.
func TuneGC() (gcPercent int, memoryLimit int64) {
	gcPercent, memoryLimit = -1, -1
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(executorGCPercent)
		gcPercent = executorGCPercent
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		limit, ok := containerMemoryLimit(cgroupMemoryMax)
		if !ok {
			limit, ok = containerMemoryLimit(cgroupV1MemoryMax)
		}
		if ok {
			memoryLimit = limit / 4 * 3
			debug.SetMemoryLimit(memoryLimit)
		}
	}
	return gcPercent, memoryLimit
}

// containerMemoryLimit reads a cgroup memory limit file: v2's memory.max
// ("max" is no limit) or v1's memory.limit_in_bytes (1<<62 or more is no
// limit).
func containerMemoryLimit(path string) (int64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
