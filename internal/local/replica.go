package local

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// Restart backoff for a replica process that exits on its own: like the
// kubelet's CrashLoopBackOff (10 s doubling to 5 min), scaled down for one
// machine, and reset once the process has stayed up for backoffReset.
const (
	backoffInitial = time.Second
	backoffMax     = 30 * time.Second
	backoffReset   = 30 * time.Second
)

// replica is one local "pod" of a component: a process per container.
type replica struct {
	comp *component
	name string
	seq  int // creation order within the component
	// plan is the component's plan when the replica was made: a replica
	// keeps its template until it is replaced.
	plan    *ComponentPlan
	started time.Time
	procs   []*process

	// Guarded by the runtime's mutex.
	stopping   bool
	ready      bool
	readySince time.Time
}

// process is one container of one replica, supervised for the replica's
// whole life: started, restarted with backoff when it dies, stopped on
// scale-down.
type process struct {
	rep       *replica
	container *ContainerPlan
	argv      []string
	env       []string
	endpoint  executor.Endpoint
	probePort int32
	set       *executor.EndpointSet // nil when the container is not a graph node

	// Guarded by the runtime's mutex.
	pid        int
	ready      bool
	inSet      bool
	restarts   int
	lastExit   string
	sampleCPU  float64
	sampleAt   time.Time
	samplePid  int
	usageMilli int64 // latest CPU usage in millicores, -1 if none yet
	window     time.Duration

	stop   chan struct{} // closed to stop the process for good
	exited chan struct{} // closed when the supervisor has returned
}

// newReplica allocates the replica's ports and prepares its processes; it
// starts nothing.
func (c *component) newReplica(seq int) (*replica, error) {
	rep := &replica{comp: c, name: fmt.Sprintf("%s-%d", c.deployment, seq), seq: seq, plan: c.plan}
	for i := range c.plan.Containers {
		ct := &c.plan.Containers[i]
		if ct.External != "" {
			continue
		}
		ports := map[int32]int32{}
		for _, p := range ct.Ports {
			local, err := freePort()
			if err != nil {
				return nil, err
			}
			ports[p.ContainerPort] = local
		}
		pr := &process{
			rep:        rep,
			container:  ct,
			argv:       ct.Command,
			env:        processEnv(ct.Env, ports),
			usageMilli: -1,
			stop:       make(chan struct{}),
			exited:     make(chan struct{}),
		}
		pr.endpoint = executor.Endpoint{
			Host:     "127.0.0.1",
			HTTPPort: ports[predictor.NamedPort(ct.Ports, predictor.PortNameHTTP)],
			GRPCPort: ports[predictor.NamedPort(ct.Ports, predictor.PortNameGRPC)],
		}
		pr.probePort = pr.endpoint.HTTPPort
		if pr.probePort == 0 {
			pr.probePort = pr.endpoint.GRPCPort
		}
		if set, ok := c.rt.endpointSet(c.predictor, ct.Name); ok {
			pr.set = set
		}
		rep.procs = append(rep.procs, pr)
	}
	return rep, nil
}

// processEnv is the environment a replica process gets: sdep's own (for
// PATH and the like; a pod would have the image's), then the container's
// env with every port the pod would listen on replaced by this replica's
// local port. Variables taken from the downward API or secrets are left
// out: there is no API server to read them from.
func processEnv(env []corev1.EnvVar, ports map[int32]int32) []string {
	out := os.Environ()
	for _, e := range env {
		if e.ValueFrom != nil {
			continue
		}
		v := e.Value
		if strings.HasSuffix(e.Name, "_PORT") {
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				if local, ok := ports[int32(n)]; ok {
					v = strconv.Itoa(int(local))
				}
			}
		}
		out = append(out, e.Name+"="+v)
	}
	return out
}

// freePort asks the kernel for a free localhost port. Another process could
// take it before the replica binds it; the replica then exits and is
// restarted, on the same port, with backoff.
func freePort() (int32, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port), nil
}

func (rep *replica) start() {
	rt := rep.comp.rt
	rt.mu.Lock()
	rep.started = rt.now()
	rep.readySince = rep.started
	rt.notifyLocked()
	rt.mu.Unlock()
	for _, pr := range rep.procs {
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			pr.supervise()
		}()
	}
}

// supervise runs the process until stop is closed, restarting it with
// backoff whenever it exits on its own.
func (pr *process) supervise() {
	defer close(pr.exited)
	rt := pr.rep.comp.rt
	var backoff time.Duration
	for {
		select {
		case <-pr.stop:
			return
		default:
		}
		startedAt := rt.now()
		exit, err := pr.runOnce()
		select {
		case <-pr.stop:
			return
		default:
		}
		msg := exit
		if err != nil {
			msg = err.Error()
		}
		rt.mu.Lock()
		pr.restarts++
		pr.lastExit = msg
		restarts := pr.restarts
		rt.mu.Unlock()
		backoff = nextBackoff(backoff, rt.now().Sub(startedAt))
		rt.eventf("%s: replica %s container %s %s; restart %d in %s",
			pr.rep.comp.label(), pr.rep.name, pr.container.Name, msg, restarts, backoff)
		select {
		case <-pr.stop:
			return
		case <-rt.opts.Clock.After(backoff):
		}
	}
}

// nextBackoff is the wait before the next restart, given the previous wait
// (0 for none yet) and how long the process ran: doubling from
// backoffInitial up to backoffMax, back to backoffInitial after a run of
// backoffReset or more.
func nextBackoff(prev, ran time.Duration) time.Duration {
	if prev == 0 || ran >= backoffReset {
		return backoffInitial
	}
	return min(2*prev, backoffMax)
}

// runOnce starts the process, adds its endpoint once its readiness check
// passes, and waits for it to exit (by itself, or stopped by stop).
func (pr *process) runOnce() (exit string, err error) {
	rt := pr.rep.comp.rt
	out := rt.childOutput(pr.rep.name + "/" + pr.container.Name)
	var probe string
	if pr.probePort != 0 {
		probe = net.JoinHostPort(pr.endpoint.Host, strconv.Itoa(int(pr.probePort)))
	}
	p, err := rt.opts.Starter.Start(ProcessSpec{Name: pr.rep.name + "/" + pr.container.Name,
		Argv: pr.argv, Env: pr.env, Output: out, ProbeAddr: probe})
	if err != nil {
		_ = out.Close()
		return "", fmt.Errorf("could not start: %w", err)
	}
	rt.mu.Lock()
	pr.pid = p.Pid()
	rt.notifyLocked()
	rt.mu.Unlock()

	waited := make(chan error, 1)
	go func() { waited <- p.Wait(); _ = out.Close() }()
	ready := p.Ready()
	for {
		select {
		case <-ready:
			ready = nil // fires once
			pr.markReady()
		case werr := <-waited:
			pr.markGone()
			if werr == nil {
				return "exited with status 0", nil
			}
			return "exited: " + werr.Error(), nil
		case <-pr.stop:
			err := pr.terminate(p, waited)
			pr.markGone()
			if err != nil {
				return "stopped (" + err.Error() + ")", nil
			}
			return "stopped", nil
		}
	}
}

// markReady adds the process's endpoint to its node's set, as the pod's
// readiness makes it an endpoint of its Service, unless the replica is
// being stopped.
func (pr *process) markReady() {
	rt := pr.rep.comp.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if pr.rep.stopping {
		return
	}
	if pr.set != nil {
		if err := pr.set.Add(pr.endpoint); err != nil {
			rt.eventfLocked("%s: replica %s: %v", pr.rep.comp.label(), pr.rep.name, err)
			return
		}
		pr.inSet = true
	}
	pr.ready = true
	pr.rep.updateReadyLocked()
}

// markGone records that the process is not running: not ready, out of its
// endpoint set (a dead process gets no more requests), no pid to sample.
func (pr *process) markGone() {
	rt := pr.rep.comp.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	pr.removeEndpointLocked()
	pr.ready = false
	pr.pid = 0
	pr.usageMilli = -1
	pr.rep.updateReadyLocked()
	rt.notifyLocked()
}

func (pr *process) removeEndpointLocked() <-chan struct{} {
	if !pr.inSet {
		return nil
	}
	pr.inSet = false
	drained, err := pr.set.Remove(pr.endpoint)
	if err != nil {
		return nil
	}
	return drained
}

// terminate stops a process as the kubelet stops a container: SIGTERM, then
// SIGKILL after the grace period. It returns how the process exited.
func (pr *process) terminate(p Process, waited <-chan error) error {
	_ = p.Terminate()
	select {
	case err := <-waited:
		return err
	case <-pr.rep.comp.rt.opts.Clock.After(pr.rep.plan.GracePeriod):
		_ = p.Kill()
		return <-waited
	}
}

func (rep *replica) updateReadyLocked() {
	ready := len(rep.procs) > 0
	for _, pr := range rep.procs {
		ready = ready && pr.ready
	}
	if ready != rep.ready {
		rep.ready = ready
		rep.readySince = rep.comp.rt.now()
		if ready {
			rep.comp.coldStartLocked()
		}
		rep.comp.rt.notifyLocked()
	}
}

// shutdown takes the replica out of service: its endpoints leave their sets
// at once, then, once their in-flight requests have finished (or after
// drainTimeout), its processes are stopped.
func (rep *replica) shutdown(drainTimeout time.Duration) {
	rt := rep.comp.rt
	rt.mu.Lock()
	rep.stopping = true
	var drains []<-chan struct{}
	for _, pr := range rep.procs {
		if d := pr.removeEndpointLocked(); d != nil {
			drains = append(drains, d)
		}
	}
	rt.mu.Unlock()
	deadline := rt.opts.Clock.After(drainTimeout)
	for _, d := range drains {
		select {
		case <-d:
		case <-deadline:
		}
	}
	for _, pr := range rep.procs {
		close(pr.stop)
	}
	for _, pr := range rep.procs {
		<-pr.exited
	}
}

// prefixWriter writes a child's output line by line, each line prefixed
// with the replica and container it came from.
func (rt *Runtime) childOutput(prefix string) io.WriteCloser {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			rt.outMu.Lock()
			fmt.Fprintf(rt.opts.ChildOutput, "[%s] %s\n", prefix, sc.Text())
			rt.outMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}
