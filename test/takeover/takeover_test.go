package takeover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/testenv"
)

const (
	timeout       = 90 * time.Second
	executorImage = "sdep:takeover"
)

// TestTakeoverFromSeldonCore118 starts sdep's operator on a SeldonDeployment
// whose Deployment, Services, HPA and PDB the Seldon Core 1.18 operator made, with
// the pods running that the HPA chose (3; and 10, where upstream's
// maxUnavailable 10% would let one go unavailable), and checks, on the real Deployment,
// ReplicaSet and HPA controllers, that sdep adopts them in place:
//
//   - nothing is deleted or made again (every UID is the same, no DELETE);
//   - the Deployment keeps upstream's selector and its replicas, and no
//     write of sdep's carries spec.replicas (the HPA owns it);
//   - the pods roll once, to sdep's executor, with maxUnavailable 0: summed
//     over the Deployment's ReplicaSets, as the watch reports them, the
//     available pods never drop below the count there was before;
//   - the new pods carry the labels upstream's Services select;
//   - one Adopt event per object, and later reconciles write nothing.
func TestTakeoverFromSeldonCore118(t *testing.T) {
	for _, n := range []int32{3, 10} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) { testTakeover(t, n) })
	}
}

func testTakeover(t *testing.T, liveReplicas int32) {
	ctx := context.Background()
	ns := newNamespace(t, "takeover")
	// Every pod requests 1 CPU (classifier and executor 500m each, upstream's
	// and sdep's alike): 500m in use is the HPA's 50% target, so it keeps
	// the count it has.
	cluster.SetCPU(ns, resource.MustParse("500m"))

	sd := seldonModel(ns, 2*liveReplicas)
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs once the operator has stopped: the
	// garbage collector then removes the children and frees the node's
	// CPU for the next case (-count=N runs them all again).
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), sd, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Errorf("deleting the SeldonDeployment: %v", err)
		}
	})
	children := upstreamChildren(t, sd, liveReplicas)
	for _, obj := range children {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s as Seldon Core leaves it: %v", obj.GetName(), err)
		}
	}
	dep := &appsv1.Deployment{}
	depKey := client.ObjectKey{Namespace: ns, Name: upstreamDep}
	testenv.WaitForExplained(t, timeout, "upstream's Deployment rolled out", func() error {
		if err := k8s.Get(ctx, depKey, dep); err != nil {
			return err
		}
		return rolledOut(dep, liveReplicas)
	}, exitedProcesses)
	testenv.WaitForExplained(t, timeout, "the HPA to measure the pods and keep their count", func() error {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: upstreamDep}, hpa); err != nil {
			return err
		}
		if len(hpa.Status.CurrentMetrics) == 0 || hpa.Status.DesiredReplicas != liveReplicas {
			return fmt.Errorf("HPA status %+v", hpa.Status)
		}
		return nil
	}, exitedProcesses)
	uids := map[string]types.UID{}
	for _, obj := range children {
		live := obj.DeepCopyObject().(client.Object)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
			t.Fatal(err)
		}
		uids[kindName(live)] = live.GetUID()
	}
	upstreamSelector := dep.Spec.Selector.DeepCopy()

	rollout := watchRollout(t, ns, dep)

	writes := &writeLog{}
	testenv.RunOperator(t, cluster.Config, testenv.OperatorOptions{
		Namespace:     ns,
		ExecutorImage: executorImage,
		WrapTransport: writes.wrap,
	})

	testenv.WaitForExplained(t, timeout, "sdep's pods rolled out", func() error {
		if err := k8s.Get(ctx, depKey, dep); err != nil {
			return err
		}
		if dep.UID != uids[kindName(dep)] {
			t.Fatalf("the Deployment was made again: UID %s, was %s", dep.UID, uids[kindName(dep)])
		}
		if img := executorImageOf(dep); img != executorImage {
			return fmt.Errorf("executor image %q", img)
		}
		return rolledOut(dep, liveReplicas)
	}, exitedProcesses)
	testenv.WaitFor(t, timeout, "the SeldonDeployment Available", func() error {
		got := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(sd), got); err != nil {
			return err
		}
		if got.Status.State != sdepv1.StateAvailable {
			return fmt.Errorf("state %q: %s", got.Status.State, got.Status.Description)
		}
		return nil
	})
	// The old ReplicaSet at 0: the last step of the rollout.
	testenv.WaitFor(t, timeout, "the old ReplicaSet scaled to 0", func() error {
		return rollout.oldScaledDown()
	})
	trace := rollout.stop()

	// Nothing deleted, nothing made again.
	for _, obj := range children {
		live := obj.DeepCopyObject().(client.Object)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
			t.Fatal(err)
		}
		if live.GetUID() != uids[kindName(live)] {
			t.Errorf("%s was made again: UID %s, was %s", kindName(live), live.GetUID(), uids[kindName(live)])
		}
		if live.GetAnnotations()[controller.AnnotationAdopted] != "true" {
			t.Errorf("%s has no %s annotation: %v", kindName(live), controller.AnnotationAdopted, live.GetAnnotations())
		}
	}
	for _, w := range writes.all() {
		if strings.HasPrefix(w.method, http.MethodDelete) {
			t.Errorf("sdep deleted something: %s %s", w.method, w.path)
		}
	}

	// The selector and the replicas kept; the HPA not fought.
	if !equality.Semantic.DeepEqual(dep.Spec.Selector, upstreamSelector) {
		t.Errorf("selector %v, was %v", dep.Spec.Selector, upstreamSelector)
	}
	if vals := trace.specReplicas; slices.ContainsFunc(vals, func(v int32) bool { return v != liveReplicas }) {
		t.Errorf("spec.replicas took the values %v, want only %d", vals, liveReplicas)
	}
	depWrites := 0
	for _, w := range writes.all() {
		if !strings.Contains(w.path, "/deployments/") {
			continue
		}
		depWrites++
		if writesReplicas(w.body) {
			t.Errorf("a write of sdep's sets spec.replicas: %s %s", w.method, w.body)
		}
	}
	if depWrites == 0 {
		t.Error("sdep never wrote the Deployment: nothing was adopted")
	}

	// The rollout: once, with no pod unavailable.
	ru := dep.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("strategy %+v, want maxUnavailable 0", dep.Spec.Strategy)
	} else {
		t.Logf("rollout strategy: %s maxUnavailable=%s maxSurge=%s", dep.Spec.Strategy.Type, ru.MaxUnavailable, ru.MaxSurge)
	}
	t.Logf("ReplicaSets during the takeover (%d events):\n%s", len(trace.lines), strings.Join(trace.lines, "\n"))
	if trace.replicaSets != 2 {
		t.Errorf("%d ReplicaSets, want 2: upstream's and sdep's (one roll)", trace.replicaSets)
	}
	if trace.minAvailable < liveReplicas {
		t.Errorf("available pods dropped to %d during the takeover, below the %d before", trace.minAvailable, liveReplicas)
	}
	t.Logf("available pods: never below %d (there were %d before)", trace.minAvailable, liveReplicas)

	// The new pods are still what upstream's Services select.
	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{upstreamPredSvc, upstreamModelSvc} {
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			t.Fatal(err)
		}
		selected := int32(0)
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
				selected++
				if img := podExecutorImage(&p); img != executorImage {
					t.Errorf("Service %s selects pod %s running executor %q", name, p.Name, img)
				}
			}
		}
		if selected != liveReplicas {
			t.Errorf("Service %s (selector %v) selects %d pods, want %d", name, svc.Spec.Selector, selected, liveReplicas)
		}
	}
	for _, p := range pods.Items {
		for _, key := range []string{"seldon-app", "seldon-app-svc-classifier", "seldon-deployment-id", "app", "fluentd", "version", "seldon.io/model", "app.kubernetes.io/managed-by"} {
			if _, ok := p.Labels[key]; !ok && p.DeletionTimestamp == nil {
				t.Errorf("pod %s lacks upstream's label %s: %v", p.Name, key, p.Labels)
			}
		}
	}

	// One event per adopted object, and no other write announced. (Other
	// events may come: the HPA briefly missing a new pod's metrics makes
	// HpasReady false for a moment, and sdep says so.)
	wantAdopted := map[string]int{"AdoptDeployment": 1, "AdoptService": 2, "AdoptHorizontalPodAutoscaler": 1, "AdoptPodDisruptionBudget": 1}
	testenv.WaitFor(t, timeout, "one Adopt event per object", func() error {
		got := eventReasons(t, ns)
		adopted := map[string]int{}
		for reason, n := range got {
			for _, verb := range []string{"Adopt", "Create", "Update", "Delete"} {
				if strings.HasPrefix(reason, verb) {
					adopted[reason] = n
				}
			}
		}
		if !maps.Equal(adopted, wantAdopted) {
			return fmt.Errorf("events %v, want %v and no other write", got, wantAdopted)
		}
		return nil
	})

	list := &eventsv1.EventList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.Reason == "AdoptDeployment" {
			t.Logf("event %s: %s", e.Reason, e.Note)
			if !strings.Contains(e.Note, "replaced once") {
				t.Errorf("the AdoptDeployment event does not say the pods roll: %q", e.Note)
			}
		}
	}

	// Later reconciles write nothing.
	touch := func(i int) {
		t.Helper()
		before := reconcileCount(t)
		patch := fmt.Sprintf(`{"metadata":{"labels":{"example.com/touched":"t%d"}}}`, i)
		if err := k8s.Patch(ctx, &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sdName}},
			client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, timeout, "a reconcile after the touch", func() error {
			if reconcileCount(t) <= before {
				return fmt.Errorf("no reconcile yet")
			}
			return nil
		})
	}
	// Let the status of the last rollout step arrive first.
	settled := false
	for i := range 10 {
		before := writes.count()
		touch(i)
		if writes.count() == before {
			settled = true
			break
		}
	}
	if !settled {
		t.Fatalf("every reconcile after the takeover writes: %v", writes.all())
	}
	before := writes.count()
	for i := range 5 {
		touch(100 + i)
	}
	if n := writes.count() - before; n != 0 {
		t.Errorf("%d writes in 5 reconciles after the takeover: %v", n, writes.all()[before:])
	}
}

// rolledOut reports whether d runs n pods of its latest template, all available.
func rolledOut(d *appsv1.Deployment, n int32) error {
	st := d.Status
	if d.Spec.Replicas == nil || *d.Spec.Replicas != n || st.ObservedGeneration < d.Generation ||
		st.UpdatedReplicas != n || st.AvailableReplicas != n || st.Replicas != n {
		return fmt.Errorf("status replicas=%d updated=%d available=%d (generation %d observed %d)",
			st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, d.Generation, st.ObservedGeneration)
	}
	return nil
}

func executorImageOf(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "seldon-container-engine" {
			return c.Image
		}
	}
	return ""
}

func podExecutorImage(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == "seldon-container-engine" {
			return c.Image
		}
	}
	return ""
}

func kindName(obj client.Object) string {
	return fmt.Sprintf("%T %s", obj, obj.GetName())
}

// writesReplicas reports whether a patch or update body sets spec.replicas.
func writesReplicas(body string) bool {
	var doc struct {
		Spec map[string]json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return true // unreadable: count it against sdep
	}
	_, ok := doc.Spec["replicas"]
	return ok
}

// rolloutWatch follows the Deployment and its ReplicaSets from before the
// operator starts, as the watch delivers them, in resourceVersion order.
type rolloutWatch struct {
	mu        sync.Mutex
	depUID    types.UID
	available map[types.UID]int32
	replicas  map[types.UID]int32 // spec.replicas per ReplicaSet
	trace     rolloutTrace
	cancel    context.CancelFunc
	done      chan struct{}
}

type rolloutTrace struct {
	minAvailable int32
	replicaSets  int
	specReplicas []int32
	lines        []string
}

func watchRollout(t *testing.T, ns string, dep *appsv1.Deployment) *rolloutWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rw := &rolloutWatch{depUID: dep.UID, available: map[types.UID]int32{}, replicas: map[types.UID]int32{}, cancel: cancel, done: make(chan struct{})}
	rw.trace.minAvailable = 1 << 30
	rw.trace.specReplicas = []int32{*dep.Spec.Replicas}
	list, err := clientset.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		rw.observe(&list.Items[i])
	}
	rsWatch, err := clientset.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	depWatch, err := clientset.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: dep.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(rw.done)
		defer rsWatch.Stop()
		defer depWatch.Stop()
		for {
			select {
			case ev, ok := <-rsWatch.ResultChan():
				if !ok {
					return
				}
				if rs, isRS := ev.Object.(*appsv1.ReplicaSet); isRS {
					if ev.Type == watch.Deleted {
						rs.Status.AvailableReplicas = 0
					}
					rw.observe(rs)
				}
			case ev, ok := <-depWatch.ResultChan():
				if !ok {
					return
				}
				if d, isDep := ev.Object.(*appsv1.Deployment); isDep && d.UID == rw.depUID && d.Spec.Replicas != nil {
					rw.mu.Lock()
					if ev.Type == watch.Deleted {
						rw.trace.lines = append(rw.trace.lines, "the Deployment was deleted")
					}
					if last := rw.trace.specReplicas[len(rw.trace.specReplicas)-1]; last != *d.Spec.Replicas {
						rw.trace.specReplicas = append(rw.trace.specReplicas, *d.Spec.Replicas)
					}
					rw.mu.Unlock()
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { rw.stop() })
	return rw
}

func (rw *rolloutWatch) observe(rs *appsv1.ReplicaSet) {
	if !metav1.IsControlledBy(rs, &metav1.ObjectMeta{UID: rw.depUID}) {
		return
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if _, seen := rw.available[rs.UID]; !seen {
		rw.trace.replicaSets++
	}
	rw.available[rs.UID] = rs.Status.AvailableReplicas
	rw.replicas[rs.UID] = *rs.Spec.Replicas
	var sum int32
	for _, n := range rw.available {
		sum += n
	}
	rw.trace.minAvailable = min(rw.trace.minAvailable, sum)
	line := fmt.Sprintf("  %s: spec.replicas=%d available=%d | available in all: %d", rs.Name, *rs.Spec.Replicas, rs.Status.AvailableReplicas, sum)
	if n := len(rw.trace.lines); n == 0 || rw.trace.lines[n-1] != line {
		rw.trace.lines = append(rw.trace.lines, line)
	}
}

// oldScaledDown reports whether every ReplicaSet but one wants no pods.
func (rw *rolloutWatch) oldScaledDown() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	running := 0
	for uid, n := range rw.replicas {
		if n > 0 || rw.available[uid] > 0 {
			running++
		}
	}
	if running != 1 || len(rw.replicas) < 2 {
		return fmt.Errorf("%d ReplicaSets, %d with pods", len(rw.replicas), running)
	}
	return nil
}

// stop ends the watch and returns what it saw.
func (rw *rolloutWatch) stop() rolloutTrace {
	rw.cancel()
	<-rw.done
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.trace
}

// writeLog records the operator's requests that change something (not
// GET, LIST, WATCH; not its leader-election Lease).
type writeLog struct {
	mu     sync.Mutex
	writes []write
}

type write struct{ method, path, body string }

func (l *writeLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet && !strings.Contains(req.URL.Path, "/leases") {
			w := write{method: req.Method, path: req.URL.Path}
			if req.GetBody != nil {
				if rc, err := req.GetBody(); err == nil {
					data, _ := io.ReadAll(rc)
					_ = rc.Close()
					w.body = string(data)
				}
			}
			if q := req.URL.Query().Get("dryRun"); q != "" {
				w.method += " (dry-run)"
			}
			l.mu.Lock()
			l.writes = append(l.writes, w)
			l.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (l *writeLog) all() []write {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.writes)
}

func (l *writeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.writes)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func exitedProcesses() string {
	if exited := cluster.Exited(); exited != nil {
		return exited.Error()
	}
	return ""
}

// eventReasons counts the events about the SeldonDeployment by reason.
func eventReasons(t *testing.T, ns string) map[string]int {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range list.Items {
		if e.Regarding.Kind == "SeldonDeployment" && e.Regarding.Name == sdName {
			n := 1
			if e.Series != nil {
				n = int(e.Series.Count)
			}
			counts[e.Reason] += n
		}
	}
	return counts
}

// reconcileCount is how many reconciles the operators of this process ran.
func reconcileCount(t *testing.T) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller.Name {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
