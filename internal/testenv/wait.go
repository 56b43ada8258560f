package testenv

import (
	"context"
	"fmt"
	"time"
)

// PollInterval is how long Poll and WaitFor sleep between two checks.
const PollInterval = 50 * time.Millisecond

// Poll calls check until it returns nil and returns nil, or returns an
// error naming what it waited for and check's last error once timeout has
// passed, or ctx's error when ctx ends first.
func Poll(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s: %w", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(PollInterval):
		}
	}
}

// WaitFor polls check until it returns nil, failing the test with what it
// waited for and check's last error after timeout.
func WaitFor(t TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	WaitForExplained(t, timeout, what, check, nil)
}

// WaitForExplained is WaitFor whose failure message adds what explain
// reports at that moment (which control-plane process has exited, the tail
// of a log), when that is not empty. explain may be nil.
func WaitForExplained(t TB, timeout time.Duration, what string, check func() error, explain func() string) {
	t.Helper()
	err := Poll(context.Background(), timeout, what, check)
	if err == nil {
		return
	}
	if explain != nil {
		if more := explain(); more != "" {
			t.Fatalf("%v\n%s", err, more)
			return
		}
	}
	t.Fatal(err)
}
