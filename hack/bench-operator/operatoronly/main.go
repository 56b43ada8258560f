// Command operatoronly is `sdep operator` in a binary that holds the
// operator and nothing else (no executor, dev cluster or other commands),
// for measuring what the sdep binary's size costs the operator's memory:
//
//	go build -o /tmp/operatoronly ./hack/bench-operator/operatoronly
//	make bench-operator BENCH_FLAGS='-sdep /tmp/operatoronly'
//
// It takes the flags bench-operator passes (its first argument,
// "operator", is skipped) with the defaults of `sdep operator`.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/resources"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "operatoronly:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := operator.Options{Resources: resources.DefaultOptions()}
	fs := flag.NewFlagSet("operator", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file")
	qps := fs.Float64("kube-api-qps", 100, "requests per second to the API server")
	burst := fs.Int("kube-api-burst", 200, "burst above --kube-api-qps")
	fs.IntVar(&opts.Controller.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "SeldonDeployments reconciled in parallel")
	fs.BoolVar(&opts.Webhook, "webhook", true, "serve the validating webhook")
	fs.StringVar(&opts.WatchNamespace, "watch-namespace", "", "namespace to watch")
	fs.StringVar(&opts.Resources.ExecutorImage, "executor-image", "", "executor image")
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "metrics address")
	fs.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":8081", "health address")
	fs.StringVar(&opts.PprofAddr, "pprof-bind-address", "", "pprof address")
	fs.BoolVar(&opts.KeepStartPages, "keep-start-pages", false, "keep the start-up pages resident")
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "operator" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New())
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	opts.Resources.ExecutorResources = nil
	return operator.Run(ctrl.SetupSignalHandler(), cfg, opts)
}
