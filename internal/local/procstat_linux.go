package local

import (
	"fmt"
	"os"
)

// CPUSeconds returns the CPU time a process has used so far, user plus
// system, from /proc/<pid>/stat. Children's time is not included: each
// replica process is sampled on its own.
func CPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(data)
}
