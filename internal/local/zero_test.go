package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/autoscale"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/load"
)

// exampleDocument reads one of the examples.
func exampleDocument(t *testing.T, name string) *sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile("../../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return docs[0].Object
}

// requestsPlan is an example whose classifier is this test binary's mock
// classifier, answering each prediction after delay: with a closed loop
// of c clients and a delay well above the executor's own time, about c
// requests are in flight at any moment.
func requestsPlan(t *testing.T, example string, delay time.Duration) *Plan {
	t.Helper()
	sd := exampleDocument(t, example)
	sd.Spec.Predictors[0].Graph.Parameters = []sdepv1.Parameter{
		{Name: "delaySecs", Value: fmt.Sprint(delay.Seconds()), Type: "FLOAT"},
	}
	plan, err := NewPlan(sd, Mappings{
		Run: map[string]string{"classifier": fmt.Sprintf("env %s=1 '%s'", modelEnv, os.Args[0])},
	})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestNewPlanScalesToZeroFromTheDocument(t *testing.T) {
	plan, err := NewPlan(exampleDocument(t, "requests-to-zero.json"), Mappings{Self: "/opt/sdep"})
	if err != nil {
		t.Fatal(err)
	}
	c := plan.Predictors[0].Components[0]
	if !c.ScaleToZero || c.Replicas != 0 {
		t.Errorf("requests-to-zero: scale to zero %v, initial replicas %d; want true and 0", c.ScaleToZero, c.Replicas)
	}
	if c.HPA == nil || c.HPA.MinReplicas == nil || *c.HPA.MinReplicas != 1 || c.HPA.MaxReplicas != 10 {
		t.Fatalf("HPA spec %+v: want minReplicas 1 (the algorithm's) and maxReplicas 10", c.HPA)
	}
	if got := c.HPA.Metrics[0].Object.DescribedObject.Name; got != c.Deployment {
		t.Errorf("describedObject %q, want the Deployment %q", got, c.Deployment)
	}

	// A legacy predictor-level hpaSpecs entry with minReplicas 0 (on a
	// v2beta1 Object metric) scales to zero too.
	legacy := seedDocument(t, "")
	zero := int32(0)
	avg := resource.MustParse("2")
	h := &legacy.Spec.Predictors[0].HpaSpecs[0]
	h.MinReplicas = &zero
	h.Metrics = []sdepv1.MetricSpec{{Type: sdepv1.ObjectMetricSourceType, Object: &sdepv1.ObjectMetricSource{
		Target:     sdepv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "my-dep"},
		MetricName: metricInFlight, AverageValue: &avg}}}
	plan, err = NewPlan(legacy, Mappings{Self: "/opt/sdep"})
	if err != nil {
		t.Fatal(err)
	}
	if c := plan.Predictors[0].Components[0]; !c.ScaleToZero || c.Replicas != 0 || *c.HPA.MinReplicas != 1 {
		t.Errorf("legacy hpaSpecs with minReplicas 0: scale to zero %v, initial replicas %d, HPA minReplicas %d; want true, 0, 1",
			c.ScaleToZero, c.Replicas, *c.HPA.MinReplicas)
	}

	plan, err = NewPlan(exampleDocument(t, "requests-hpa.json"), Mappings{Self: "/opt/sdep"})
	if err != nil {
		t.Fatal(err)
	}
	if c := plan.Predictors[0].Components[0]; c.ScaleToZero || c.Replicas != 1 {
		t.Errorf("requests-hpa (minReplicas 1): scale to zero %v, initial replicas %d; want false and 1", c.ScaleToZero, c.Replicas)
	}
}

// TestRequestMetricsFeedTheHPAAlgorithm: the executor's figures are the
// value of the component's own Object metrics (by componentSpec or
// Deployment name); an Object metric on anything else has no value.
func TestRequestMetricsFeedTheHPAAlgorithm(t *testing.T) {
	plan := requestsPlan(t, "requests-hpa.json", 0)
	c := plan.Predictors[0].Components[0]
	base := c.HPA.Metrics[0]
	rps := *base.DeepCopy()
	rps.Object.Metric.Name = metricRPS
	rps.Object.DescribedObject.Name = c.Name // as written in the document
	other := *base.DeepCopy()
	other.Object.DescribedObject.Name = "someone-else"
	c.HPA.Metrics = append(c.HPA.Metrics, rps, other)
	rt, err := New(plan, Options{Log: &syncWriter{}, StatusPort: -1, Starter: &fakeStarter{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, ex := range rt.executors {
			ex.Close()
		}
	}()
	rt.mu.Lock()
	values := rt.requestValuesLocked(rt.components[0])
	rt.mu.Unlock()
	for _, m := range c.HPA.Metrics[:2] {
		q, ok := values[autoscale.MetricKey(m)]
		if !ok || q.MilliValue() != 0 {
			t.Errorf("%s: value %v (present %v), want 0 from an idle executor", autoscale.MetricKey(m), q.String(), ok)
		}
	}
	if q, ok := values[autoscale.MetricKey(other)]; ok {
		t.Errorf("an Object metric on another Deployment got the value %s", q.String())
	}
}

// TestServeScalesOnRequestsInFlight: requests-hpa.json (1 to 4 replicas,
// 2 in flight per replica) under a closed loop of 8 clients scales to 4 by
// the HPA algorithm on the executor's seldon_requests_in_flight, then back
// to 1 when the load ends.
func TestServeScalesOnRequestsInFlight(t *testing.T) {
	plan := requestsPlan(t, "requests-hpa.json", 200*time.Millisecond)
	cfg := autoscale.DefaultConfig()
	cfg.DownscaleStabilizationWindow = 2 * time.Second
	rt, log := startRuntimeWith(t, plan, Options{SyncPeriod: time.Second, Autoscale: cfg})
	waitFor(t, rt, 60*time.Second, "first replica ready", func(c ComponentStatus) bool { return c.Ready == 1 })
	g := newLoadGen(rt.FrontAddrs().HTTP)
	ctx, stop := context.WithCancel(context.Background())
	wg := g.run(ctx, 8, 0)
	start := time.Now()
	waitFor(t, rt, 30*time.Second, "4 ready replicas", func(c ComponentStatus) bool { return c.Ready == 4 })
	t.Logf("1→4 ready %s after the load started", time.Since(start).Round(time.Millisecond))
	stop()
	wg.Wait()
	waitFor(t, rt, 30*time.Second, "back to 1", func(c ComponentStatus) bool { return c.Desired == 1 && c.Replicas == 1 })
	if n := g.fail.Load(); n > 0 {
		t.Errorf("%d of %d requests failed; first: %v", n, n+g.ok.Load(), g.firstErr.Load())
	}
	if !strings.Contains(log.String(), "seldon_requests_in_flight") {
		t.Errorf("no decision on seldon_requests_in_flight in the log")
	}
	for _, d := range rt.Decisions() {
		if d.To > 4 {
			t.Errorf("decision %d→%d beyond 8 in flight / 2", d.From, d.To)
		}
	}
}

// TestServeScalesToZeroAndWakesOnARequest runs examples/requests-to-zero.json
// with real replica processes: no replica at start, the first request
// starts one and is answered, a closed loop of 8 clients at 2 in flight
// per replica gives 4 replicas, and once idle the component goes back to
// 1 and then to 0; a second request wakes it again. No request fails.
func TestServeScalesToZeroAndWakesOnARequest(t *testing.T) {
	const sync, idle = time.Second, 2 * time.Second
	plan := requestsPlan(t, "requests-to-zero.json", 200*time.Millisecond)
	cfg := autoscale.DefaultConfig()
	cfg.DownscaleStabilizationWindow = 2 * time.Second
	rt, log := startRuntimeWith(t, plan, Options{SyncPeriod: sync, Autoscale: cfg, ScaleToZeroIdle: idle})
	waitFor(t, rt, 30*time.Second, "executor listening", func(ComponentStatus) bool { return rt.FrontAddrs().HTTP != "" })

	// At zero, syncs start nothing.
	time.Sleep(2*sync + sync/2)
	c := rt.Status().Components[0]
	if c.Replicas != 0 || c.Desired != 0 || !c.ScaledToZero || c.MinReplicas != 0 || len(rt.Decisions()) != 0 {
		t.Fatalf("before any request: %d replicas, desired %d, scaled to zero %v, minReplicas %d, decisions %v; want 0, 0, true, 0, none",
			c.Replicas, c.Desired, c.ScaledToZero, c.MinReplicas, rt.Decisions())
	}
	var table bytes.Buffer
	if err := WriteTable(&table, rt.Status()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "scaled to zero") {
		t.Errorf("the table does not say the component is scaled to zero:\n%s", table.String())
	}

	// The first request wakes a replica and is answered.
	g := newLoadGen(rt.FrontAddrs().HTTP)
	coldStart := func(what string) time.Duration {
		t.Helper()
		before := g.ok.Load()
		start := time.Now()
		g.once()
		d := time.Since(start)
		if g.ok.Load() != before+1 {
			t.Fatalf("%s: not answered after %s: %v", what, d, g.firstErr.Load())
		}
		t.Logf("%s: answered after %s (cold start; the model itself takes 200ms)", what, d.Round(time.Millisecond))
		// Only against a machine too loaded to measure anything: the goal
		// (1 s for the mock classifier) is reported, not asserted.
		if d > 5*time.Second {
			t.Errorf("%s: cold start %s", what, d)
		}
		return d
	}
	coldStart("first request")
	c = rt.Status().Components[0]
	if c.Ready != 1 || c.ScaledToZero || len(c.ColdStarts) != 1 {
		t.Fatalf("after the first request: %d ready, scaled to zero %v, cold starts %v; want 1, false, one", c.Ready, c.ScaledToZero, c.ColdStarts)
	}
	t.Logf("runtime's cold start (0→1 decision to Ready): %d ms", c.ColdStarts[0])

	// 8 clients, 2 in flight per replica: 4 replicas.
	ctx, stop := context.WithCancel(context.Background())
	wg := g.run(ctx, 8, 0)
	start := time.Now()
	waitFor(t, rt, 30*time.Second, "4 ready replicas", func(c ComponentStatus) bool { return c.Ready == 4 })
	t.Logf("1→4 ready %s after the load started", time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * sync)
	if c := rt.Status().Components[0]; c.Desired != 4 {
		t.Errorf("desired %d after 3 more syncs at 8 in flight, want 4 (metrics %+v)", c.Desired, c.Metrics)
	}
	stop()
	wg.Wait()

	// Idle: the HPA goes to its minimum, then the idle window to zero.
	start = time.Now()
	lastRequest := time.Now()
	waitFor(t, rt, 60*time.Second, "scaled to zero", func(c ComponentStatus) bool {
		return c.ScaledToZero && c.Replicas == 0 && c.Terminating == 0
	})
	t.Logf("idle → 0 after %s (the executor's 10 s rate window, then %s idle)", time.Since(start).Round(time.Millisecond), idle)

	coldStart("request after scaling to zero")
	if n := g.fail.Load(); n > 0 {
		t.Errorf("%d of %d requests failed; first: %v", n, n+g.ok.Load(), g.firstErr.Load())
	}
	t.Logf("%d requests, 0 failed", g.ok.Load())

	var path []string
	for _, d := range rt.Decisions() {
		path = append(path, fmt.Sprintf("%d→%d", d.From, d.To))
		if d.To > 4 {
			t.Errorf("decision %d→%d beyond 8 in flight / 2: %s", d.From, d.To, d.Reason)
		}
	}
	t.Logf("decisions: %s", strings.Join(path, ", "))
	ds := rt.Decisions()
	if len(ds) < 4 || ds[0].From != 0 || ds[0].To != 1 || ds[len(ds)-1].From != 0 || ds[len(ds)-1].To != 1 {
		t.Errorf("decisions %s: want 0→1 first and last", strings.Join(path, ", "))
	}
	var toZero bool
	for _, d := range ds {
		if d.From == 1 && d.To == 0 && strings.Contains(d.Reason, "idle") {
			toZero = true
			// Not before the executor's rate window has forgotten the
			// last request, plus the idle window. The window (10 whole
			// seconds) counts a request from its start, and lastRequest
			// is when its answer came, after the model's 200 ms; the
			// bound allows a second for that (as the metrics API's test).
			if gap := d.Time.Sub(lastRequest); gap < 9*time.Second+idle {
				t.Errorf("1→0 %s after the last request: before the rate window (at least 9 s) and %s idle", gap, idle)
			}
		}
	}
	if !toZero {
		t.Errorf("no 1→0 decision for idleness: %s", strings.Join(path, ", "))
	}
	for _, want := range []string{"0→1: 1 request(s) in flight while scaled to zero", "1→0: idle for", "cold start"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("no event %q in the log", want)
		}
	}
}

// TestIdleWindowOnTheInjectedClock: with nothing in flight, the last
// replica stops only after the whole idle window on the runtime's clock,
// and only while the HPA's latest decision is at its minimum; a decision
// above it starts the window again.
func TestIdleWindowOnTheInjectedClock(t *testing.T) {
	const idle = 30 * time.Second
	clock := &fakeClock{now: t0}
	log := &syncWriter{}
	rt := startedRuntime(t, requestsPlan(t, "requests-to-zero.json", 0), Options{Log: log, StatusPort: -1, Clock: clock,
		Starter: &fakeStarter{}, CPU: &cpuTrace{used: map[int]float64{}}, ScaleToZeroIdle: idle})
	c := rt.components[0]
	at := func(d time.Duration) int32 {
		clock.set(t0.Add(d))
		rt.checkZero()
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return c.desired
	}
	if n := at(time.Second); n != 0 {
		t.Fatalf("idle at zero: desired %d, want 0 (nothing wakes it)", n)
	}
	rt.mu.Lock()
	_ = c.scaleToLocked(1) // as a wake-up would
	rt.mu.Unlock()
	settle(t, rt)
	if n := at(10 * time.Second); n != 1 {
		t.Fatalf("window start: desired %d, want 1", n)
	}
	if n := at(10*time.Second + idle - time.Millisecond); n != 1 {
		t.Fatalf("1 ms before the idle window ends: desired %d, want 1", n)
	}
	// The HPA wants more than its minimum: the window starts again.
	rt.mu.Lock()
	c.last = &autoscale.Decision{CurrentReplicas: 1, DesiredReplicas: 2}
	rt.mu.Unlock()
	if n := at(10*time.Second + idle); n != 1 {
		t.Fatalf("with the HPA above its minimum: desired %d, want 1", n)
	}
	rt.mu.Lock()
	c.last = &autoscale.Decision{CurrentReplicas: 1, DesiredReplicas: 1}
	rt.mu.Unlock()
	restart := 11*time.Second + idle
	if n := at(restart); n != 1 {
		t.Fatalf("window restarted: desired %d, want 1", n)
	}
	if n := at(restart + idle - time.Millisecond); n != 1 {
		t.Fatalf("1 ms before the restarted window ends: desired %d, want 1", n)
	}
	if n := at(restart + idle); n != 0 {
		t.Fatalf("after the whole window: desired %d, want 0", n)
	}
	if ds := rt.Decisions(); len(ds) != 1 || ds[0].From != 1 || ds[0].To != 0 || ds[0].Limit != zeroLimit || !ds[0].Time.Equal(t0.Add(restart+idle)) {
		t.Errorf("decisions %+v, want one 1→0 at the window's end", ds)
	}
	if !strings.Contains(log.String(), "1→0: idle for 30s") {
		t.Errorf("no 1→0 event with the idle time in the log:\n%s", log.String())
	}
}

func TestStatusJSONShowsAMinimumOfZero(t *testing.T) {
	for _, tt := range []struct {
		c    ComponentStatus
		want string
	}{
		{ComponentStatus{MinReplicas: 0, MaxReplicas: 10, ScaledToZero: true}, `"minReplicas":0`},
		{ComponentStatus{MinReplicas: 1, MaxReplicas: 4}, `"minReplicas":1`},
	} {
		b, err := json.Marshal(tt.c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: want %s", b, tt.want)
		}
		var back ComponentStatus
		if err := json.Unmarshal(b, &back); err != nil || back.MinReplicas != tt.c.MinReplicas || back.ScaledToZero != tt.c.ScaledToZero {
			t.Errorf("%s read back as %+v (%v)", b, back, err)
		}
	}
	b, _ := json.Marshal(ComponentStatus{Replicas: 2})
	if strings.Contains(string(b), "minReplicas") {
		t.Errorf("a component without an HPA has a minReplicas: %s", b)
	}
}

// TestServeWakesFromZeroOnAGRPCCall: a gRPC call on the front port to a
// component at zero is held, wakes a replica and is answered.
func TestServeWakesFromZeroOnAGRPCCall(t *testing.T) {
	rt, _ := startRuntimeWith(t, requestsPlan(t, "requests-to-zero.json", 0), Options{SyncPeriod: time.Hour,
		Autoscale: autoscale.DefaultConfig(), ScaleToZeroIdle: time.Hour})
	waitFor(t, rt, 30*time.Second, "executor listening", func(ComponentStatus) bool { return rt.FrontAddrs().GRPC != "" })
	if c := rt.Status().Components[0]; !c.ScaledToZero || c.Replicas != 0 {
		t.Fatalf("at start: scaled to zero %v, %d replicas; want true, 0", c.ScaledToZero, c.Replicas)
	}
	r, err := load.Run(context.Background(), load.Options{Target: rt.FrontAddrs().GRPC, GRPC: true, Concurrency: 1, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Succeeded != r.Requests {
		t.Fatalf("%d of %d gRPC calls succeeded; errors %v, first: %s", r.Succeeded, r.Requests, r.Errors, r.FirstError)
	}
	t.Logf("%d gRPC calls; the slowest (the first, held while waking) %s", r.Requests, r.Max.Round(time.Millisecond))
	if c := rt.Status().Components[0]; c.Ready != 1 || len(c.ColdStarts) != 1 {
		t.Errorf("after the call: %d ready, cold starts %v; want 1 and one", c.Ready, c.ColdStarts)
	}
}

// TestApplyingAMinimumAboveZeroStartsIt: an edit that turns minReplicas 0
// into 1 while the component is at zero starts a replica at once, as the
// HPA leaves a target at zero alone.
func TestApplyingAMinimumAboveZeroStartsIt(t *testing.T) {
	rt := startedRuntime(t, requestsPlan(t, "requests-to-zero.json", 0), Options{Log: &syncWriter{}, StatusPort: -1,
		Clock: &fakeClock{now: t0}, Starter: &fakeStarter{}, CPU: &cpuTrace{used: map[int]float64{}}})
	if c := rt.Status().Components[0]; c.Replicas != 0 || !c.ScaledToZero {
		t.Fatalf("at start: %d replicas, scaled to zero %v", c.Replicas, c.ScaledToZero)
	}
	sd := exampleDocument(t, "requests-to-zero.json")
	one := int32(1)
	sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas = &one
	sd.Spec.Predictors[0].Graph.Parameters = []sdepv1.Parameter{{Name: "delaySecs", Value: "0", Type: "FLOAT"}}
	next, err := NewPlan(sd, Mappings{Run: map[string]string{"classifier": fmt.Sprintf("env %s=1 '%s'", modelEnv, os.Args[0])}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Apply(next); err != nil {
		t.Fatal(err)
	}
	settle(t, rt)
	if c := rt.Status().Components[0]; c.Replicas != 1 || c.Ready != 1 || c.ScaledToZero || c.MinReplicas != 1 {
		t.Errorf("after the edit: %d replicas (%d ready), scaled to zero %v, minReplicas %d; want 1, 1, false, 1",
			c.Replicas, c.Ready, c.ScaledToZero, c.MinReplicas)
	}
}
