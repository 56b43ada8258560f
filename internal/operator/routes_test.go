package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/devcluster"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// gatewayCRDs copies the Gateway API CRDs the operator uses, from the
// gateway-api module sdep builds with (standard channel), into a folder.
func gatewayCRDs(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("finding the gateway-api module: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	dir := t.TempDir()
	for _, kind := range []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes"} {
		name := "gateway.networking.k8s.io_" + kind + ".yaml"
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// istioVersion is the istio.io/api module whose CRDs the control-plane
// test installs. The module is only downloaded (into the module cache), not
// built: sdep renders Istio's objects as unstructured ones.
const istioVersion = "v1.28.0"

// istioCRDs writes Istio's VirtualService and DestinationRule CRDs, taken
// from kubernetes/customresourcedefinitions.gen.yaml of the istio.io/api
// module, into a folder.
func istioCRDs(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "istio.io/api@"+istioVersion)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("downloading istio.io/api@%s for its CRDs: %v", istioVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download printed no module folder: %v (%s)", err, out)
	}
	data, err := os.ReadFile(filepath.Join(mod.Dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.Contains(doc, "name: virtualservices.networking.istio.io") ||
			strings.Contains(doc, "name: destinationrules.networking.istio.io") {
			keep = append(keep, doc)
		}
	}
	if len(keep) != 2 {
		t.Fatalf("found %d of Istio's VirtualService and DestinationRule CRDs in istio.io/api@%s, want 2", len(keep), istioVersion)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "istio.yaml"), []byte(strings.Join(keep, "\n---")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeCounter counts the write requests sent to route kinds' API paths.
type writeCounter struct {
	mu     sync.Mutex
	writes map[string]int
}

func (c *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodGet {
			for _, res := range []string{"httproutes", "grpcroutes", "virtualservices", "destinationrules"} {
				if strings.Contains(r.URL.Path, "/"+res) {
					c.mu.Lock()
					c.writes[res]++
					c.mu.Unlock()
				}
			}
		}
		return rt.RoundTrip(r)
	})
}

func (c *writeCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.writes {
		out[k] = v
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const routeDoc = `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: iris
  namespace: models
spec:
  predictors:
  - name: main
    traffic: 75
    componentSpecs:
    - spec:
        containers:
        - name: classifier
          image: seldonio/mock_classifier:1.18.2
    graph: {name: classifier, type: MODEL}
  - name: canary
    traffic: 25
    componentSpecs:
    - spec:
        nodeSelector:
          sdep.dev/no-such-node: "true"
        containers:
        - name: classifier
          image: seldonio/mock_classifier:1.18.3
    graph: {name: classifier, type: MODEL}
  - name: shadow
    shadow: true
    componentSpecs:
    - spec:
        containers:
        - name: classifier
          image: seldonio/mock_classifier:1.18.3
    graph: {name: classifier, type: MODEL}
`

// TestRoutesOnTheControlPlane runs the operator with a Gateway and Istio
// turned on against a control plane with the Gateway API's and Istio's
// CRDs (their schemas and CEL rules applied by the API server), real
// Deployment and garbage collection controllers, and a fake node whose pods
// become Ready. The canary's pods can never be scheduled: its weight must be
// 0 until they can, the status and an event must say so, the routes must
// follow traffic, a steady state must write no route, a changed route must
// be put back, and the routes must go with the SeldonDeployment.
func TestRoutesOnTheControlPlane(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set. This test needs the control-plane binaries:\n" +
			"  export KUBEBUILDER_ASSETS=$PWD/bin/control-plane/current")
	}
	testenv.SetTestLogger()
	ctx := context.Background()
	cluster, err := devcluster.Start(ctx, devcluster.Options{
		Metrics: devcluster.MetricsNone,
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "config", "crd", "bases"),
			gatewayCRDs(t),
			istioCRDs(t),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	k8s, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	createNamespace(t, k8s, "models")
	createNamespace(t, k8s, "gateways")

	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: "gateways"},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "example",
			Listeners: []gatewayv1.Listener{{
				Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType,
				AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: new(gatewayv1.NamespacesFromAll)}},
			}},
		},
	}
	if err := k8s.Create(ctx, gw); err != nil {
		t.Fatalf("creating the Gateway: %v", err)
	}
	gw.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: new(gatewayv1.IPAddressType), Value: "203.0.113.7"}}
	if err := k8s.Status().Update(ctx, gw); err != nil {
		t.Fatalf("setting the Gateway's address: %v", err)
	}

	writes := &writeCounter{writes: map[string]int{}}
	cfg := rest.CopyConfig(operatorUser(t, cluster, k8s))
	cfg.Wrap(writes.wrap)
	mgr, err := operator.NewManager(cfg, operator.Options{
		MetricsAddr: "0", HealthAddr: "0",
		Routes: resources.RouteOptions{
			Gateway: resources.ParentRef{Namespace: "gateways", Name: "public", SectionName: "http"},
			Istio:   resources.IstioOptions{Enabled: true, Gateway: "istio-system/seldon-gateway"},
		},
		Controller: crcontroller.Options{SkipNameValidation: new(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	mgrCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-stopped; err != nil {
			t.Errorf("the manager stopped with: %v", err)
		}
	})

	// Someone else's route and Gateway: the operator's cache holds neither.
	foreign := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "models", Name: "someone-elses"}}
	foreign.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: "public", Namespace: new(gatewayv1.Namespace("gateways"))}}
	otherGateway := gw.DeepCopy()
	otherGateway.ObjectMeta = metav1.ObjectMeta{Namespace: "gateways", Name: "other"}
	for _, o := range []client.Object{foreign, otherGateway} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	sd := &sdepv1.SeldonDeployment{}
	if err := yaml.Unmarshal([]byte(routeDoc), sd); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatalf("creating the SeldonDeployment: %v", err)
	}
	key := client.ObjectKey{Namespace: "models", Name: "iris"}

	httpWeights := func() (map[string]int32, error) {
		r := &gatewayv1.HTTPRoute{}
		if err := k8s.Get(ctx, key, r); err != nil {
			return nil, err
		}
		return backendWeights(r.Spec.Rules[0].BackendRefs), nil
	}
	grpcWeights := func() (map[string]int32, error) {
		r := &gatewayv1.GRPCRoute{}
		if err := k8s.Get(ctx, key, r); err != nil {
			return nil, err
		}
		out := map[string]int32{}
		for _, b := range r.Spec.Rules[0].BackendRefs {
			out[string(b.Name)] = *b.Weight
		}
		return out, nil
	}
	waitWeights := func(what string, want map[string]int32) {
		t.Helper()
		testenv.WaitFor(t, 60*time.Second, what, func() error {
			for kind, get := range map[string]func() (map[string]int32, error){"HTTPRoute": httpWeights, "GRPCRoute": grpcWeights, "VirtualService": func() (map[string]int32, error) { return vsWeights(ctx, k8s, key) }} {
				got, err := get()
				if err != nil {
					return fmt.Errorf("%s: %w", kind, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("%s weights %v, want %v", kind, got, want)
				}
			}
			return nil
		})
	}

	// main and shadow become available, the canary never: weight 0 on the
	// Gateway API routes; Istio's keeps upstream's weights.
	wantGateway := map[string]int32{"iris-main": 75, "iris-canary": 0}
	testenv.WaitFor(t, 90*time.Second, "the canary withheld on the Gateway API routes", func() error {
		for _, get := range []func() (map[string]int32, error){httpWeights, grpcWeights} {
			got, err := get()
			if err != nil {
				return err
			}
			if fmt.Sprint(got) != fmt.Sprint(wantGateway) {
				return fmt.Errorf("weights %v, want %v", got, wantGateway)
			}
		}
		return nil
	})
	if got, err := vsWeights(ctx, k8s, key); err != nil || fmt.Sprint(got) != fmt.Sprint(map[string]int32{"iris-main": 75, "iris-canary": 25}) {
		t.Errorf("VirtualService weights %v (%v), want upstream's 75/25", got, err)
	}
	testenv.WaitFor(t, 30*time.Second, "RoutesReady=False naming the canary, and the external address", func() error {
		cur := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(ctx, key, cur); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, sdepv1.ConditionRoutesReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "PredictorsNotAvailable" || !strings.Contains(c.Message, "canary") {
			return fmt.Errorf("RoutesReady: %+v", c)
		}
		want := "http://203.0.113.7/seldon/models/iris/api/v1.0/predictions"
		if cur.Status.ExternalAddress == nil || cur.Status.ExternalAddress.URL != want {
			return fmt.Errorf("externalAddress %+v, want %s", cur.Status.ExternalAddress, want)
		}
		if cur.Status.Address == nil || !strings.Contains(cur.Status.Address.URL, ".svc.") {
			return fmt.Errorf("address %+v: it must stay the in-cluster URL", cur.Status.Address)
		}
		return nil
	})
	testenv.WaitFor(t, 30*time.Second, "a warning event about the withheld canary", func() error {
		evs := &eventsv1.EventList{}
		if err := k8s.List(ctx, evs, client.InNamespace("models")); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "PredictorsNotAvailable" && e.Type == "Warning" && strings.Contains(e.Note, "canary") {
				return nil
			}
		}
		return fmt.Errorf("no PredictorsNotAvailable event among %d", len(evs.Items))
	})
	for _, name := range []string{"iris-main", "iris-canary", "iris-shadow"} {
		dr := &unstructured.Unstructured{}
		dr.SetGroupVersionKind(resources.DestinationRuleGVK)
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "models", Name: name}, dr); err != nil {
			t.Errorf("DestinationRule %s: %v", name, err)
		}
	}

	for _, o := range []client.Object{&gatewayv1.HTTPRoute{}, &gatewayv1.Gateway{}} {
		k := client.ObjectKey{Namespace: "models", Name: "someone-elses"}
		if _, isGateway := o.(*gatewayv1.Gateway); isGateway {
			k = client.ObjectKey{Namespace: "gateways", Name: "other"}
		}
		if err := mgr.GetCache().Get(ctx, k, o); !apierrors.IsNotFound(err) {
			t.Errorf("the operator's cache holds %T %s (err %v): only sdep's children and the named Gateway belong there", o, k, err)
		}
	}
	if err := mgr.GetCache().Get(ctx, client.ObjectKey{Namespace: "gateways", Name: "public"}, &gatewayv1.Gateway{}); err != nil {
		t.Errorf("the named Gateway is not cached: %v", err)
	}

	// Steady: a route changed by someone else is put back, and that
	// reconcile writes nothing else.
	before := writes.snapshot()
	gr := &gatewayv1.GRPCRoute{}
	if err := k8s.Get(ctx, key, gr); err != nil {
		t.Fatal(err)
	}
	gr.Spec.Rules[0].BackendRefs[1].Weight = new(int32(99))
	if err := k8s.Update(ctx, gr); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the changed GRPCRoute put back", func() error {
		got, err := grpcWeights()
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(wantGateway) {
			return fmt.Errorf("weights %v", got)
		}
		return nil
	})
	after := writes.snapshot()
	for _, res := range []string{"httproutes", "virtualservices", "destinationrules"} {
		if after[res] != before[res] {
			t.Errorf("%d writes to %s at steady state", after[res]-before[res], res)
		}
	}
	if n := after["grpcroutes"] - before["grpcroutes"]; n != 1 {
		t.Errorf("%d writes to grpcroutes to put one back, want 1", n)
	}

	// The canary's pods can be scheduled: it gets its share.
	update := func(change func(*sdepv1.SeldonDeployment)) {
		t.Helper()
		testenv.WaitFor(t, 30*time.Second, "updating the SeldonDeployment", func() error {
			cur := &sdepv1.SeldonDeployment{}
			if err := k8s.Get(ctx, key, cur); err != nil {
				return err
			}
			change(cur)
			return k8s.Update(ctx, cur)
		})
	}
	update(func(s *sdepv1.SeldonDeployment) { s.Spec.Predictors[1].ComponentSpecs[0].Spec.NodeSelector = nil })
	waitWeights("the canary given its share", map[string]int32{"iris-main": 75, "iris-canary": 25})
	testenv.WaitFor(t, 30*time.Second, "RoutesReady=True", func() error {
		cur := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(ctx, key, cur); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(cur.Status.Conditions, sdepv1.ConditionRoutesReady) {
			return fmt.Errorf("RoutesReady: %+v", meta.FindStatusCondition(cur.Status.Conditions, sdepv1.ConditionRoutesReady))
		}
		return nil
	})

	// A Gateway implementation refusing the route shows in RoutesReady.
	routesReady := func(want metav1.ConditionStatus, reason string) {
		t.Helper()
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("RoutesReady=%s %s", want, reason), func() error {
			cur := &sdepv1.SeldonDeployment{}
			if err := k8s.Get(ctx, key, cur); err != nil {
				return err
			}
			c := meta.FindStatusCondition(cur.Status.Conditions, sdepv1.ConditionRoutesReady)
			if c == nil || c.Status != want || (reason != "" && c.Reason != reason) {
				return fmt.Errorf("RoutesReady: %+v", c)
			}
			return nil
		})
	}
	hr := &gatewayv1.HTTPRoute{}
	if err := k8s.Get(ctx, key, hr); err != nil {
		t.Fatal(err)
	}
	hr.Status.Parents = []gatewayv1.RouteParentStatus{{
		ParentRef:      gatewayv1.ParentReference{Namespace: new(gatewayv1.Namespace("gateways")), Name: "public"},
		ControllerName: "example.com/gateway-controller",
		Conditions: []metav1.Condition{{
			Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionFalse, Reason: "NotAllowedByListeners",
			Message: "no listener allows this namespace", ObservedGeneration: hr.Generation, LastTransitionTime: metav1.Now(),
		}},
	}}
	if err := k8s.Status().Update(ctx, hr); err != nil {
		t.Fatalf("writing the HTTPRoute's status: %v", err)
	}
	routesReady(metav1.ConditionFalse, "RouteNotAccepted")
	hr.Status.Parents = []gatewayv1.RouteParentStatus{}
	if err := k8s.Status().Update(ctx, hr); err != nil {
		t.Fatalf("clearing the HTTPRoute's status: %v", err)
	}
	routesReady(metav1.ConditionTrue, "RoutesReady")

	// traffic changes: the routes follow.
	update(func(s *sdepv1.SeldonDeployment) { s.Spec.Predictors[0].Traffic, s.Spec.Predictors[1].Traffic = 40, 60 })
	waitWeights("the routes following traffic", map[string]int32{"iris-main": 40, "iris-canary": 60})

	// The routes go with the SeldonDeployment (the garbage collector reads
	// their owner references).
	if err := k8s.Delete(ctx, sd); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "the routes deleted with the SeldonDeployment", func() error {
		objs := []client.Object{&gatewayv1.HTTPRoute{}, &gatewayv1.GRPCRoute{}}
		for _, gvk := range []struct {
			name string
			u    *unstructured.Unstructured
		}{{"iris", vsObject()}, {"iris-main", drObject()}, {"iris-shadow", drObject()}} {
			gvk.u.SetName(gvk.name)
			objs = append(objs, gvk.u)
		}
		for _, o := range objs {
			name := o.GetName()
			if name == "" {
				name = "iris"
			}
			err := k8s.Get(ctx, client.ObjectKey{Namespace: "models", Name: name}, o)
			if err == nil {
				return fmt.Errorf("%T %s still there", o, name)
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// operatorUser is a user bound to the generated manager role only, so the
// test fails if the RBAC markers miss a route kind.
func operatorUser(t *testing.T, cluster *devcluster.Cluster, k8s client.Client) *rest.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "sdep-routes-test"
	const user = "sdep-routes-operator"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	u, err := cluster.Env.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u.Config()
}

func backendWeights(refs []gatewayv1.HTTPBackendRef) map[string]int32 {
	out := map[string]int32{}
	for _, b := range refs {
		out[string(b.Name)] = *b.Weight
	}
	return out
}

func vsObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(resources.VirtualServiceGVK)
	return u
}

func drObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(resources.DestinationRuleGVK)
	return u
}

// vsWeights reads the REST route's weights of the VirtualService by
// destination Service (the first label of the host).
func vsWeights(ctx context.Context, k8s client.Client, key client.ObjectKey) (map[string]int32, error) {
	vs := vsObject()
	if err := k8s.Get(ctx, key, vs); err != nil {
		return nil, err
	}
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	if len(http) == 0 {
		return nil, fmt.Errorf("no http routes")
	}
	route, _, _ := unstructured.NestedSlice(http[0].(map[string]any), "route")
	out := map[string]int32{}
	for _, r := range route {
		m := r.(map[string]any)
		host, _, _ := unstructured.NestedString(m, "destination", "host")
		w, _, _ := unstructured.NestedInt64(m, "weight")
		out[strings.SplitN(host, ".", 2)[0]] = int32(w)
	}
	return out, nil
}

// TestRoutesNeedTheirCRDs: an operator told to write routes whose CRDs the
// API server does not serve refuses to start, saying what to install.
func TestRoutesNeedTheirCRDs(t *testing.T) {
	cfg, _ := startAPIServer(t)
	for _, c := range []struct {
		routes resources.RouteOptions
		want   []string
	}{
		{resources.RouteOptions{Gateway: resources.ParentRef{Namespace: "gateways", Name: "public"}}, []string{"HTTPRoute", "Gateway API CRDs", "--gateway"}},
		{resources.RouteOptions{Istio: resources.IstioOptions{Enabled: true}}, []string{"VirtualService", resources.EnvIstioEnabled}},
		{resources.RouteOptions{Istio: resources.IstioOptions{Enabled: true, TLSMode: "STRICT"}}, []string{resources.EnvIstioTLSMode, "ISTIO_MUTUAL"}},
	} {
		_, err := operator.NewManager(cfg, operator.Options{MetricsAddr: "0", HealthAddr: "0", Routes: c.routes})
		if err == nil {
			t.Errorf("%+v: the operator started", c.routes)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not mention %q", c.routes, err, w)
			}
		}
	}
}
