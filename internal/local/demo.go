package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sdep-dev/sdep/internal/load"
)

// DemoLoad shapes the load of `sdep demo`.
type DemoLoad struct {
	// Concurrency is the number of closed-loop workers of the heavy load;
	// TrickleRate the requests per second once it drops.
	Concurrency, TrickleRate int
	// Hold keeps the heavy load on this long at maxReplicas; Timeout bounds
	// each phase.
	Hold, Timeout time.Duration
}

// Demo drives the worked example's load against a running runtime: heavy
// until the autoscaled component reaches maxReplicas, then a trickle until
// it is back to minReplicas, and prints one line of figures.
func Demo(ctx context.Context, w io.Writer, rt *Runtime, dl DemoLoad) error {
	concurrency, trickleRate, timeout := dl.Concurrency, dl.TrickleRate, dl.Timeout
	var scaled *ComponentStatus
	if err := WaitStatus(ctx, rt, timeout, func(st Status) bool {
		for _, c := range st.Components {
			if c.MaxReplicas > 0 && c.Ready >= 1 {
				scaled = &c
				return true
			}
		}
		return false
	}); err != nil {
		return fmt.Errorf("waiting for an autoscaled component to be ready: %w", err)
	}
	component := func(st Status) ComponentStatus {
		for _, c := range st.Components {
			if c.Deployment == scaled.Deployment {
				return c
			}
		}
		return ComponentStatus{}
	}
	target := "http://" + rt.FrontAddrs().HTTP + "/api/v1.0/predictions" // the front, as a client would

	fmt.Fprintf(w, "\n== heavy load (%d workers) until %s has %d replicas\n", concurrency, scaled.Component, scaled.MaxReplicas)
	start := time.Now()
	heavy, err := loadUntil(ctx, load.Options{Target: target, Concurrency: concurrency}, rt, timeout, dl.Hold, func(st Status) bool {
		return component(st).Ready >= scaled.MaxReplicas
	})
	if err != nil {
		return fmt.Errorf("heavy load: %w", err)
	}
	up := time.Since(start) - dl.Hold

	fmt.Fprintf(w, "\n== trickle (%d requests/s) until %s is back to %d\n", trickleRate, scaled.Component, scaled.MinReplicas)
	start = time.Now()
	trickle, err := loadUntil(ctx, load.Options{Target: target, Rate: trickleRate, Concurrency: 1}, rt, timeout, 2*time.Second, func(st Status) bool {
		c := component(st)
		return c.Replicas <= scaled.MinReplicas && c.Terminating == 0
	})
	if err != nil {
		return fmt.Errorf("trickle: %w", err)
	}
	down := time.Since(start) - 2*time.Second
	requests := heavy.Requests + trickle.Requests
	failed := requests - heavy.Succeeded - trickle.Succeeded
	fmt.Fprintf(w, "\n1→%d in %s under load, held %s (%d requests, %.0f/s); back to %d in %s with a trickle (%d requests); %d failed\n",
		scaled.MaxReplicas, up.Round(time.Second), dl.Hold, heavy.Requests, heavy.Throughput, scaled.MinReplicas,
		down.Round(time.Second), trickle.Requests, failed)
	return nil
}

// loadUntil sends load until cond holds on the status, then for hold more,
// or until timeout.
func loadUntil(ctx context.Context, o load.Options, rt *Runtime, timeout, hold time.Duration, cond func(Status) bool) (load.Report, error) {
	o.Duration = timeout
	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	type result struct {
		r   load.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := load.Run(loadCtx, o)
		done <- result{r, err}
	}()
	waitErr := WaitStatus(loadCtx, rt, timeout, cond)
	if waitErr == nil {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
	}
	stop()
	res := <-done
	return res.r, errors.Join(waitErr, res.err)
}

// WaitStatus waits until cond holds on the status, checking it at every
// change the runtime signals.
func WaitStatus(ctx context.Context, rt *Runtime, timeout time.Duration, cond func(Status) bool) error {
	deadline := time.After(timeout)
	for {
		changed := rt.Changed() // before Status, so no change is missed
		if cond(rt.Status()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("not reached within %s", timeout)
		case <-changed:
		}
	}
}
