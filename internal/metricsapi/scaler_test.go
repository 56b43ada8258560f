package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/resources"
)

// fakeLoad serves GET /load with the figures the test sets (or a 500).
type fakeLoad struct {
	mu       sync.Mutex
	inFlight int64
	rps      float64
	down     bool
}

func (f *fakeLoad) set(inFlight int64, rps float64, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight, f.rps, f.down = inFlight, rps, down
}

func (f *fakeLoad) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(executor.Load{Deployment: "requests-to-zero", Predictor: "default",
		Nodes: []executor.NodeLoad{{Name: "classifier", InFlight: f.inFlight, RequestsPerSecond: f.rps}}})
}

type scalerFixture struct {
	cl    client.Client
	s     *Scaler
	load  *fakeLoad
	rec   *events.FakeRecorder
	dep   client.ObjectKey
	clock time.Time
}

// newScalerFixture: the example requests-to-zero with its Deployment at
// replicas and its HPA wanting desired, one executor (fakeLoad), a 1 min
// idle window and a clock the test moves.
func newScalerFixture(t *testing.T, replicas, desired int32) *scalerFixture {
	t.Helper()
	sd := readExample(t, "requests-to-zero.json", "ns")
	res, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dep, hpa := res.Deployments[0], res.HPAs[0]
	dep.Spec.Replicas = &replicas
	hpa.Status.DesiredReplicas = desired
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sd, dep, hpa).WithStatusSubresource(hpa).Build()
	load := &fakeLoad{}
	srv := httptest.NewServer(load)
	t.Cleanup(srv.Close)
	f := &scalerFixture{cl: cl, load: load, rec: events.NewFakeRecorder(10),
		dep: client.ObjectKeyFromObject(dep), clock: time.Unix(1_000_000, 0)}
	f.s = &Scaler{
		Provider:          &Provider{Client: cl, ExecutorAddress: strings.TrimPrefix(srv.URL, "http://")},
		SeldonDeployments: cl, Reader: cl, Client: cl, Events: f.rec,
		Idle: time.Minute, Poll: time.Second,
		Now: func() time.Time { return f.clock },
	}
	return f
}

// step moves the clock by d and polls once; it returns the replicas after.
func (f *scalerFixture) step(t *testing.T, d time.Duration) int32 {
	t.Helper()
	f.clock = f.clock.Add(d)
	if err := f.s.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := f.cl.Get(context.Background(), f.dep, &dep); err != nil {
		t.Fatal(err)
	}
	return *dep.Spec.Replicas
}

func (f *scalerFixture) event(t *testing.T) string {
	t.Helper()
	select {
	case e := <-f.rec.Events:
		return e
	default:
		return ""
	}
}

// At 0 replicas, a request in flight (held) brings 1 replica and a
// ScaledFromZero Event; without one nothing is written.
func TestScalerFromZero(t *testing.T) {
	f := newScalerFixture(t, 0, 1)
	if got := f.step(t, time.Second); got != 0 {
		t.Fatalf("no request: %d replicas, want 0", got)
	}
	if e := f.event(t); e != "" {
		t.Fatalf("no request: event %q", e)
	}
	f.load.set(3, 0, false)
	if got := f.step(t, time.Second); got != 1 {
		t.Fatalf("3 held: %d replicas, want 1", got)
	}
	if e := f.event(t); !strings.Contains(e, ReasonScaledFromZero) || !strings.Contains(e, "3 request(s) in flight") {
		t.Fatalf("event %q, want %s with the count", e, ReasonScaledFromZero)
	}
}

// At 1 replica the Deployment goes to 0 only after a whole idle window of
// polls that all saw 0 in flight and 0 per second from every executor,
// and only while the HPA wants at most 1.
func TestScalerToZeroAfterTheIdleWindow(t *testing.T) {
	f := newScalerFixture(t, 1, 1)
	f.step(t, 0) // the idle run starts
	if got := f.step(t, 59*time.Second); got != 1 {
		t.Fatalf("idle 59s of 60s: %d replicas, want 1", got)
	}
	// A request per second restarts the window; so does an executor that
	// does not answer, and a request in flight.
	for _, c := range []struct {
		name     string
		inFlight int64
		rps      float64
		down     bool
	}{{"rps", 0, 0.1, false}, {"executor down", 0, 0, true}, {"in flight", 1, 0, false}} {
		f.load.set(c.inFlight, c.rps, c.down)
		if got := f.step(t, time.Second); got != 1 {
			t.Fatalf("%s: %d replicas, want 1", c.name, got)
		}
		f.load.set(0, 0, false)
		f.step(t, time.Second) // a new idle run starts here
		if got := f.step(t, 59*time.Second); got != 1 {
			t.Fatalf("%s, then idle 59s: %d replicas, want 1", c.name, got)
		}
	}
	if e := f.event(t); e != "" {
		t.Fatalf("event before the window ended: %q", e)
	}
	// The HPA wants 2 (it has not caught up): not yet.
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := f.cl.Get(context.Background(), f.dep, &hpa); err != nil {
		t.Fatal(err)
	}
	hpa.Status.DesiredReplicas = 2
	if err := f.cl.Status().Update(context.Background(), &hpa); err != nil {
		t.Fatal(err)
	}
	if got := f.step(t, time.Second); got != 1 {
		t.Fatalf("HPA desired 2: %d replicas, want 1", got)
	}
	hpa.Status.DesiredReplicas = 1
	if err := f.cl.Status().Update(context.Background(), &hpa); err != nil {
		t.Fatal(err)
	}
	if got := f.step(t, time.Second); got != 0 {
		t.Fatalf("idle 60s, HPA desired 1: %d replicas, want 0", got)
	}
	if e := f.event(t); !strings.Contains(e, ReasonScaledToZero) {
		t.Fatalf("event %q, want %s", e, ReasonScaledToZero)
	}
}

// Counts the HPA owns (2 and more) are never written, idle or not; nor is
// 1 without an HPA.
func TestScalerLeavesOtherCountsAlone(t *testing.T) {
	f := newScalerFixture(t, 3, 1)
	f.load.set(5, 0, false)
	if got := f.step(t, time.Second); got != 3 {
		t.Fatalf("busy at 3: %d replicas", got)
	}
	f.load.set(0, 0, false)
	f.step(t, 0)
	if got := f.step(t, time.Hour); got != 3 {
		t.Fatalf("idle at 3: %d replicas", got)
	}
	g := newScalerFixture(t, 1, 1)
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := g.cl.Get(context.Background(), g.dep, &hpa); err != nil {
		t.Fatal(err)
	}
	if err := g.cl.Delete(context.Background(), &hpa); err != nil {
		t.Fatal(err)
	}
	g.step(t, 0)
	if got := g.step(t, time.Hour); got != 1 {
		t.Fatalf("idle at 1 without an HPA: %d replicas", got)
	}
	if e := f.event(t) + g.event(t); e != "" {
		t.Fatalf("events: %q", e)
	}
}

// A component whose minReplicas is 1 is not the scaler's.
func TestScalerOnlyMinReplicasZero(t *testing.T) {
	f := newScalerFixture(t, 0, 1)
	var sd sdepv1.SeldonDeployment
	if err := f.cl.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "requests-to-zero"}, &sd); err != nil {
		t.Fatal(err)
	}
	sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas = new(int32(1))
	if err := f.cl.Update(context.Background(), &sd); err != nil {
		t.Fatal(err)
	}
	f.load.set(4, 0, false)
	if got := f.step(t, time.Second); got != 0 {
		t.Fatalf("minReplicas 1, at 0 with requests: %d replicas, want 0 (not the scaler's)", got)
	}
}

func TestCheckScalerFlags(t *testing.T) {
	if err := CheckScalerFlags(DefaultScaleToZeroIdle, DefaultScaleToZeroPoll); err != nil {
		t.Fatal(err)
	}
	err := CheckScalerFlags(0, -time.Second)
	if err == nil || !strings.Contains(err.Error(), "--scale-to-zero-idle") || !strings.Contains(err.Error(), "--scale-to-zero-poll") {
		t.Fatalf("err = %v, want both flags named", err)
	}
}

// A write that races another (the HPA's, between the scaler's read and its
// update) carries the resourceVersion the scaler read, so it fails with a
// conflict (checked here as the API server does; the fake client does not):
// the other count stays, no Event is recorded, and the next poll reads it
// and leaves it alone.
func TestScalerLosesARaceToTheHPA(t *testing.T) {
	f := newScalerFixture(t, 0, 1)
	raced := false
	f.s.Client = interceptor.NewClient(f.cl.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			var o client.SubResourceUpdateOptions
			o.ApplyOptions(opts)
			body, ok := o.SubResourceBody.(*autoscalingv1.Scale)
			if sub != "scale" || !ok {
				return fmt.Errorf("update of %q with a %T body, want the scale subresource", sub, o.SubResourceBody)
			}
			if !raced {
				raced = true
				// The HPA's write, in between.
				var sc autoscalingv1.Scale
				if err := c.SubResource("scale").Get(ctx, obj, &sc); err != nil {
					return err
				}
				sc.Spec.Replicas = 3
				if err := c.SubResource("scale").Update(ctx, obj, client.WithSubResourceBody(&sc)); err != nil {
					return err
				}
			}
			var cur appsv1.Deployment
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &cur); err != nil {
				return err
			}
			// No resourceVersion: an unconditional write, which would win.
			if body.ResourceVersion != "" && body.ResourceVersion != cur.ResourceVersion {
				return apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, obj.GetName(),
					fmt.Errorf("resourceVersion %q, now %q", body.ResourceVersion, cur.ResourceVersion))
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	f.load.set(2, 0, false)
	if got := f.step(t, time.Second); got != 3 {
		t.Fatalf("after the race: %d replicas, want the HPA's 3", got)
	}
	if !raced {
		t.Fatal("the scaler did not write")
	}
	if e := f.event(t); e != "" {
		t.Fatalf("event after a lost race: %q", e)
	}
	if got := f.step(t, time.Second); got != 3 {
		t.Fatalf("the next poll: %d replicas, want 3", got)
	}
}

// frozenDeployment is a Reader that lags: it shows the Deployment as it
// was (while dep is set), and reads everything else from the Reader.
type frozenDeployment struct {
	client.Reader
	dep *appsv1.Deployment
}

func (r *frozenDeployment) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if d, ok := obj.(*appsv1.Deployment); ok && r.dep != nil {
		r.dep.DeepCopyInto(d)
		return nil
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// A Reader (the informer cache) that has not seen the scaler's own write
// yet shows the count and the resourceVersion the write was made against:
// the scaler leaves the component alone rather than write again (a write
// that could only conflict), and goes on once the Reader has caught up.
func TestScalerWaitsForItsReaderToSeeItsWrite(t *testing.T) {
	f := newScalerFixture(t, 0, 1)
	var before appsv1.Deployment
	if err := f.cl.Get(context.Background(), f.dep, &before); err != nil {
		t.Fatal(err)
	}
	frozen := &frozenDeployment{Reader: f.cl, dep: &before}
	f.s.Reader = frozen
	writes := 0
	f.s.Client = interceptor.NewClient(f.cl.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes++
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	f.load.set(3, 0, false)
	if got := f.step(t, time.Second); got != 1 {
		t.Fatalf("3 held: %d replicas, want 1", got)
	}
	for range 3 {
		if got := f.step(t, time.Second); got != 1 {
			t.Fatalf("the Reader behind: %d replicas, want 1", got)
		}
	}
	if writes != 1 {
		t.Fatalf("%d writes while the Reader was behind the first, want 1", writes)
	}
	frozen.dep = nil
	if got := f.step(t, time.Second); got != 1 || writes != 1 {
		t.Fatalf("the Reader caught up: %d replicas after %d writes, want 1 and 1", got, writes)
	}
	if e := f.event(t); !strings.Contains(e, ReasonScaledFromZero) {
		t.Fatalf("event %q, want %s", e, ReasonScaledFromZero)
	}
	if e := f.event(t); e != "" {
		t.Fatalf("a second event: %q", e)
	}
	// Caught up, the scaler acts again: idle, the HPA at 1, a window later.
	f.load.set(0, 0, false)
	f.step(t, 0)
	if got := f.step(t, time.Minute); got != 0 || writes != 2 {
		t.Fatalf("idle a window: %d replicas after %d writes, want 0 and 2", got, writes)
	}
}
