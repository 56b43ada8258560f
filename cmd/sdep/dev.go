//go:build !nodev

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// devClusterFlags are sdep dev cluster's flags.
type devClusterFlags struct {
	binDir, dir, configDir string
	metrics                string
	runOperator            bool
	executorImage          string
}

func init() {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Developer tools",
	}
	f := devClusterFlags{}
	cluster := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local Kubernetes control plane (no Docker) with the operator, until Ctrl-C",
		Long: `Cluster starts etcd, kube-apiserver, kube-controller-manager (deployment,
replicaset, HPA and garbage-collector controllers), kube-scheduler, kwok
with one fake node (pods become Running without a kubelet) and a
metrics.k8s.io API, installs the SeldonDeployment CRD and runs the operator
and its webhook in this process. It prints the path of an admin kubeconfig
and runs until interrupted, then stops every process.

Pods report the CPU in their kwok.x-k8s.io/usage-cpu annotation (none: 0
with --metrics=fake, 1m with --metrics=metrics-server), so an HPA scales on
what you write there:

  kubectl annotate pods -l seldon-deployment-id=seldon-model kwok.x-k8s.io/usage-cpu=1 --overwrite

The binaries come from hack/control-plane.sh all.`,
		Example: "  sdep dev cluster\n" +
			"  export KUBECONFIG=<printed path>; kubectl apply -f examples/seed-hpaspecs.json; kubectl get sdep,deploy,hpa -w",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDevCluster(cmd, f) },
	}
	fl := cluster.Flags()
	fl.StringVar(&f.binDir, "bin-dir", "", "folder with the control-plane binaries (default: $KUBEBUILDER_ASSETS, else bin/control-plane/current here or in the nearest folder above)")
	fl.StringVar(&f.dir, "dir", "", "folder for the kubeconfig and the processes' logs (default: a temporary folder removed on exit)")
	fl.StringVar(&f.configDir, "config-dir", "config", "the repository's config folder (the CRD and webhook manifests)")
	fl.StringVar(&f.metrics, "metrics", string(devcluster.MetricsFake), "metrics.k8s.io server: fake (in this process), metrics-server or none")
	fl.BoolVar(&f.runOperator, "operator", true, "run the operator and its webhook in this process")
	fl.StringVar(&f.executorImage, "executor-image", resources.DefaultOptions().ExecutorImage, "image of the executor container the operator injects")
	dev.AddCommand(cluster)
	addCommand(dev)
}

func runDevCluster(cmd *cobra.Command, f devClusterFlags) error {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := devcluster.Options{
		BinDir:  f.binDir,
		Dir:     f.dir,
		Metrics: devcluster.MetricsMode(f.metrics),
		Log:     cmd.ErrOrStderr(),
	}
	if opts.BinDir == "" {
		dir, err := testenv.BinDir()
		if err != nil {
			return err
		}
		opts.BinDir = dir
	}
	abs, err := filepath.Abs(opts.BinDir)
	if err != nil {
		return err
	}
	opts.BinDir = abs
	if f.dir != "" {
		if err := os.MkdirAll(f.dir, 0o755); err != nil {
			return err
		}
	}
	if f.runOperator {
		crds := filepath.Join(f.configDir, "crd", "bases")
		if _, err := os.Stat(crds); err != nil {
			return fmt.Errorf("--operator needs the CRD: %w (run from the repository, or set --config-dir)", err)
		}
		opts.CRDDirectoryPaths = []string{crds}
		opts.WebhookPaths = []string{filepath.Join(f.configDir, "webhook", "manifests.yaml")}
	}

	c, err := devcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		begin := time.Now()
		if err := c.Stop(); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "stopping:", err)
			return
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "stopped in %s\n", time.Since(begin).Round(10*time.Millisecond))
	}()

	var op *testenv.Operator
	var operatorDone <-chan struct{} // stays nil without the operator
	if f.runOperator {
		if op, err = testenv.StartOperator(c.Config, testenv.OperatorOptions{
			Webhook:       &c.Env.WebhookInstallOptions,
			ExecutorImage: f.executorImage,
		}); err != nil {
			return fmt.Errorf("starting the operator: %w", err)
		}
		operatorDone = op.Done()
	}

	fmt.Fprintf(cmd.OutOrStdout(), "kubeconfig: %s\n\n  export KUBECONFIG=%s\n  kubectl get sdep,deploy,hpa -w\n\nCtrl-C stops the cluster.\n",
		c.Kubeconfig, c.Kubeconfig)
	select {
	case <-ctx.Done():
		if op != nil {
			return op.Stop()
		}
		return nil
	case <-operatorDone:
		if err := op.Err(); err != nil {
			return fmt.Errorf("operator stopped: %w", err)
		}
		return errors.New("operator stopped")
	}
}
