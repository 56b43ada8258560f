// Command bench-operator measures the operator at scale on a real
// kube-apiserver: it applies N copies of the seed SeldonDeployment and
// reports the time until every child object exists, reconciles per second,
// writes per reconcile once converged, and the operator's peak memory.
//
// The operator runs as its own process (`sdep operator`), so its memory is
// its own; its reconcile and write counts come from its /metrics. Only
// etcd and kube-apiserver run (no controllers or kubelet), which measures
// the operator, not Deployment roll-outs.
//
// Run from the repository root: `make bench-operator` (needs KUBEBUILDER_ASSETS).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/resources"
)

const namespace = "bench"

type config struct {
	n        int
	workers  int
	seed     string
	sdep     string
	timeout  time.Duration
	idle     time.Duration
	keepLogs bool
	// heapProfile, when set, is where the operator's heap profile at its
	// highest resident set size while converging is written.
	heapProfile string
	// qps, burst and concurrency are passed to the operator when set (its defaults otherwise).
	qps, burst, concurrency int
	// gogc and gomemlimit, when set, are the operator's GOGC and
	// GOMEMLIMIT (and only the operator's: not the API server's).
	gogc, gomemlimit string
	// keepStartPages passes --keep-start-pages: the binary's pages stay
	// resident after start (the figure before the operator gave them back).
	keepStartPages bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 1000, "SeldonDeployments to apply")
	flag.IntVar(&cfg.workers, "workers", 16, "concurrent creates")
	flag.StringVar(&cfg.seed, "seed", filepath.Join("examples", "seed-hpaspecs.json"), "the SeldonDeployment to copy")
	flag.StringVar(&cfg.sdep, "sdep", "", "sdep binary to run as the operator (default: go build ./cmd/sdep)")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up converging after this long")
	flag.DurationVar(&cfg.idle, "idle", 10*time.Second, "how long to watch the converged operator for writes")
	flag.IntVar(&cfg.qps, "kube-api-qps", 0, "the operator's --kube-api-qps (0: its default)")
	flag.IntVar(&cfg.burst, "kube-api-burst", 0, "the operator's --kube-api-burst (0: its default)")
	flag.IntVar(&cfg.concurrency, "max-concurrent-reconciles", 0, "the operator's --max-concurrent-reconciles (0: its default)")
	flag.StringVar(&cfg.heapProfile, "heap-profile", "", "write the operator's heap profile at its peak RSS while converging to this file (read it with go tool pprof -sample_index=inuse_space)")
	flag.StringVar(&cfg.gogc, "gogc", "", "the operator's GOGC (default: the operator's own, operator.DefaultGCPercent)")
	flag.BoolVar(&cfg.keepStartPages, "keep-start-pages", false, "run the operator with --keep-start-pages (its start-up pages stay resident)")
	flag.StringVar(&cfg.gomemlimit, "gomemlimit", "", "the operator's GOMEMLIMIT, e.g. 64MiB, as a soft limit derived from a container's limit would set it (default: none)")
	flag.BoolVar(&cfg.keepLogs, "keep-logs", false, "keep the operator's and control plane's logs (the folder is printed)")
	flag.Parse()
	// Ctrl-C must still stop etcd and kube-apiserver, which outlive a killed parent.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "sdep-bench-")
	if err != nil {
		return err
	}
	if cfg.keepLogs {
		fmt.Fprintln(os.Stderr, "logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if cfg.sdep == "" {
		cfg.sdep = filepath.Join(dir, "sdep")
		build := exec.Command("go", "build", "-o", cfg.sdep, "./cmd/sdep")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building sdep: %w", err)
		}
	}
	seed, err := readSeed(cfg.seed)
	if err != nil {
		return err
	}
	built, err := resources.Build(seed, resources.DefaultOptions())
	if err != nil {
		return err
	}
	perSDep := childCounts{len(built.Deployments), len(built.Services), len(built.HPAs)}

	cluster, err := devcluster.Start(ctx, devcluster.Options{
		APIServerOnly:     true,
		Dir:               dir,
		CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")},
		Log:               os.Stderr,
	})
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Stop() }()
	// The benchmark's own client must not be what limits the rate.
	benchConfig := rest.CopyConfig(cluster.Config)
	benchConfig.QPS, benchConfig.Burst = 1000, 2000
	c, err := client.New(benchConfig, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}

	// Phase 1: an operator watching an empty namespace; N SeldonDeployments arrive.
	op, err := startOperator(cfg, cluster.Kubeconfig, filepath.Join(dir, "operator-1.log"))
	if err != nil {
		return err
	}
	var profiler *peakProfiler
	if cfg.heapProfile != "" {
		profiler = startPeakProfiler(op, cfg.heapProfile)
	}
	start := time.Now()
	if err := createCopies(ctx, c, seed, cfg.n, cfg.workers); err != nil {
		op.stop()
		return err
	}
	created := time.Since(start)
	want := childCounts{perSDep.deployments * cfg.n, perSDep.services * cfg.n, perSDep.hpas * cfg.n}
	if err := waitConverged(ctx, c, cfg.n, want, cfg.timeout); err != nil {
		op.stop()
		return err
	}
	converged := time.Since(start)
	atConvergence, err := op.scrape()
	if err != nil {
		op.stop()
		return err
	}
	// Events are sent asynchronously and may trail the last reconcile.
	settled, err := waitQuiet(ctx, op, cfg.timeout)
	if err != nil {
		op.stop()
		return err
	}
	settleTime := time.Since(start)
	select { // a measurement window, not a wait for a condition
	case <-ctx.Done():
		op.stop()
		return ctx.Err()
	case <-time.After(cfg.idle):
	}
	afterIdle, err := op.scrape()
	if err != nil {
		op.stop()
		return err
	}
	peak1, file1 := op.peakRSS(), op.procStatus("RssFile:")
	if profiler != nil {
		at, err := profiler.stop()
		if err != nil {
			op.stop()
			return fmt.Errorf("heap profile: %w", err)
		}
		fmt.Fprintf(os.Stderr, "heap profile at %.1f MiB RSS (%.1f MiB anonymous, %.1f MiB file-backed) written to %s (MemStats in %[4]s.txt)\n",
			mib(at.rss), mib(at.anon), mib(at.file), cfg.heapProfile)
	}
	op.stop()

	// Phase 2: a fresh operator finds everything in place: each reconcile should write nothing.
	op2, err := startOperator(cfg, cluster.Kubeconfig, filepath.Join(dir, "operator-2.log"))
	if err != nil {
		return err
	}
	resyncStart := time.Now()
	resync, err := waitReconciled(ctx, op2, cfg.n, cfg.timeout)
	resyncTime := time.Since(resyncStart)
	peak2 := op2.peakRSS()
	op2.stop()
	if err != nil {
		return err
	}

	limits := "the operator's default API rate limits"
	if cfg.qps > 0 || cfg.burst > 0 || cfg.concurrency > 0 {
		limits = fmt.Sprintf("--kube-api-qps=%d --kube-api-burst=%d --max-concurrent-reconciles=%d (0: default)", cfg.qps, cfg.burst, cfg.concurrency)
	}
	if cfg.gogc != "" || cfg.gomemlimit != "" {
		limits += fmt.Sprintf(", GOGC=%q GOMEMLIMIT=%q", cfg.gogc, cfg.gomemlimit)
	}
	if cfg.keepStartPages {
		limits += ", --keep-start-pages"
	}
	fmt.Printf("sdep operator benchmark: %d SeldonDeployments (%s), each %d Deployment, %d Services, %d HPA; %s\n\n",
		cfg.n, cfg.seed, perSDep.deployments, perSDep.services, perSDep.hpas, limits)
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| time to create the %d SeldonDeployments | %.1f s |\n", cfg.n, created.Seconds())
	fmt.Printf("| time until every child exists and every status is written | %.1f s |\n", converged.Seconds())
	fmt.Printf("| reconciles until then | %.0f (%.0f/s) |\n", atConvergence.reconciles, atConvergence.reconciles/converged.Seconds())
	fmt.Printf("| writes until then | %.0f (%.2f per SeldonDeployment) |\n", atConvergence.writes, atConvergence.writes/float64(cfg.n))
	fmt.Printf("| after that until quiet for 2 s (at %.1f s): reconciles, writes | %.0f, %.0f |\n", settleTime.Seconds(), settled.reconciles-atConvergence.reconciles, settled.writes-atConvergence.writes)
	fmt.Printf("| then %s idle: reconciles, writes | %.0f, %.0f |\n", cfg.idle, afterIdle.reconciles-settled.reconciles, afterIdle.writes-settled.writes)
	fmt.Printf("| fresh operator over converged state: reconciles, writes | %.0f, %.0f (%.3f writes per reconcile) in %.1f s (%.0f reconciles/s) |\n",
		resync.reconciles, resync.writes, resync.writes/max(resync.reconciles, 1), resyncTime.Seconds(), resync.reconciles/resyncTime.Seconds())
	fmt.Printf("| operator peak RSS (VmHWM): converging, resync | %.1f MiB, %.1f MiB |\n", mib(peak1), mib(peak2))
	fmt.Printf("| of which file-backed (the binary's pages; RssFile once converged) | %.1f MiB |\n", mib(file1))
	return nil
}

type childCounts struct{ deployments, services, hpas int }

func readSeed(path string) (*sdepv1.SeldonDeployment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs, err := decode.Documents(path, data)
	if err != nil {
		return nil, err
	}
	return docs[0].Object, nil
}

func createCopies(ctx context.Context, c client.Client, seed *sdepv1.SeldonDeployment, n, workers int) error {
	names := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				sd := seed.DeepCopy()
				sd.Name = fmt.Sprintf("%s-%04d", seed.Name, i)
				sd.Namespace = namespace
				if err := c.Create(ctx, sd); err != nil {
					errs <- fmt.Errorf("creating %s: %w", sd.Name, err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case names <- i:
		case err = <-errs:
			break feed
		}
	}
	close(names)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// waitConverged polls until the namespace holds every child and every
// SeldonDeployment's status has observed its generation.
func waitConverged(ctx context.Context, c client.Client, n int, want childCounts, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, observed, err := countChildren(ctx, c)
		if err == nil && got.deployments >= want.deployments && got.services >= want.services && got.hpas >= want.hpas && observed >= n {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not converged after %s: have %+v of %+v, %d of %d statuses written : %w", timeout, got, want, observed, n, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func countChildren(ctx context.Context, c client.Client) (childCounts, int, error) {
	var got childCounts
	opts := []client.ListOption{client.InNamespace(namespace)}
	var deployments, services, hpas metav1.PartialObjectMetadataList
	deployments.SetGroupVersionKind(gvk("apps", "v1", "DeploymentList"))
	services.SetGroupVersionKind(gvk("", "v1", "ServiceList"))
	hpas.SetGroupVersionKind(gvk("autoscaling", "v2", "HorizontalPodAutoscalerList"))
	for _, l := range []*metav1.PartialObjectMetadataList{&deployments, &services, &hpas} {
		if err := c.List(ctx, l, opts...); err != nil {
			return got, 0, err
		}
	}
	got = childCounts{len(deployments.Items), len(services.Items), len(hpas.Items)}
	var sds sdepv1.SeldonDeploymentList
	if err := c.List(ctx, &sds, opts...); err != nil {
		return got, 0, err
	}
	observed := 0
	for _, sd := range sds.Items {
		if sd.Status.ObservedGeneration == sd.Generation && sd.Status.State != "" {
			observed++
		}
	}
	return got, observed, nil
}

// waitQuiet waits until neither count has changed for two seconds.
func waitQuiet(ctx context.Context, op *operatorProcess, timeout time.Duration) (counts, error) {
	return waitReconciled(ctx, op, 0, timeout)
}

// waitReconciled waits until the operator has reconciled at least n times
// and then stays quiet (no reconcile, no write) for two seconds.
func waitReconciled(ctx context.Context, op *operatorProcess, n int, timeout time.Duration) (counts, error) {
	deadline := time.Now().Add(timeout)
	var last counts
	quietSince := time.Now()
	for {
		now, err := op.scrape()
		if err == nil {
			if now != last {
				last, quietSince = now, time.Now()
			} else if now.reconciles >= float64(n) && time.Since(quietSince) >= 2*time.Second {
				return now, nil
			}
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("the operator made %.0f reconciles (want %d) and was still busy after %s: %w", last.reconciles, n, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// operatorProcess is `sdep operator` running against the cluster.
type operatorProcess struct {
	cmd        *exec.Cmd
	metricsURL string
	// pprofURL is the operator's /debug/pprof/ (empty: not served).
	pprofURL string
	done     chan struct{}
}

func startOperator(cfg config, kubeconfig, logPath string) (*operatorProcess, error) {
	port, err := devcluster.FreePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"operator", "--kubeconfig", kubeconfig, "--webhook=false",
		"--watch-namespace", namespace, "--executor-image", "sdep:bench",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0"}
	if cfg.qps > 0 {
		args = append(args, fmt.Sprintf("--kube-api-qps=%d", cfg.qps))
	}
	if cfg.burst > 0 {
		args = append(args, fmt.Sprintf("--kube-api-burst=%d", cfg.burst))
	}
	if cfg.concurrency > 0 {
		args = append(args, fmt.Sprintf("--max-concurrent-reconciles=%d", cfg.concurrency))
	}
	if cfg.keepStartPages {
		args = append(args, "--keep-start-pages")
	}
	pprofURL := ""
	if cfg.heapProfile != "" {
		pprofPort, err := devcluster.FreePort()
		if err != nil {
			return nil, err
		}
		args = append(args, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPort))
		pprofURL = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", pprofPort)
	}
	cmd := exec.Command(cfg.sdep, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = os.Environ()
	if cfg.heapProfile != "" {
		// Go's default samples one allocation per 512 KiB, too coarse to
		// tell a few MiB apart in a heap of tens; this costs some CPU.
		godebug := "memprofilerate=8192"
		if v := os.Getenv("GODEBUG"); v != "" {
			godebug = v + "," + godebug
		}
		cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
	}
	if cfg.gogc != "" {
		cmd.Env = append(cmd.Env, "GOGC="+cfg.gogc)
	}
	if cfg.gomemlimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+cfg.gomemlimit)
	}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, err
	}
	op := &operatorProcess{cmd: cmd, metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", port), pprofURL: pprofURL, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = log.Close(); close(op.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := op.scrape(); err == nil {
			return op, nil
		} else if time.Now().After(deadline) {
			op.stop()
			return nil, fmt.Errorf("the operator's metrics did not answer within 30s (see %s): %w", logPath, err)
		}
		select {
		case <-op.done:
			return nil, fmt.Errorf("the operator exited; see %s", logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (op *operatorProcess) stop() {
	_ = op.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-op.done:
	case <-time.After(30 * time.Second):
		_ = op.cmd.Process.Kill()
		<-op.done
	}
}

// peakRSS is the process's peak resident set size in bytes (Linux).
func (op *operatorProcess) peakRSS() float64 { return op.procStatus("VmHWM:") }

// rss is the process's resident set size in bytes now (Linux).
func (op *operatorProcess) rss() float64 { return op.procStatus("VmRSS:") }

func (op *operatorProcess) procStatus(field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", op.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

// peakProfiler samples the operator's RSS twice a second and, each time it
// reaches a new high, saves the operator's heap profile, so the file left
// at the end is the one taken closest to the peak.
type peakProfiler struct {
	done chan struct{}
	// result is sent once, after done is closed.
	result chan peakResult
}

type peakResult struct {
	rss float64
	// anon and file split rss: the heap and the runtime's memory, and the
	// pages of the executable (and other files) mapped in.
	anon, file float64
	err        error
}

func startPeakProfiler(op *operatorProcess, path string) *peakProfiler {
	p := &peakProfiler{done: make(chan struct{}), result: make(chan peakResult, 1)}
	go func() {
		var best peakResult
		best.err = errors.New("no profile taken")
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				p.result <- best
				return
			case <-tick.C:
			}
			rss := op.rss()
			// Ignore small rises: each fetch costs the operator some CPU.
			if rss < best.rss*1.02 {
				continue
			}
			if err := fetchTo(op.pprofURL+"heap", path); err != nil {
				best.err = err
				continue
			}
			// The text form ends with the runtime's MemStats: heap against RSS.
			if err := fetchTo(op.pprofURL+"heap?debug=1", path+".txt"); err != nil {
				best.err = err
				continue
			}
			best = peakResult{rss: rss, anon: op.procStatus("RssAnon:"), file: op.procStatus("RssFile:")}
		}
	}()
	return p
}

// stop ends the sampling and returns the RSS at which the kept profile was taken.
func (p *peakProfiler) stop() (peakResult, error) {
	close(p.done)
	r := <-p.result
	return r, r.err
}

func fetchTo(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

type counts struct{ reconciles, writes float64 }

// scrape reads the reconciles of the SeldonDeployment controller and the
// API requests that change something (anything but GET) from /metrics.
func (op *operatorProcess) scrape() (counts, error) {
	resp, err := http.Get(op.metricsURL)
	if err != nil {
		return counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counts{}, fmt.Errorf("GET %s: %s", op.metricsURL, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (counts, error) {
	var c counts
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "controller_runtime_reconcile_total":
			if strings.Contains(labels, `controller="`+controller.Name+`"`) {
				c.reconciles += v
				found = true
			}
		case "rest_client_requests_total":
			if !strings.Contains(labels, `method="GET"`) {
				c.writes += v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !found {
		return c, errors.New("no controller_runtime_reconcile_total for the SeldonDeployment controller yet")
	}
	return c, nil
}

func mib(b float64) float64 { return b / (1 << 20) }

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}
