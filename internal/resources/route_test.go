package resources

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/golden"
	"github.com/sdep-dev/sdep/internal/validation"
)

func testRouteOptions() RouteOptions {
	return RouteOptions{
		Gateway: ParentRef{Namespace: "gateways", Name: "public", SectionName: "http"},
		Istio:   IstioOptions{Enabled: true, Gateway: "istio-system/seldon-gateway"},
	}
}

// routeDoc decodes a route test input and defaults it as Build does.
func routeDoc(t *testing.T, name string) *sdepv1.SeldonDeployment {
	t.Helper()
	sds := decodeFile(t, filepath.Join("testdata", "routes", name+".yaml"))
	if len(sds) != 1 {
		t.Fatalf("%s: %d documents, want 1", name, len(sds))
	}
	built, err := Build(sds[0], testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return built.SeldonDeployment
}

// TestRouteGolden renders the routes and Istio objects of every
// testdata/routes input and compares them with testdata/routes/<case>.golden.
func TestRouteGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "routes", "*.yaml"))
	if err != nil || len(inputs) < 2 {
		t.Fatalf("route inputs: %v %v", inputs, err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			sd := routeDoc(t, name)
			if res := validation.Validate(sd.DeepCopy()); len(res.Errors) > 0 {
				t.Fatalf("route inputs must be valid: %v", res.Errors)
			}
			routes, err := MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), nil)
			if err != nil {
				t.Fatal(err)
			}
			istio, err := MakeIstioObjects(sd, testOptions(), testRouteOptions().Istio)
			if err != nil {
				t.Fatal(err)
			}
			var objs []any
			for _, r := range routes.HTTPRoutes {
				objs = append(objs, r)
			}
			for _, r := range routes.GRPCRoutes {
				objs = append(objs, r)
			}
			for _, o := range append(istio.VirtualServices, istio.DestinationRules...) {
				objs = append(objs, o)
			}
			var out bytes.Buffer
			for _, o := range objs {
				doc, err := objectYAML(o)
				if err != nil {
					t.Fatal(err)
				}
				out.WriteString("---\n")
				out.Write(doc)
			}
			golden.Compare(t, filepath.Join("routes", name), "route objects", out.Bytes(), *update)
		})
	}
}

// The rest evaluates the routes the way the Gateway API specifies them
// (apis/v1/httproute_types.go, grpcroute_types.go): an independent reading,
// so that a wrong route shows as a request that goes to the wrong place.

// pathPrefixMatches is PathPrefix matching: element-wise, a trailing "/"
// of the prefix ignored ("/abc" matches "/abc", "/abc/", "/abc/def", not "/abcd").
func pathPrefixMatches(prefix, path string) bool {
	if prefix != "/" {
		prefix = strings.TrimSuffix(prefix, "/")
	}
	return prefix == "/" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

// replacePrefix is ReplacePrefixMatch (the table in HTTPPathModifier's doc).
func replacePrefix(prefix, replacement, path string) string {
	prefix = strings.TrimSuffix(prefix, "/")
	out := strings.TrimSuffix(replacement, "/") + strings.TrimPrefix(path, prefix)
	if out == "" {
		return "/"
	}
	return out
}

func TestReplacePrefixReadsTheSpecTable(t *testing.T) {
	for _, c := range []struct{ path, prefix, repl, want string }{
		{"/foo/bar", "/foo", "/xyz", "/xyz/bar"}, {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
		{"/foo/bar", "/foo/", "/xyz", "/xyz/bar"}, {"/foo", "/foo", "/xyz", "/xyz"},
		{"/foo/", "/foo", "/xyz", "/xyz/"}, {"/foo/bar", "/foo", "", "/bar"},
		{"/foo/", "/foo", "", "/"}, {"/foo", "/foo", "", "/"}, {"/foo/", "/foo", "/", "/"}, {"/foo", "/foo", "/", "/"},
	} {
		if got := replacePrefix(c.prefix, c.repl, c.path); got != c.want {
			t.Errorf("%s with prefix %s replaced by %q: %s, want %s", c.path, c.prefix, c.repl, got, c.want)
		}
	}
}

// httpOutcome is where a gateway sends one request path.
type httpOutcome struct {
	matched bool
	path    string             // after the filters
	share   map[string]float64 // backend Service -> fraction of requests
	mirrors map[string]string  // mirrored Service -> path it receives
}

func evalHTTPRoute(t *testing.T, r *gatewayv1.HTTPRoute, path string) httpOutcome {
	t.Helper()
	for _, rule := range r.Spec.Rules {
		var prefix string
		matched := false
		for _, m := range rule.Matches {
			if m.Path != nil && *m.Path.Type == gatewayv1.PathMatchPathPrefix && pathPrefixMatches(*m.Path.Value, path) {
				matched, prefix = true, *m.Path.Value
				break
			}
		}
		if !matched {
			continue
		}
		out := httpOutcome{matched: true, path: path, share: map[string]float64{}, mirrors: map[string]string{}}
		for _, f := range rule.Filters { // in order
			switch f.Type {
			case gatewayv1.HTTPRouteFilterURLRewrite:
				p := f.URLRewrite.Path
				if p.Type != gatewayv1.PrefixMatchHTTPPathModifier {
					t.Fatalf("rewrite type %s", p.Type)
				}
				out.path = replacePrefix(prefix, *p.ReplacePrefixMatch, out.path)
			case gatewayv1.HTTPRouteFilterRequestMirror:
				out.mirrors[string(f.RequestMirror.BackendRef.Name)] = out.path
			default:
				t.Fatalf("unexpected filter %s", f.Type)
			}
		}
		var total float64
		for _, b := range rule.BackendRefs {
			w := int32(1) // the API's default
			if b.Weight != nil {
				w = *b.Weight
			}
			total += float64(w)
			out.share[string(b.Name)] += float64(w)
		}
		for k := range out.share {
			if total > 0 {
				out.share[k] /= total
			}
		}
		return out
	}
	return httpOutcome{}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestHTTPRouteSendsThePrefixToTheExecutorPaths(t *testing.T) {
	sd := routeDoc(t, "canary-shadow")
	routes, err := MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := routes.HTTPRoutes[0]
	if got := r.Spec.ParentRefs[0]; got.Name != "public" || string(*got.Namespace) != "gateways" || string(*got.SectionName) != "http" {
		t.Errorf("parent %+v", got)
	}
	for path, want := range map[string]string{
		"/seldon/models/iris/api/v1.0/predictions": "/api/v1.0/predictions",
		"/seldon/models/iris/v2/models/m/infer":    "/v2/models/m/infer",
		"/seldon/models/iris/":                     "/",
		"/seldon/models/iris":                      "/",
	} {
		got := evalHTTPRoute(t, r, path)
		if !got.matched || got.path != want {
			t.Errorf("%s: matched %v, reaches %q; want %q", path, got.matched, got.path, want)
		}
		if !near(got.share["iris-main"], 0.75) || !near(got.share["iris-canary"], 0.25) || len(got.share) != 2 {
			t.Errorf("%s: split %v, want iris-main 0.75, iris-canary 0.25", path, got.share)
		}
		if got.mirrors["iris-shadow"] != want || len(got.mirrors) != 1 {
			t.Errorf("%s: mirrors %v, want iris-shadow receiving %s", path, got.mirrors, want)
		}
	}
	for _, path := range []string{"/seldon/models/irisx/api/v1.0/predictions", "/seldon/other/iris/api/v1.0/predictions", "/api/v1.0/predictions"} {
		if got := evalHTTPRoute(t, r, path); got.matched {
			t.Errorf("%s matched (reaching %s); it belongs to another SeldonDeployment", path, got.path)
		}
	}

	// The weights give the split: a seeded weighted draw over many requests.
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	const n = 20000
	for range n {
		x := rng.Float64()
		for _, b := range r.Spec.Rules[0].BackendRefs {
			x -= evalHTTPRoute(t, r, "/seldon/models/iris/api/v1.0/predictions").share[string(b.Name)]
			if x < 0 {
				counts[string(b.Name)]++
				break
			}
		}
	}
	if f := float64(counts["iris-main"]) / n; f < 0.73 || f > 0.77 {
		t.Errorf("iris-main got %.3f of the requests, want 0.75±0.02 (%v)", f, counts)
	}
}

func TestUnavailableCanaryGetsWeightZero(t *testing.T) {
	sd := routeDoc(t, "canary-shadow")
	routes, err := MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), []bool{true, false, true})
	if err != nil {
		t.Fatal(err)
	}
	got := evalHTTPRoute(t, routes.HTTPRoutes[0], "/seldon/models/iris/api/v1.0/predictions")
	if !near(got.share["iris-main"], 1) || got.share["iris-canary"] != 0 {
		t.Errorf("split with the canary unavailable: %v, want all to iris-main", got.share)
	}
	if strings.Join(routes.Withheld, ",") != "canary" {
		t.Errorf("withheld %v, want [canary]", routes.Withheld)
	}
	for _, b := range routes.GRPCRoutes[0].Spec.Rules[0].BackendRefs {
		if b.Name == "iris-canary" && *b.Weight != 0 {
			t.Errorf("GRPCRoute gives the unavailable canary weight %d", *b.Weight)
		}
	}
	// Nothing available: the weights stay as traffic says.
	routes, err = MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), []bool{false, false, false})
	if err != nil {
		t.Fatal(err)
	}
	got = evalHTTPRoute(t, routes.HTTPRoutes[0], "/seldon/models/iris/api/v1.0/predictions")
	if !near(got.share["iris-main"], 0.75) || len(routes.Withheld) != 0 {
		t.Errorf("nothing available: split %v, withheld %v; want traffic's weights", got.share, routes.Withheld)
	}
}

func TestSinglePredictorGetsEveryRequest(t *testing.T) {
	sd := routeDoc(t, "single")
	routes, err := MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := evalHTTPRoute(t, routes.HTTPRoutes[0], "/seldon/default/single/v2/models/model/infer")
	if !near(got.share["single-svc"], 1) || got.path != "/v2/models/model/infer" {
		t.Errorf("single predictor: %+v", got)
	}
	if len(routes.HTTPRoutes[0].Spec.Hostnames) != 0 {
		t.Errorf("hostnames %v without seldon.io/istio-host, want none", routes.HTTPRoutes[0].Spec.Hostnames)
	}
}

// grpcBackends is where a GRPCRoute sends a call to service/method with
// metadata md (names are case-insensitive), nil when no match takes it.
func grpcBackends(r *gatewayv1.GRPCRoute, service string, md map[string]string) map[string]int32 {
	for _, rule := range r.Spec.Rules {
		for _, m := range rule.Matches {
			if m.Method != nil && m.Method.Service != nil && *m.Method.Service != service {
				continue
			}
			ok := true
			for _, h := range m.Headers {
				v, found := "", false
				for k, val := range md {
					if strings.EqualFold(k, string(h.Name)) {
						v, found = val, true
					}
				}
				if !found || v != h.Value {
					ok = false
				}
			}
			if !ok {
				continue
			}
			out := map[string]int32{}
			for _, b := range rule.BackendRefs {
				out[string(b.Name)] = *b.Weight
			}
			return out
		}
	}
	return nil
}

func TestGRPCRouteMatchesUpstreamHeaders(t *testing.T) {
	sd := routeDoc(t, "canary-shadow")
	routes, err := MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := routes.GRPCRoutes[0]
	md := map[string]string{"Seldon": "iris", "namespace": "models"}
	for _, svc := range GRPCServices {
		if got := grpcBackends(r, svc, md); got["iris-main"] != 75 || got["iris-canary"] != 25 {
			t.Errorf("%s: backends %v", svc, got)
		}
	}
	for _, bad := range []map[string]string{{"seldon": "iris"}, {"seldon": "other", "namespace": "models"}, {"seldon": "iris", "namespace": "prod"}} {
		if got := grpcBackends(r, "inference.GRPCInferenceService", bad); got != nil {
			t.Errorf("metadata %v reached %v", bad, got)
		}
	}
	if got := grpcBackends(r, "grpc.health.v1.Health", md); got != nil {
		t.Errorf("an unrelated service reached %v", got)
	}
	if port := *r.Spec.Rules[0].BackendRefs[0].Port; port != testOptions().Predictor.Complete().ExecutorGRPCPort {
		t.Errorf("gRPC backend port %d", port)
	}
}

func TestRouteOptionsRefuseBadInput(t *testing.T) {
	for _, s := range []string{"public", "a/b/c/d", "Bad_NS/gw", "ns/", "/gw"} {
		if _, err := ParseParentRef(s); err == nil {
			t.Errorf("ParseParentRef(%q) accepted", s)
		}
	}
	if ref, err := ParseParentRef("gateways/public/https"); err != nil || ref.String() != "gateways/public/https" {
		t.Errorf("ParseParentRef: %+v %v", ref, err)
	}
	if err := (RouteOptions{ExternalURL: "models.example.com"}).Validate(); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("an external URL without scheme: %v", err)
	}
	if _, err := IstioOptionsFromEnv(routeEnv{EnvIstioEnabled: "yes please"}.get); err == nil {
		t.Error("ISTIO_ENABLED=yes please accepted")
	}
	if _, err := IstioOptionsFromEnv(routeEnv{EnvIstioTLSMode: "STRICT"}.get); err == nil || !strings.Contains(err.Error(), EnvIstioTLSMode) {
		t.Errorf("ISTIO_TLS_MODE=STRICT: %v", err)
	}
	sd := routeDoc(t, "canary-shadow")
	sd.Annotations[AnnotationIstioHost] = "models.example.com:8080"
	if _, err := MakeGatewayRoutes(sd, testOptions(), testRouteOptions(), nil); err == nil || !strings.Contains(err.Error(), AnnotationIstioHost) {
		t.Errorf("a host with a port: %v", err)
	}
	sd.Annotations[AnnotationIstioRetries] = "many"
	if _, err := MakeIstioObjects(sd, testOptions(), testRouteOptions().Istio); err == nil || !strings.Contains(err.Error(), AnnotationIstioRetries) {
		t.Errorf("istio-retries=many: %v", err)
	}
}

type routeEnv map[string]string

func (m routeEnv) get(k string) string { return m[k] }
