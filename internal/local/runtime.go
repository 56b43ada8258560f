// Package local is sdep's single-machine runtime (`sdep serve`): it runs a
// SeldonDeployment's components as local processes, one executor per
// predictor inside the sdep process, and autoscales each component with the
// Kubernetes HPA algorithm (internal/autoscale) on the CPU its processes
// use.
//
// It realises the objects the shared builders make (internal/resources),
// never its own reading of the document: each Deployment's pod template
// gives the containers, their environment, ports and CPU requests; each
// HorizontalPodAutoscaler's spec drives internal/autoscale.Decide as is.
//
// How it differs from a cluster: the executor is shared by every replica
// rather than a container in each of componentSpecs[0]'s pods, so its CPU
// and its request are not part of any replica's utilisation; every replica
// gets its own free localhost ports, put into the env vars the operator
// sets (PREDICTIVE_UNIT_HTTP_SERVICE_PORT and the like); readiness is a TCP
// connect to the REST port, as the builders' readiness probe.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/resources"
)

// Options configure a Runtime.
type Options struct {
	// Host is the address the executors and the status server listen on
	// (default 127.0.0.1).
	Host string
	// HTTPPort and GRPCPort are the SeldonDeployment's front ports: they
	// split requests across the predictors by traffic and mirror them to
	// the shadow. Each predictor also serves on ports of its own (see
	// directPorts). 0 picks free ports.
	HTTPPort, GRPCPort int
	// TrafficSeed seeds the traffic split's random choice; 0 seeds it at
	// random.
	TrafficSeed uint64
	// StatusPort serves the JSON status (GET /status); 0 picks a free port,
	// -1 disables it.
	StatusPort int
	// SyncPeriod is how often every autoscaler decides (default 15 s).
	SyncPeriod time.Duration
	// Autoscale holds the controller-wide HPA settings.
	Autoscale autoscale.Config
	// ScaleToZeroIdle is how long a component with minReplicas 0 stays
	// idle at one replica before that replica is stopped (default
	// DefaultScaleToZeroIdle).
	ScaleToZeroIdle time.Duration
	// Log receives one line per event (decisions, restarts); default stderr.
	Log io.Writer
	// ChildOutput receives the replicas' output, each line prefixed with
	// its replica; default stderr.
	ChildOutput io.Writer
	// Clock is the time source; default the wall clock.
	Clock Clock
	// CPU reads replica processes' CPU time; default CPUSeconds (the
	// operating system's accounting).
	CPU CPUSampler
	// Starter starts replica processes; default child processes of sdep.
	Starter ProcessStarter
}

// Runtime runs one Plan.
type Runtime struct {
	plan  *Plan
	opts  Options
	outMu sync.Mutex

	mu         sync.Mutex
	executors  []*executor.Executor
	addrs      []PredictorAddrs
	front      *front
	statusAddr string
	components []*component
	decisions  []DecisionRecord
	samples    []Sample
	// changed is closed, and replaced, whenever the state Status reports
	// changes; see Changed.
	changed chan struct{}
	// cpuUnavailable is set once the sampler has said it cannot read CPU
	// on this system (logged once).
	cpuUnavailable bool
	wg             sync.WaitGroup
}

// PredictorAddrs are where a predictor's executor listens for direct
// calls (its own ports, not the front).
type PredictorAddrs struct {
	Predictor string `json:"predictor"`
	HTTP      string `json:"http"`
	GRPC      string `json:"grpc"`
}

// FrontAddrs are where the SeldonDeployment's front ports listen.
type FrontAddrs struct {
	HTTP string `json:"http"`
	GRPC string `json:"grpc"`
}

// component is one Deployment being realised.
type component struct {
	rt         *Runtime
	name       string // componentSpec name
	deployment string // Deployment name
	predictor  int

	// plan is replaced by Apply; guarded by rt.mu.
	plan *ComponentPlan

	// Guarded by rt.mu.
	desired     int32
	replicas    []*replica // live, in creation order
	terminating []*replica
	nextID      int
	state       autoscale.State
	// rollGeneration identifies the latest rolling replacement; stopped is
	// set when the runtime shuts down.
	rollGeneration int
	stopped        bool
	last           *autoscale.Decision
	utilization    float64 // latest average CPU utilisation, -1 if unknown
	// For minReplicas 0 (zero.go): since when the component has been idle
	// at one replica, when it was last woken from zero (zero once its
	// replica is Ready), and each wake-up's time to a Ready replica.
	idleSince  time.Time
	wokeAt     time.Time
	coldStarts []time.Duration
}

func (c *component) label() string {
	return fmt.Sprintf("%s (%s)", c.name, c.deployment)
}

// New prepares a Runtime; Run starts it.
func New(plan *Plan, opts Options) (*Runtime, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.SyncPeriod <= 0 {
		opts.SyncPeriod = 15 * time.Second
	}
	if opts.ScaleToZeroIdle <= 0 {
		opts.ScaleToZeroIdle = DefaultScaleToZeroIdle
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.ChildOutput == nil {
		opts.ChildOutput = os.Stderr
	}
	if opts.Clock == nil {
		opts.Clock = wallClock{}
	}
	if opts.CPU == nil {
		opts.CPU = CPUSamplerFunc(CPUSeconds)
	}
	if opts.Starter == nil {
		opts.Starter = execStarter{}
	}
	rt := &Runtime{plan: plan, opts: opts, changed: make(chan struct{})}
	for i, p := range plan.Predictors {
		ex, err := executor.New(p.Spec, executor.WithEmptyEndpointSets(),
			executor.WithDeploymentName(plan.SeldonDeployment.Name),
			executor.WithNamespace(plan.SeldonDeployment.Namespace),
			executor.WithProtocol(string(plan.SeldonDeployment.Spec.Protocol)))
		if err != nil {
			return nil, fmt.Errorf("spec.predictors[%d] (%s): executor: %w", i, p.Spec.Name, err)
		}
		rt.executors = append(rt.executors, ex)
		for _, cp := range p.Components {
			rt.components = append(rt.components, &component{rt: rt, name: cp.Name, deployment: cp.Deployment,
				plan: cp, predictor: i, utilization: -1})
		}
	}
	return rt, nil
}

func (rt *Runtime) now() time.Time { return rt.opts.Clock.Now() }

// Changed returns a channel that is closed at the next change of what
// Status reports: a replica started, ready, not ready or gone, a scaling
// decision, a sync, the executors listening. Take it, read Status, and
// wait on it for the next change, instead of polling.
func (rt *Runtime) Changed() <-chan struct{} {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.changed
}

// notifyLocked wakes everyone waiting on Changed, after the traffic split
// has followed the change.
func (rt *Runtime) notifyLocked() {
	if rt.front != nil {
		rt.front.updateLocked()
	}
	close(rt.changed)
	rt.changed = make(chan struct{})
}

func (rt *Runtime) endpointSet(predictor int, node string) (*executor.EndpointSet, bool) {
	return rt.executors[predictor].EndpointSet(node)
}

// Run serves until ctx is cancelled, then drains and stops every replica.
// It returns once everything has stopped.
func (rt *Runtime) Run(ctx context.Context) error {
	// --endpoint servers first, so that the executors answer from the
	// moment they listen.
	if err := rt.addExternal(); err != nil {
		return err
	}
	servers, err := rt.listen()
	if err != nil {
		return err
	}
	actx, stopActivation := context.WithCancel(context.Background())
	activated := make(chan struct{})
	go func() {
		defer close(activated)
		rt.activate(actx)
	}()
	stop := func() error {
		stopActivation()
		<-activated
		err := servers.stop()
		rt.stopAll()
		for _, ex := range rt.executors {
			ex.Close()
		}
		return err
	}
	// The sync schedule starts now, before the first replicas: a clock that
	// moved on while they started (a test's clock does) is caught up at once
	// instead of pushing every sync back by the startup time.
	start := rt.now()
	if err := rt.startComponents(); err != nil {
		return errors.Join(err, stop())
	}
	fa := rt.FrontAddrs()
	rt.eventf("%s: REST on http://%s (also under %s/), gRPC on %s", rt.plan.SeldonDeployment.Name, fa.HTTP, rt.front.prefix, fa.GRPC)
	for _, a := range rt.Addrs() {
		rt.eventf("predictor %s (direct): REST on http://%s, gRPC on %s", a.Predictor, a.HTTP, a.GRPC)
	}
	rt.mu.Lock()
	rt.eventfLocked("traffic: %s", rt.front.split.Load().describe(rt.planSpecsLocked()))
	rt.mu.Unlock()
	if addr := rt.StatusAddr(); addr != "" {
		rt.eventf("status on http://%s/status", addr)
	}

	// A sync every period on the clock; like a time.Ticker, a sync that
	// overran its period drops the ticks it missed.
	period := rt.opts.SyncPeriod
	next := start.Add(period)
	for {
		select {
		case <-ctx.Done():
			return stop()
		case <-rt.opts.Clock.After(next.Sub(rt.now())):
			rt.sync()
			next = next.Add(period)
			if now := rt.now(); !next.After(now) {
				next = now.Add(period)
			}
		}
	}
}

// startComponents starts each component's first replicas.
func (rt *Runtime) startComponents() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, c := range rt.components {
		if c.plan.Scaled() {
			if err := c.scaleToLocked(c.plan.Replicas); err != nil {
				return err
			}
			if c.plan.ScaleToZero {
				rt.eventf("%s: minReplicas 0: scaled to zero; a request starts a replica, %s idle stops the last one",
					c.label(), rt.opts.ScaleToZeroIdle)
			}
		} else if c.plan.HPA != nil {
			rt.eventf("%s: every container is an --endpoint server: its hpaSpec is not acted on", c.label())
		}
		if c.plan.KEDA {
			rt.eventf("%s: kedaSpec is not acted on locally; the component keeps %d replica(s)", c.label(), c.plan.Replicas)
		}
	}
	return nil
}

// servers are the executors' Serve calls and the status server.
type servers struct {
	front  *front
	cancel context.CancelFunc
	served []chan error // one per executor's Serve
	status *http.Server
}

// stop stops accepting, lets in-flight requests finish (within
// serverGrace) and waits for the servers to return; it returns what the
// executors' Serve calls reported (a failed graceful shutdown, a listener
// that broke while serving).
func (s *servers) stop() error {
	if s.front != nil {
		s.front.stop(serverGrace)
	}
	s.cancel()
	var errs []error
	for _, done := range s.served {
		errs = append(errs, <-done)
	}
	if s.status != nil {
		ctx, cancel := context.WithTimeout(context.Background(), serverGrace)
		defer cancel()
		_ = s.status.Shutdown(ctx)
	}
	return errors.Join(errs...)
}

// serverGrace bounds how long in-flight requests to the executors and the
// status server may take once sdep serve stops.
const serverGrace = 30 * time.Second

// listen starts each predictor's executor with executor.Serve, the way
// `sdep executor` starts it in a pod, and the status server.
func (rt *Runtime) listen() (*servers, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &servers{cancel: cancel}
	fail := func(err error) (*servers, error) {
		return nil, errors.Join(err, s.stop())
	}
	restPorts, grpcPorts, err := directPorts(rt.opts.HTTPPort, rt.opts.GRPCPort, rt.opts.StatusPort, len(rt.executors))
	if err != nil {
		return fail(err)
	}
	port := func(p int) string { return net.JoinHostPort(rt.opts.Host, strconv.Itoa(p)) }
	for i, ex := range rt.executors {
		type addrs struct{ http, grpc net.Addr }
		ready := make(chan addrs, 1)
		done := make(chan error, 1)
		go func() {
			done <- ex.Serve(ctx, executor.ServeOptions{
				HTTPAddr: port(restPorts[i]), GRPCAddr: port(grpcPorts[i]),
				MetricsPath: resources.MetricsPath, GracePeriod: serverGrace, Log: logr.Discard(),
				Ready: func(h, g net.Addr) { ready <- addrs{h, g} },
			})
		}()
		select {
		case a := <-ready:
			s.served = append(s.served, done)
			rt.mu.Lock()
			rt.addrs = append(rt.addrs, PredictorAddrs{Predictor: rt.plan.Predictors[i].Spec.Name,
				HTTP: a.http.String(), GRPC: a.grpc.String()})
			rt.notifyLocked()
			rt.mu.Unlock()
		case err := <-done:
			if err == nil {
				err = errors.New("stopped before listening")
			}
			return fail(fmt.Errorf("predictor %s: its own ports (REST %d, gRPC %d; moved with sdep serve --http-port, --grpc-port): %w",
				rt.plan.Predictors[i].Spec.Name, restPorts[i], grpcPorts[i], err))
		}
	}
	f := newFront(rt)
	if err := f.start(rt.opts.Host, rt.opts.HTTPPort, rt.opts.GRPCPort, rt.Addrs()); err != nil {
		f.stop(0)
		return fail(err)
	}
	s.front = f
	rt.mu.Lock()
	rt.front = f
	rt.notifyLocked()
	rt.mu.Unlock()
	if rt.opts.StatusPort >= 0 {
		sl, err := net.Listen("tcp", net.JoinHostPort(rt.opts.Host, strconv.Itoa(rt.opts.StatusPort)))
		if err != nil {
			return fail(fmt.Errorf("status port (sdep serve --status-port): %w", err))
		}
		s.status = executor.NewHTTPServer(rt.StatusHandler())
		go func() { _ = s.status.Serve(sl) }()
		rt.mu.Lock()
		rt.statusAddr = sl.Addr().String()
		rt.notifyLocked()
		rt.mu.Unlock()
	}
	return s, nil
}

// Addrs lists where each predictor's executor listens (once Run has
// started them).
func (rt *Runtime) Addrs() []PredictorAddrs {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]PredictorAddrs(nil), rt.addrs...)
}

// FrontAddrs is where the front ports listen (once Run has started them).
func (rt *Runtime) FrontAddrs() FrontAddrs {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.front == nil {
		return FrontAddrs{}
	}
	return FrontAddrs{HTTP: rt.front.httpAddr, GRPC: rt.front.grpcAddr}
}

func (rt *Runtime) planSpecsLocked() []sdepv1.PredictorSpec {
	specs := make([]sdepv1.PredictorSpec, len(rt.plan.Predictors))
	for i := range rt.plan.Predictors {
		specs[i] = rt.plan.Predictors[i].Spec
	}
	return specs
}

// StatusAddr is where the status server listens, or "".
func (rt *Runtime) StatusAddr() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.statusAddr
}

func (rt *Runtime) addExternal() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, c := range rt.components {
		if err := c.addExternalLocked(); err != nil {
			for _, ex := range rt.executors {
				ex.Close()
			}
			return err
		}
	}
	return nil
}

// addExternalLocked adds --endpoint servers to their nodes' endpoint sets.
func (c *component) addExternalLocked() error {
	for _, ct := range c.plan.Containers {
		if ct.External == "" {
			continue
		}
		host, port, err := splitHostPort(ct.External)
		if err != nil {
			return err
		}
		set, ok := c.rt.endpointSet(c.predictor, ct.Name)
		if !ok {
			continue
		}
		if err := set.Add(executor.Endpoint{Host: host, HTTPPort: port, GRPCPort: port}); err != nil {
			return err
		}
	}
	return nil
}

// scaleToLocked starts or stops replicas so that n are live. Stopped
// replicas are chosen as a ReplicaSet chooses pods to delete: not-ready
// ones first, then the newest.
func (c *component) scaleToLocked(n int32) error {
	defer c.rt.notifyLocked()
	c.desired = n
	for int32(len(c.replicas)) < n {
		c.nextID++
		rep, err := c.newReplica(c.nextID)
		if err != nil {
			return err
		}
		c.replicas = append(c.replicas, rep)
		c.rt.wg.Add(1)
		go func() {
			defer c.rt.wg.Done()
			rep.start()
		}()
	}
	if excess := len(c.replicas) - int(n); excess > 0 {
		order := append([]*replica(nil), c.replicas...)
		sort.SliceStable(order, func(i, j int) bool {
			if order[i].ready != order[j].ready {
				return !order[i].ready
			}
			if oldI, oldJ := order[i].plan != c.plan, order[j].plan != c.plan; oldI != oldJ {
				return oldI // replicas of a replaced template go first
			}
			return order[i].seq > order[j].seq // then the newest
		})
		for _, r := range order[:excess] {
			c.removeLocked(r)
		}
	}
	return nil
}

// stopAll drains and stops every replica and waits for them.
func (rt *Runtime) stopAll() {
	rt.mu.Lock()
	for _, c := range rt.components {
		c.stopped = true
		_ = c.scaleToLocked(0)
	}
	rt.mu.Unlock()
	rt.wg.Wait()
}

// sync is one autoscaler round: sample every replica's CPU, then let each
// component's HPA decide and apply the decision.
func (rt *Runtime) sync() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	now := rt.now()
	for _, c := range rt.components {
		if !c.plan.Scaled() {
			continue
		}
		obs := c.observeLocked(now)
		obs.Values = rt.requestValuesLocked(c)
		sample := Sample{Time: now, Component: c.name, Deployment: c.deployment, Utilization: c.utilization, Target: -1}
		if c.plan.HPA != nil {
			prev := c.state
			d, next := rt.opts.Autoscale.Decide(*c.plan.HPA, c.state, obs, now)
			c.state = next
			c.last = &d
			sample.Target = cpuTarget(c.plan)
			if d.Changed() {
				rt.eventfLocked("%s %d→%d: %s", c.label(), d.CurrentReplicas, d.DesiredReplicas, d.Reason)
				if err := c.scaleToLocked(d.DesiredReplicas); err != nil {
					// As upstream: a failed scale is not a scale event.
					c.state.ScaleUpEvents, c.state.ScaleDownEvents = prev.ScaleUpEvents, prev.ScaleDownEvents
					rt.eventfLocked("%s: scaling to %d failed: %v", c.label(), d.DesiredReplicas, err)
				}
				rt.decisions = append(rt.decisions, newDecisionRecord(c, d))
			}
		}
		// After the decision, so the plot shows a change at the sync that made it.
		sample.Replicas, sample.Ready, sample.Desired = int32(len(c.replicas)), c.readyCountLocked(), c.desired
		rt.samples = append(rt.samples, sample)
	}
	rt.notifyLocked()
}

// observeLocked samples each replica's processes and builds the HPA's view.
func (c *component) observeLocked(now time.Time) autoscale.Observation {
	obs := autoscale.Observation{CurrentReplicas: c.desired}
	var usedMilli, requestedMilli int64
	add := func(r *replica, terminating bool) {
		ar := autoscale.Replica{
			Name:        r.name,
			Terminating: terminating,
			Ready:       r.ready,
			StartTime:   r.started,
			ReadySince:  r.readySince,
			SampleTime:  now,
		}
		complete := true
		for _, pr := range r.procs {
			if pr.pid == 0 && pr.restarts == 0 {
				ar.Pending = true // never started yet, like a pod still being scheduled
			}
			pr.sampleLocked(now)
			ct := autoscale.Container{Name: pr.container.Name, Requests: pr.container.Requests}
			if pr.usageMilli >= 0 {
				ct.Usage = corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(pr.usageMilli, resource.DecimalSI)}
				ar.SampleWindow = max(ar.SampleWindow, pr.window)
			} else {
				complete = false
			}
			ar.Containers = append(ar.Containers, ct)
		}
		if complete && !terminating && r.ready {
			for _, pr := range r.procs {
				usedMilli += pr.usageMilli
				if q, ok := pr.container.Requests[corev1.ResourceCPU]; ok {
					requestedMilli += q.MilliValue()
				}
			}
		}
		obs.Replicas = append(obs.Replicas, ar)
	}
	for _, r := range c.replicas {
		add(r, false)
	}
	for _, r := range c.terminating {
		add(r, true)
	}
	c.utilization = -1
	if requestedMilli > 0 {
		c.utilization = float64(usedMilli) / float64(requestedMilli) * 100
	}
	return obs
}

// sampleLocked reads the process's CPU time and turns the change since the
// previous sample into a usage. The first sample of a process (and of each
// restart) only sets the baseline.
func (pr *process) sampleLocked(now time.Time) {
	if pr.pid == 0 {
		pr.usageMilli = -1
		return
	}
	rt := pr.rep.comp.rt
	cpu, err := rt.opts.CPU.CPUSeconds(pr.pid)
	if err != nil {
		pr.usageMilli = -1
		if errors.Is(err, ErrCPUUnavailable) && !rt.cpuUnavailable {
			rt.cpuUnavailable = true
			rt.eventfLocked("%v: CPU-based hpaSpecs are not acted on (their metric stays unavailable)", err)
		}
		return
	}
	if pr.samplePid == pr.pid && !pr.sampleAt.IsZero() {
		wall := now.Sub(pr.sampleAt)
		q := autoscale.CPUUsage(cpu-pr.sampleCPU, wall.Seconds())
		pr.usageMilli = q.MilliValue()
		pr.window = wall
	} else {
		pr.usageMilli = -1
	}
	pr.samplePid, pr.sampleCPU, pr.sampleAt = pr.pid, cpu, now
}

func (c *component) readyCountLocked() int32 {
	var n int32
	for _, r := range c.replicas {
		if r.ready {
			n++
		}
	}
	return n
}

// cpuTarget is the HPA's CPU utilisation target in percent, or -1.
func cpuTarget(c *ComponentPlan) float64 {
	if c.HPA == nil {
		return -1
	}
	for _, m := range c.HPA.Metrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil {
			return float64(*m.Resource.Target.AverageUtilization)
		}
	}
	if len(c.HPA.Metrics) == 0 {
		return 80 // the HPA default
	}
	return -1
}

// eventf logs one event line.
func (rt *Runtime) eventf(format string, args ...any) {
	rt.outMu.Lock()
	defer rt.outMu.Unlock()
	fmt.Fprintf(rt.opts.Log, "%s %s\n", rt.now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// eventfLocked is eventf for callers holding rt.mu (the output has its own
// lock, so this is the same; the name documents that it is safe).
func (rt *Runtime) eventfLocked(format string, args ...any) { rt.eventf(format, args...) }
