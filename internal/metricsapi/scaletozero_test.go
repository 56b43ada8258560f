package metricsapi

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// metricsAPIUser is the user the metrics API runs as in these tests.
const metricsAPIUser = "metrics-api-test"

// testIdleWindow is --scale-to-zero-idle in the control-plane tests.
const testIdleWindow = 3 * time.Second

// zeroRig is the control plane, the example requests-to-zero (maxReplicas
// 10, target 2 in flight), an executor in this process that holds the
// component's requests while it has no Ready pod, and the metrics API.
type zeroRig struct {
	c      *devcluster.Cluster
	cl     client.Client
	ns     string
	sd     *sdepv1.SeldonDeployment
	dep    *appsv1.Deployment
	hpa    *autoscalingv2.HorizontalPodAutoscaler
	e      *executor.Executor
	url    string // the executor's prediction URL
	mocks  *mockPods
	writes *replicaWrites
	period time.Duration
}

// startZeroRig starts it all; prepare changes the rendered Deployment and
// HPA before they are created, and metricsFlags go to the metrics API.
func startZeroRig(ctx context.Context, t *testing.T, prepare func(*appsv1.Deployment, *autoscalingv2.HorizontalPodAutoscaler), metricsFlags ...string) *zeroRig {
	t.Helper()
	r := &zeroRig{ns: "zero", period: hpaSyncPeriod(t)}
	var err error
	r.c, err = devcluster.Start(ctx, devcluster.Options{
		Metrics:                devcluster.MetricsNone,
		HPASyncPeriod:          r.period,
		DownscaleStabilization: 5 * time.Second,
		CRDDirectoryPaths:      []string{filepath.Join("..", "..", "config", "crd", "bases")},
		Dir:                    t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.c.Stop() })
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), sdepv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	if r.cl, err = client.New(r.c.Config, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	if err := r.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}); err != nil {
		t.Fatal(err)
	}
	r.sd = readExample(t, "requests-to-zero.json", r.ns)
	if got := r.sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MaxReplicas; got != 10 {
		t.Fatalf("the example's maxReplicas is %d, want 10", got)
	}
	if err := r.cl.Create(ctx, r.sd); err != nil {
		t.Fatal(err)
	}
	res, err := resources.Build(r.sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The component's Deployment and HPA; the executor runs in this
	// process, so no executor Deployment is created.
	r.dep, r.hpa = componentObjects(t, res, naming.DeploymentName(res.SeldonDeployment, &res.SeldonDeployment.Spec.Predictors[0], 0))
	prepare(r.dep, r.hpa)

	r.e, err = executor.New(res.SeldonDeployment.Spec.Predictors[0], executor.WithDeploymentName(r.sd.Name), executor.WithEmptyEndpointSets())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.e.Close)
	es := httptest.NewServer(r.e.Handler(executor.HandlerOptions{}))
	t.Cleanup(es.Close)
	r.url = es.URL + "/api/v1.0/predictions"
	set, _ := r.e.EndpointSet("classifier")
	r.mocks = &mockPods{set: set, servers: map[string]*httptest.Server{}}
	t.Cleanup(r.mocks.closeAll)
	go r.mocks.follow(ctx, r.cl, r.ns, r.dep.Spec.Selector.MatchLabels)

	// The metrics API reads and writes as a user of its own, so that its
	// writes are told from kube-controller-manager's (the cluster's admin).
	u, err := r.c.Env.AddUser(envtest.User{Name: metricsAPIUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(r.c.Dir, "metrics-api-user.kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	startMetricsAPI(ctx, t, r.c, strings.TrimPrefix(es.URL, "http://"), append([]string{"--lister-kubeconfig=" + kcPath}, metricsFlags...)...)

	cs, err := kubernetes.NewForConfig(r.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	r.writes = recordReplicaWrites(ctx, t, cs, r.ns, r.dep.Name)
	if err := r.cl.Create(ctx, r.dep); err != nil {
		t.Fatal(err)
	}
	if err := r.cl.Create(ctx, r.hpa); err != nil {
		t.Fatal(err)
	}
	return r
}

// componentObjects are the rendered Deployment and HPA named name.
func componentObjects(t *testing.T, res *resources.Result, name string) (*appsv1.Deployment, *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	var dep *appsv1.Deployment
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	for _, d := range res.Deployments {
		if d.Name == name {
			dep = d
		}
	}
	for _, h := range res.HPAs {
		if h.Name == name {
			hpa = h
		}
	}
	if dep == nil || hpa == nil {
		t.Fatalf("no Deployment and HPA %q among the rendered objects", name)
	}
	return dep, hpa
}

// heldRequest sends one request and reports its error (nil: 200) when
// answered.
func (r *zeroRig) heldRequest() <-chan error {
	done := make(chan error, 1)
	go func() {
		resp, err := loadClient.Post(r.url, "application/json", strings.NewReader(`{"data":{"ndarray":[[1,2,3,4]]}}`))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
		}
		done <- err
	}()
	return done
}

// waitHeld waits until the executor reports a request in flight for the
// component while its Deployment still has 0 replicas: the request is held.
func (r *zeroRig) waitHeld(ctx context.Context, t *testing.T) {
	t.Helper()
	err := testenv.Poll(ctx, 5*time.Second, "the request to be held", func() error {
		if n := r.inFlight(); n == 0 {
			return errors.New("nothing in flight")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (r *zeroRig) inFlight() int64 {
	n, _, _ := executor.ComponentLoad([]executor.Load{r.e.Load()}, r.sd.Spec.Predictors[0].Name, map[string]bool{"classifier": true})
	return n
}

// replicaWrite is one write to a Deployment's spec.replicas (an update of
// the Deployment or of its scale subresource) as the API server's admission
// saw it: the count before and after, and who wrote it (the write's
// fieldManager and user, "manager as user", or the user alone).
type replicaWrite struct {
	at       time.Time
	from, to int32
	manager  string
}

func (w replicaWrite) String() string {
	return fmt.Sprintf("%d→%d by %s", w.from, w.to, w.manager)
}

// replicaWrites records the writes to one Deployment's spec.replicas: a
// validating admission webhook (on loopback, failurePolicy Fail, so a write
// it did not see did not happen) for updates of deployments and
// deployments/scale, which allows all and keeps those that change
// spec.replicas.
type replicaWrites struct {
	ns, name string
	mu       sync.Mutex
	list     []replicaWrite
}

func (w *replicaWrites) all() []replicaWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// anyCount as waitFor's from matches any count.
const anyCount = -1

// waitFor waits for a write from `from` (or anyCount) to `to` replicas and
// returns the latest one.
func (w *replicaWrites) waitFor(ctx context.Context, t *testing.T, from, to int32, timeout time.Duration) replicaWrite {
	t.Helper()
	var found replicaWrite
	err := testenv.Poll(ctx, timeout, fmt.Sprintf("spec.replicas %d→%d", from, to), func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i := len(w.list) - 1; i >= 0; i-- {
			if (from == anyCount || w.list[i].from == from) && w.list[i].to == to {
				found = w.list[i]
				return nil
			}
		}
		return fmt.Errorf("writes so far: %v", w.list)
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func (w *replicaWrites) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(io.LimitReader(req.Body, 4<<20)).Decode(&review); err != nil || review.Request == nil {
		http.Error(rw, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	r := review.Request
	if r.Namespace == w.ns && r.Name == w.name {
		var opts struct {
			FieldManager string `json:"fieldManager"`
		}
		_ = json.Unmarshal(r.Options.Raw, &opts)
		who := r.UserInfo.Username
		if opts.FieldManager != "" {
			who = opts.FieldManager + " as " + who
		}
		from, to := specReplicas(r.OldObject.Raw), specReplicas(r.Object.Raw)
		if from != to {
			w.mu.Lock()
			w.list = append(w.list, replicaWrite{at: time.Now(), from: from, to: to, manager: who})
			w.mu.Unlock()
		}
	}
	review.Response = &admissionv1.AdmissionResponse{UID: r.UID, Allowed: true}
	review.Request = nil
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(&review)
}

// specReplicas is spec.replicas of a Deployment or a Scale (a Scale omits
// 0).
func specReplicas(raw []byte) int32 {
	var o struct {
		Spec struct {
			Replicas *int32 `json:"replicas"`
		} `json:"spec"`
	}
	if json.Unmarshal(raw, &o) != nil || o.Spec.Replicas == nil {
		return 0
	}
	return *o.Spec.Replicas
}

// recordReplicaWrites starts the webhook and registers it.
func recordReplicaWrites(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *replicaWrites {
	t.Helper()
	w := &replicaWrites{ns: ns, name: name}
	srv := httptest.NewUnstartedServer(w)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the API server's dropped connections
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	scope := admissionregistrationv1.NamespacedScope
	url := srv.URL + "/"
	_, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "record-replica-writes"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "replicas.record.test",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"},
					Resources: []string{"deployments", "deployments/scale"}, Scope: &scope},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestScaleFromZeroAndBack is scale to zero on the real control plane: the
// HPA controller of kube-controller-manager (minReplicas 1) and the
// metrics API with its scaler (--scale-to-zero-idle testIdleWindow). The
// component starts at 0 replicas. One request is held by the executor and
// must bring the Deployment to 1 replica within 2 s, then be answered;
// load at concurrency 8 gives 4 replicas (target 2); once idle the HPA
// brings it to 1 and the scaler to 0. An admission webhook records every
// write that changes spec.replicas with its field manager (or user): the
// scaler must have made exactly the 0→1 and the 1→0 and nothing else, and
// the HPA controller every other write.
func TestScaleFromZeroAndBack(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (the local control plane's binaries)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := startZeroRig(ctx, t, func(dep *appsv1.Deployment, hpa *autoscalingv2.HorizontalPodAutoscaler) {
		// The operator's rendering for minReplicas 0, used as is: the
		// Deployment starts at 0 and the HPA's minimum is 1.
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 {
			t.Fatalf("rendered Deployment: replicas %v, want 0", dep.Spec.Replicas)
		}
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 1 {
			t.Fatalf("rendered HPA: minReplicas %v, want 1", hpa.Spec.MinReplicas)
		}
	}, "--scale-to-zero-idle="+testIdleWindow.String())

	// At 0 the HPA stands aside (ScalingActive false) and nothing moves.
	err := testenv.Poll(ctx, time.Minute, "the HPA to see the target at zero", func() error {
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := r.cl.Get(ctx, client.ObjectKeyFromObject(r.hpa), &h); err != nil {
			return err
		}
		for _, c := range h.Status.Conditions {
			if c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionFalse {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", h.Status.Conditions)
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * r.period)
	if got := replicas(ctx, t, r.cl, r.ns, r.dep.Name); got != 0 {
		t.Fatalf("%d replicas before any request, want 0", got)
	}

	// 0→1: one held request.
	sent := time.Now()
	answered := r.heldRequest()
	r.waitHeld(ctx, t)
	up := r.writes.waitFor(ctx, t, 0, 1, 30*time.Second)
	wake := up.at.Sub(sent)
	t.Logf("0→1 %s after the held request (by %s)", wake.Round(10*time.Millisecond), up.manager)
	if wake > 2*time.Second {
		t.Errorf("0→1 took %s after the first held request, want at most 2s", wake)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("the held request: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the held request was not answered within a minute of the scale-up")
	}
	t.Logf("the held request was answered %s after it was sent", time.Since(sent).Round(10*time.Millisecond))

	// 1→4 at concurrency 8.
	load := &closedLoop{url: r.url}
	defer load.set(0)
	begin := time.Now()
	load.set(8)
	waitReplicas(ctx, t, r.cl, r.ns, r.dep.Name, 4, 2*time.Minute)
	t.Logf("concurrency 8: 4 replicas after %s", time.Since(begin).Round(100*time.Millisecond))
	for range 2 {
		time.Sleep(r.period)
		if got := replicas(ctx, t, r.cl, r.ns, r.dep.Name); got != 4 {
			var h autoscalingv2.HorizontalPodAutoscaler
			_ = r.cl.Get(ctx, client.ObjectKeyFromObject(r.hpa), &h)
			t.Logf("HPA status: %+v", h.Status)
			t.Logf("executor load: %+v; failed requests %d (first: %s); writes %v", r.e.Load(), load.failures(), load.firstError(), r.writes.all())
			t.Fatalf("concurrency 8: %d replicas a sync later, want 4", got)
		}
	}

	// Idle: the HPA to 1, then the scaler to 0.
	load.set(0)
	if failed := load.failures(); failed > 0 {
		t.Errorf("%d requests failed (first: %s)", failed, load.firstError())
	}
	stopped := time.Now()
	// The HPA may go down in one step or several (its policies and
	// stabilization decide); the scaler waits for it.
	down := r.writes.waitFor(ctx, t, 1, 0, 2*time.Minute)
	toOne := r.writes.waitFor(ctx, t, anyCount, 1, time.Second)
	if !toOne.at.After(stopped) || !byHPAController(toOne.manager) {
		t.Fatalf("before 1→0: %v at %s, want the HPA controller's move to 1 after the load stopped", toOne, toOne.at.Sub(stopped))
	}
	t.Logf("idle: %v %s after the load stopped, 1→0 %s after it (by %s)",
		toOne, toOne.at.Sub(stopped).Round(100*time.Millisecond),
		down.at.Sub(stopped).Round(100*time.Millisecond), down.manager)
	if !down.at.After(toOne.at) {
		t.Errorf("1→0 came before the HPA's move to 1")
	}
	// The per-second figure needs its 10 s window (whole seconds) to reach
	// 0, then the idle window runs: 1→0 cannot come sooner.
	if d, earliest := down.at.Sub(stopped), 9*time.Second+testIdleWindow; d < earliest {
		t.Errorf("1→0 %s after the last request, sooner than the per-second window and the idle window (%s)", d, earliest)
	}
	time.Sleep(2 * r.period)

	all := r.writes.all()
	t.Logf("spec.replicas writes: %v", all)
	var scalerWrites []string
	for _, w := range all {
		switch {
		case w.manager == byScaler:
			scalerWrites = append(scalerWrites, fmt.Sprintf("%d→%d", w.from, w.to))
		case !byHPAController(w.manager):
			t.Errorf("%v: a write by neither the scaler nor the HPA controller", w)
		case w.from == 0 || w.to == 0:
			t.Errorf("%v: the HPA controller moved the count from or to 0", w)
		}
	}
	if want := []string{"0→1", "1→0"}; !slices.Equal(scalerWrites, want) {
		t.Errorf("the scaler's writes: %v, want exactly %v", scalerWrites, want)
	}
	if up.manager != byScaler || down.manager != byScaler {
		t.Errorf("0→1 by %q and 1→0 by %q, want %s", up.manager, down.manager, byScaler)
	}
	if got := replicas(ctx, t, r.cl, r.ns, r.dep.Name); got != 0 {
		t.Errorf("%d replicas at the end, want 0", got)
	}
	checkScalerEvents(ctx, t, r.cl, r.ns, r.sd.Name)
}

// byHPAController reports whether a replicaWrite's manager is
// kube-controller-manager's HPA controller (its own or its controller
// ServiceAccount's credentials; it sends no fieldManager).
func byHPAController(manager string) bool {
	return manager == devclusterControllerUser
}

// devclusterControllerUser is the user kube-controller-manager runs as on
// the local control plane.
const devclusterControllerUser = "sdep-admin"

// byScaler is the scaler's writes' manager.
const byScaler = ScalerFieldManager + " as " + metricsAPIUser

// checkScalerEvents wants one ScaledFromZero (with the in-flight count) and
// one ScaledToZero Event on the SeldonDeployment.
func checkScalerEvents(ctx context.Context, t *testing.T, cl client.Client, ns, sd string) {
	t.Helper()
	err := testenv.Poll(ctx, 30*time.Second, "the scaler's Events", func() error {
		var list eventsv1.EventList
		if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		n := map[string]int{}
		for _, ev := range list.Items {
			if ev.Regarding.Kind != "SeldonDeployment" || ev.Regarding.Name != sd {
				continue
			}
			n[ev.Reason]++
			if ev.Reason == ReasonScaledFromZero && !strings.Contains(ev.Note, "request(s) in flight") {
				return fmt.Errorf("ScaledFromZero note %q has no in-flight count", ev.Note)
			}
		}
		if n[ReasonScaledFromZero] != 1 || n[ReasonScaledToZero] != 1 {
			return fmt.Errorf("events by reason: %v, want one of each", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHPAAloneScalesFromZero measures the other design: the HPA alone,
// minReplicas 0 (HPAScaleToZero, on in 1.37), no scaler
// (--scale-to-zero=false). The HPA acts at 0 only when it scaled to zero
// itself, so the Deployment starts at 1 and the HPA takes it to 0. Then,
// SDEP_TEST_HPA_ALONE_ROUNDS times (default 3), one request is held and the
// time to 1 replica is measured; it can be up to a sync period plus the
// metric read. Set SDEP_TEST_HPA_ALONE=1 to run it (about a minute).
func TestHPAAloneScalesFromZero(t *testing.T) {
	if os.Getenv("SDEP_TEST_HPA_ALONE") == "" {
		t.Skip("set SDEP_TEST_HPA_ALONE=1 to measure the HPA alone at zero")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set (the local control plane's binaries)")
	}
	rounds := 3
	if v := os.Getenv("SDEP_TEST_HPA_ALONE_ROUNDS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil || rounds < 1 || rounds > 20 {
			t.Fatalf("SDEP_TEST_HPA_ALONE_ROUNDS=%q: want 1 to 20", v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := startZeroRig(ctx, t, func(dep *appsv1.Deployment, hpa *autoscalingv2.HorizontalPodAutoscaler) {
		// The document's minReplicas 0 on the HPA itself; the HPA acts
		// at 0 only once it scaled to 0 itself, so it starts at 1.
		dep.Spec.Replicas = new(int32(1))
		hpa.Spec.MinReplicas = new(int32(0))
	}, "--scale-to-zero=false")

	var wakes []time.Duration
	for i := range rounds {
		down := r.writes.waitFor(ctx, t, 1, 0, 2*time.Minute)
		if !byHPAController(down.manager) {
			t.Fatalf("1→0 by %q, want the HPA controller", down.manager)
		}
		// Wait until the mock of the last pod is gone, so the request is
		// held rather than served by a pod on its way out.
		if err := testenv.Poll(ctx, 30*time.Second, "no Ready pod", func() error {
			if n := r.mocks.count(); n > 0 {
				return fmt.Errorf("%d mocks", n)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Spread the requests over the sync cycle: a user's request
		// comes at any point of it.
		time.Sleep(time.Duration(i) * r.period / time.Duration(rounds))
		sent := time.Now()
		answered := r.heldRequest()
		r.waitHeld(ctx, t)
		up := r.writes.waitFor(ctx, t, 0, 1, 2*time.Minute)
		wake := up.at.Sub(sent)
		wakes = append(wakes, wake)
		t.Logf("round %d: 0→1 %s after the held request (by %s)", i+1, wake.Round(10*time.Millisecond), up.manager)
		if err := <-answered; err != nil {
			t.Fatalf("round %d: the held request: %v", i+1, err)
		}
		// A fresh 1→0 per round: clear what waitFor may find.
		r.writes.mu.Lock()
		r.writes.list = nil
		r.writes.mu.Unlock()
	}
	slices.Sort(wakes)
	t.Logf("the HPA alone, sync period %s: wake from zero min %s, median %s, max %s over %d rounds",
		r.period, wakes[0].Round(10*time.Millisecond), wakes[len(wakes)/2].Round(10*time.Millisecond),
		wakes[len(wakes)-1].Round(10*time.Millisecond), len(wakes))
}
