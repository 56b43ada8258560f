package local

import "time"

// Clock is the runtime's time source: decision and sample times, replica
// start and readiness times, the sync period, restart backoff, drain and
// grace periods. The default is the wall clock; a test gives a clock it
// moves itself.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// wallClock is the real Clock.
type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
