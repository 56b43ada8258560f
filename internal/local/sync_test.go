package local

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden decision logs in testdata")

// t0 is the simulated clock's origin.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is a Clock that moves only when the test sets it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeTimer{c.now.Add(d), ch})
	return ch
}

// pending is the number of timers not fired yet.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// set moves the clock to t and fires the timers that are due.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			keep = append(keep, w)
			continue
		}
		w.ch <- t
	}
	c.waiters = keep
}

// fakeStarter starts fakeProcesses: each passes its readiness check at
// once and exits when asked to stop.
type fakeStarter struct {
	mu      sync.Mutex
	lastPid int
	started int
}

type fakeProcess struct {
	pid   int
	ready chan struct{}
	exit  chan struct{}
	once  sync.Once
}

func (s *fakeStarter) Start(ProcessSpec) (Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastPid++
	s.started++
	p := &fakeProcess{pid: 1000 + s.lastPid, ready: make(chan struct{}), exit: make(chan struct{})}
	close(p.ready)
	return p, nil
}

func (p *fakeProcess) Pid() int               { return p.pid }
func (p *fakeProcess) Ready() <-chan struct{} { return p.ready }
func (p *fakeProcess) Terminate() error       { p.once.Do(func() { close(p.exit) }); return nil }
func (p *fakeProcess) Kill() error            { return p.Terminate() }
func (p *fakeProcess) Wait() error            { <-p.exit; return nil }

// cpuTrace is a CPUSampler whose counters the test advances.
type cpuTrace struct {
	mu          sync.Mutex
	used        map[int]float64 // CPU seconds per pid
	unavailable bool
}

func (c *cpuTrace) CPUSeconds(pid int) (float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unavailable {
		return 0, fmt.Errorf("%w on this test's system", ErrCPUUnavailable)
	}
	return c.used[pid], nil
}

func (c *cpuTrace) add(pid int, seconds float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used[pid] += seconds
}

// syncScenario is a CPU trace the runtime's autoscaler is driven through,
// one sync per step on a simulated clock.
type syncScenario struct {
	name  string
	about string
	// stabilization is the downscale stabilization window.
	stabilization time.Duration
	// cpuUnavailable makes the sampler fail as on a system without /proc.
	cpuUnavailable bool
	steps          []syncStep
}

// syncStep is one sync at `at`; load is the CPU (millicores) the replicas
// used since the previous step, spread evenly over those that were ready.
type syncStep struct {
	at   time.Duration
	load int64
	note string
}

const syncPeriod = 15 * time.Second

func heavyThenTrickle(heavyUntil, until time.Duration, heavy, trickle int64) []syncStep {
	var steps []syncStep
	for at := syncPeriod; at <= until; at += syncPeriod {
		s := syncStep{at: at, load: trickle}
		if at <= heavyUntil {
			s.load = heavy
		}
		steps = append(steps, s)
	}
	steps[0].note = "the first sample of each process is its baseline"
	for i := range steps {
		if steps[i].at == heavyUntil+syncPeriod {
			steps[i].note = "the load drops to a trickle"
		}
	}
	return steps
}

func syncScenarios() []syncScenario {
	return []syncScenario{
		{
			name: "seed-1-4-1",
			about: `the seed (my-dep: 1 to 4 replicas, cpu request 500m, target 10%), sync period 15 s, downscale stabilization 60 s.
			180m of load: 36% on one replica scales it to 4 at once (ceil(3.6), which the default rate allows);
			the 3 new replicas' first samples are baselines, so they count as missing once; spread over 4 the load
			is 9% (45m), within tolerance. A trickle of 20m (1%) recommends 1, held by the stabilization window until the
			last recommendation of 4 is more than 60 s old; then 4 -> 1, keeping the oldest replica.`,
			stabilization: 60 * time.Second,
			steps:         heavyThenTrickle(60*time.Second, 165*time.Second, 180, 20),
		},
		{
			name: "cpu-unavailable",
			about: `a system where replica CPU cannot be read (sdep serve outside Linux): the runtime says so once,
			the cpu metric is unavailable and the component keeps its replicas.`,
			stabilization:  60 * time.Second,
			cpuUnavailable: true,
			steps:          heavyThenTrickle(30*time.Second, 45*time.Second, 180, 20),
		},
	}
}

func (sc syncScenario) run(t *testing.T) string {
	t.Helper()
	clock := &fakeClock{now: t0}
	starter := &fakeStarter{}
	trace := &cpuTrace{used: map[int]float64{}, unavailable: sc.cpuUnavailable}
	cfg := autoscale.DefaultConfig()
	cfg.DownscaleStabilizationWindow = sc.stabilization
	events := &syncWriter{}
	rt := startedRuntime(t, seedPlan(t), Options{SyncPeriod: syncPeriod, Autoscale: cfg, Log: events, ChildOutput: io.Discard,
		StatusPort: -1, Clock: clock, CPU: trace, Starter: starter})
	settle(t, rt)

	var log strings.Builder
	fmt.Fprintf(&log, "# %s\n", sc.name)
	for _, line := range strings.Split(strings.TrimSpace(sc.about), "\n") {
		fmt.Fprintf(&log, "# %s\n", strings.TrimSpace(line))
	}
	fmt.Fprintf(&log, "\nt=0s start: %s\n", replicaLine(rt))
	seen := 0
	var prev time.Duration
	for _, s := range sc.steps {
		// The interval's load, spread over the replicas that served it.
		rt.mu.Lock()
		var pids []int
		for _, r := range rt.components[0].replicas {
			if r.ready {
				for _, pr := range r.procs {
					pids = append(pids, pr.pid)
				}
			}
		}
		rt.mu.Unlock()
		for _, pid := range pids {
			trace.add(pid, float64(s.load)/1000/float64(len(pids))*(s.at-prev).Seconds())
		}
		prev = s.at
		clock.set(t0.Add(s.at))
		rt.sync()
		settle(t, rt)

		if s.note != "" {
			fmt.Fprintf(&log, "\n# %s", s.note)
		}
		fmt.Fprintf(&log, "\nt=%gs load %dm over %d ready\n", s.at.Seconds(), s.load, len(pids))
		rt.mu.Lock()
		d := rt.components[0].last
		rt.mu.Unlock()
		if d == nil {
			t.Fatalf("t=%gs: no decision", s.at.Seconds())
		}
		fmt.Fprintf(&log, "    %s\n", d)
		for _, m := range d.Metrics {
			fmt.Fprintf(&log, "    %s\n", syncMetricLine(m))
		}
		limit := string(d.Limit)
		if limit == "" {
			limit = "none"
		}
		fmt.Fprintf(&log, "    recommendation %d, stabilized %d, limit %s\n", d.Recommendation, d.Stabilized, limit)
		all := events.String()
		for _, e := range strings.Split(strings.TrimSuffix(all[seen:], "\n"), "\n") {
			if e != "" {
				fmt.Fprintf(&log, "    event %s\n", e)
			}
		}
		seen = len(all)
		fmt.Fprintf(&log, "    then %s\n", replicaLine(rt))
	}
	ds := rt.Decisions()
	fmt.Fprintf(&log, "\ndecisions:")
	if len(ds) == 0 {
		fmt.Fprintf(&log, " none")
	}
	for _, d := range ds {
		fmt.Fprintf(&log, " t=%gs %d→%d", d.Time.Sub(t0).Seconds(), d.From, d.To)
	}
	fmt.Fprintf(&log, "\nprocesses started: %d\n", starter.started)
	return log.String()
}

func syncMetricLine(m autoscale.MetricResult) string {
	if m.Err != "" {
		return m.String()
	}
	s := fmt.Sprintf("%s: ratio %.3f -> %d", m, m.Ratio, m.Proposed)
	if m.WithinTolerance {
		s += " (no change)"
	}
	return s + fmt.Sprintf(" [ready %d, not ready %d, missing %d, ignored %d]", m.Ready, m.Unready, m.Missing, m.Ignored)
}

// replicaLine is the component's replicas: "2/2 ready: name-1, name-2".
func replicaLine(rt *Runtime) string {
	c := rt.Status().Components[0]
	var names []string
	for _, r := range c.ReplicaList {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return fmt.Sprintf("%d/%d ready, desired %d, %d terminating: %s", c.Ready, c.Replicas, c.Desired, c.Terminating,
		strings.Join(names, ", "))
}

// settle waits, on the runtime's change signal, until every component has
// its desired replicas, all ready, and none terminating.
func settle(t *testing.T, rt *Runtime) {
	t.Helper()
	timeout := time.After(30 * time.Second) // only against a hang
	for {
		changed := rt.Changed()
		done := true
		for _, c := range rt.Status().Components {
			done = done && c.Replicas == c.Desired && c.Ready == c.Desired && c.Terminating == 0
		}
		if done {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("replicas did not settle: %+v", rt.Status().Components)
		}
	}
}

func TestSyncGoldenDecisionLogs(t *testing.T) {
	names := map[string]bool{}
	for _, sc := range syncScenarios() {
		if names[sc.name] {
			t.Fatalf("duplicate scenario %q", sc.name)
		}
		names[sc.name] = true
		t.Run(sc.name, func(t *testing.T) {
			golden.Compare(t, sc.name, "decision log", []byte(sc.run(t)), *update)
		})
	}
	golden.NoOrphans(t, names)
}

// TestRunSyncsOnTheInjectedClock: Run's loop syncs once per period of the
// clock it is given, and only then.
func TestRunSyncsOnTheInjectedClock(t *testing.T) {
	clock := &fakeClock{now: t0}
	rt, err := New(seedPlan(t), Options{SyncPeriod: syncPeriod, Autoscale: autoscale.DefaultConfig(), Log: io.Discard,
		ChildOutput: io.Discard, StatusPort: -1, Clock: clock, CPU: &cpuTrace{used: map[int]float64{}}, Starter: &fakeStarter{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, rt, 30*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	for i := 1; i <= 3; i++ {
		// Move the clock only once the run loop waits on it: a timer
		// asked for while the clock moves would be set from the new time.
		// Nothing else in this runtime waits on the clock.
		for wait := time.Now().Add(30 * time.Second); clock.pending() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(wait) {
				t.Fatalf("the run loop never waited for sync %d", i)
			}
		}
		clock.set(t0.Add(time.Duration(i) * syncPeriod))
		deadline := time.After(30 * time.Second) // only against a hang
		for {
			changed := rt.Changed()
			if len(rt.Samples()) >= i {
				break
			}
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("no sync %d after the clock reached %s", i, time.Duration(i)*syncPeriod)
			}
		}
	}
	ss := rt.Samples()
	if len(ss) != 3 {
		t.Fatalf("%d syncs, want 3", len(ss))
	}
	for i, s := range ss {
		if want := t0.Add(time.Duration(i+1) * syncPeriod); !s.Time.Equal(want) {
			t.Errorf("sync %d at %s, want %s", i+1, s.Time, want)
		}
	}
}

// startedRuntime is New(plan, opts) with its components started (no sync
// loop), stopped when the test ends.
func startedRuntime(t *testing.T, plan *Plan, opts Options) *Runtime {
	t.Helper()
	rt, err := New(plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.stopAll()
		for _, ex := range rt.executors {
			ex.Close()
		}
	})
	if err := rt.startComponents(); err != nil {
		t.Fatal(err)
	}
	return rt
}
