package local

import (
	"os"
	"testing"
	"time"
)

func TestCPUSecondsGrowsWithWork(t *testing.T) {
	before, err := CPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the counter moves (one tick is 10 ms); the deadline
	// only guards against a counter that never moves.
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		after, err := CPUSeconds(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
	t.Errorf("CPU time stayed at %v s after 30 s of work (%d)", before, x)
}
