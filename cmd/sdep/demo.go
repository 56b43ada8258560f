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
			return runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f, local.DemoLoad{Concurrency: concurrency, TrickleRate: trickleRate, Hold: hold, Timeout: timeout})
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

func runDemo(ctx context.Context, stdout, stderr io.Writer, f serveFlags, dl local.DemoLoad) error {
	rt, _, err := newRuntime(ctx, stderr, os.Stdin, f, io.Discard)
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
		local.PrintTableOnChange(tableCtx, stdout, rt)
	}()

	phaseErr := local.Demo(phaseCtx, stdout, rt, dl)
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
