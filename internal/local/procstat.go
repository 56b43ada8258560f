package local

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// The kernel fixes it at 100 for user space on every architecture Go
// supports on Linux, so it is not read with sysconf (which needs cgo).
const clockTicks = 100

// parseStat reads utime and stime (fields 14 and 15) from a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may itself hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(data []byte) (float64, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("proc stat: no command name in %q", data)
	}
	fields := bytes.Fields(data[end+1:])
	// fields[0] is field 3 (state), so field n is fields[n-3].
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least %d", len(fields), stime+1)
	}
	u, err := strconv.ParseUint(string(fields[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime: %w", err)
	}
	s, err := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime: %w", err)
	}
	return float64(u+s) / clockTicks, nil
}

// ErrCPUUnavailable is the error of a CPU sampler that cannot read a
// process's CPU time on this system.
var ErrCPUUnavailable = errors.New("the CPU time of replica processes cannot be read")
