package operator

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// The recorder writes on the real API server what the reconciler asks
// for: every field, one event per distinct event, a repeat counted in the
// first one's series, and a repeat after the series window a new event.
func TestEventRecorderWritesEventsAndSeries(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: this test needs kube-apiserver and etcd")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	client, err := eventsv1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newEventRecorder(client, Scheme(), "sdep-operator", testr.New(t))
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	rec.now = func() time.Time { return time.Unix(0, clock.Load()) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the recorder stopped with: %v", err)
		}
	})

	sd := &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "model", UID: "sd-uid", ResourceVersion: "7"}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "model-dep", UID: "dep-uid"}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "model-svc", UID: "svc-uid"}}

	rec.Eventf(sd, dep, corev1.EventTypeNormal, "CreateDeployment", "Create", "Created %s %q", "Deployment", dep.Name)
	rec.Eventf(sd, svc, corev1.EventTypeNormal, "CreateService", "Create", "Created Service %q", svc.Name)
	for range 3 { // the same event three times: one event, a series of 3
		clock.Add(int64(time.Second))
		rec.Eventf(sd, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "broken")
	}
	rec.Eventf(sd, nil, "Unusual", "Failed", "Reconcile", "not a valid type: not recorded")

	list := func() map[string][]eventsv1.Event {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			l, err := client.Events("default").List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]eventsv1.Event{}
			for _, e := range l.Items {
				got[e.Reason] = append(got[e.Reason], e)
			}
			f := got["Failed"]
			if len(got["CreateService"]) == 1 && len(f) >= 1 && f[0].Series != nil && f[0].Series.Count == 3 || time.Now().After(deadline) {
				return got
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	got := list()
	if n := len(got["CreateDeployment"]); n != 1 {
		t.Fatalf("%d CreateDeployment events, want 1: %+v", n, got)
	}
	e := got["CreateDeployment"][0]
	if e.Type != corev1.EventTypeNormal || e.Action != "Create" || e.Note != `Created Deployment "model-dep"` ||
		e.ReportingController != "sdep-operator" || e.ReportingInstance == "sdep-operator" || e.ReportingInstance == "" ||
		e.Regarding.Kind != "SeldonDeployment" || e.Regarding.Name != "model" || e.Regarding.UID != "sd-uid" ||
		e.Related == nil || e.Related.Kind != "Deployment" || e.Related.Name != "model-dep" || e.EventTime.IsZero() || e.Series != nil {
		t.Errorf("the CreateDeployment event: %+v", e)
	}
	failed := got["Failed"]
	if len(failed) != 1 || failed[0].Series == nil || failed[0].Series.Count != 3 || failed[0].Type != corev1.EventTypeWarning {
		t.Fatalf("the repeated Failed event: %+v, want one event with a series of 3", failed)
	}
	if want := time.Unix(0, clock.Load()); !failed[0].Series.LastObservedTime.Time.Equal(want) {
		t.Errorf("the series' last observed time %v, want %v", failed[0].Series.LastObservedTime.Time, want)
	}
	if len(got) != 3 {
		t.Errorf("events by reason: %v; the one with an invalid type must not be written", got)
	}

	// Past the window: a new event, and the old one is forgotten.
	clock.Add(int64(seriesWindow + time.Second))
	rec.forgetOld()
	rec.mu.Lock()
	remembered := len(rec.sent)
	rec.mu.Unlock()
	if remembered != 0 {
		t.Errorf("%d events remembered past the window, want 0", remembered)
	}
	rec.Eventf(sd, nil, corev1.EventTypeWarning, "Failed", "Reconcile", "broken")
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := client.Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=Failed"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Failed events after the window, want 2", len(l.Items))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
