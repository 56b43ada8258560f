package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/load"
	"github.com/sdep-dev/sdep/internal/local"
)

func init() {
	var (
		f           serveFlags
		concurrency int
		trickleRate int
		hold        time.Duration
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Serve the seed, load it until it scales 1→4, trickle until it returns to 1, plot it",
		Long: `Demo is the worked example in one command: it serves FILE (the seed by default)
as sdep serve does, with a short sync period and downscale stabilization; sends
closed-loop load until the autoscaled component reaches its maxReplicas; then a
trickle of requests until it is back to minReplicas; and writes the decisions
and a plot of replicas and CPU over time to --report-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SIGHUP too: a closed terminal must stop the replicas, which
			// are in their own process groups and do not get it.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			// Where the kernel does not kill replicas with sdep (not
			// Linux), kill any left if serving ends in a panic.
			defer local.KillReplicas()
			return runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f, demoLoad{concurrency, trickleRate, hold, timeout})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "filename", "f", "examples/seed-hpaspecs.json", "the SeldonDeployment to serve (one autoscaled component)")
	fl.IntVar(&f.httpPort, "http-port", 8000, "executor REST port")
	fl.IntVar(&f.grpcPort, "grpc-port", 5001, "executor gRPC port")
	fl.IntVar(&f.statusPort, "status-port", 8001, "port of the JSON status (GET /status)")
	fl.DurationVar(&f.syncPeriod, "sync-period", 2*time.Second, "how often the autoscaler decides")
	fl.DurationVar(&f.downscaleStabilization, "downscale-stabilization", 15*time.Second, "scale-down stabilization window")
	fl.StringVar(&f.reportDir, "report-dir", "sdep-demo", "where to write the decisions and the plot")
	fl.IntVarP(&concurrency, "concurrency", "c", 8, "workers of the heavy load")
	fl.IntVar(&trickleRate, "trickle-rate", 5, "requests per second once the load drops")
	fl.DurationVar(&hold, "hold", 10*time.Second, "keep the heavy load on this long at maxReplicas")
	fl.DurationVar(&timeout, "timeout", 3*time.Minute, "give up on each phase after this long")
	addCommand(cmd)
}

// demoLoad shapes the demo's load.
type demoLoad struct {
	concurrency, trickleRate int
	hold, timeout            time.Duration
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, f serveFlags, dl demoLoad) error {
	rt, _, err := newRuntime(stderr, os.Stdin, f, io.Discard)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	// If serving fails (a port in use), the phases stop at once.
	phaseCtx, stopPhases := context.WithCancel(ctx)
	defer stopPhases()
	runDone := make(chan error, 1)
	go func() {
		err := rt.Run(runCtx)
		stopPhases()
		runDone <- err
	}()
	tableCtx, stopTable := context.WithCancel(phaseCtx)
	tableDone := make(chan struct{})
	go func() {
		defer close(tableDone)
		printTableOnChange(tableCtx, stdout, rt)
	}()

	phaseErr := demoPhases(phaseCtx, stdout, rt, dl)
	stopTable()
	<-tableDone
	stopRun()
	runErr := <-runDone
	files, reportErr := rt.WriteReport(f.reportDir)
	if reportErr == nil {
		fmt.Fprintf(stdout, "\nreport: %s\n", strings.Join(files, ", "))
	}
	if runErr != nil {
		return errors.Join(runErr, reportErr) // the phases only stopped because of it
	}
	return errors.Join(phaseErr, reportErr)
}

// demoPhases drives the load: heavy until maxReplicas, then a trickle until
// minReplicas.
func demoPhases(ctx context.Context, w io.Writer, rt *local.Runtime, dl demoLoad) error {
	concurrency, trickleRate, timeout := dl.concurrency, dl.trickleRate, dl.timeout
	var scaled *local.ComponentStatus
	if err := waitStatus(ctx, rt, timeout, func(st local.Status) bool {
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
	component := func(st local.Status) local.ComponentStatus {
		for _, c := range st.Components {
			if c.Deployment == scaled.Deployment {
				return c
			}
		}
		return local.ComponentStatus{}
	}
	target := "http://" + rt.Addrs()[0].HTTP + "/api/v1.0/predictions"

	fmt.Fprintf(w, "\n== heavy load (%d workers) until %s has %d replicas\n", concurrency, scaled.Component, scaled.MaxReplicas)
	start := time.Now()
	heavy, err := loadUntil(ctx, load.Options{Target: target, Concurrency: concurrency}, rt, timeout, dl.hold, func(st local.Status) bool {
		return component(st).Ready >= scaled.MaxReplicas
	})
	if err != nil {
		return fmt.Errorf("heavy load: %w", err)
	}
	up := time.Since(start) - dl.hold

	fmt.Fprintf(w, "\n== trickle (%d requests/s) until %s is back to %d\n", trickleRate, scaled.Component, scaled.MinReplicas)
	start = time.Now()
	trickle, err := loadUntil(ctx, load.Options{Target: target, Rate: trickleRate, Concurrency: 1}, rt, timeout, 2*time.Second, func(st local.Status) bool {
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
		scaled.MaxReplicas, up.Round(time.Second), dl.hold, heavy.Requests, heavy.Throughput, scaled.MinReplicas,
		down.Round(time.Second), trickle.Requests, failed)
	return nil
}

// loadUntil sends load until cond holds on the status, then for hold more,
// or until timeout.
func loadUntil(ctx context.Context, o load.Options, rt *local.Runtime, timeout, hold time.Duration, cond func(local.Status) bool) (load.Report, error) {
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
	waitErr := waitStatus(loadCtx, rt, timeout, cond)
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

// waitStatus waits until cond holds on the status, checking it at every
// change the runtime signals.
func waitStatus(ctx context.Context, rt *local.Runtime, timeout time.Duration, cond func(local.Status) bool) error {
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
