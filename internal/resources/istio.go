package resources

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// Istio's kinds, at the version upstream Seldon Core 1.18 writes.
var (
	VirtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "VirtualService"}
	DestinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "DestinationRule"}
)

// Istio annotations upstream reads on the SeldonDeployment.
const (
	AnnotationIstioGateway        = "seldon.io/istio-gateway"
	AnnotationIstioRetries        = "seldon.io/istio-retries"
	AnnotationIstioRetriesTimeout = "seldon.io/istio-retries-timeout"
)

// Operator environment for Istio, as upstream's operator reads it.
const (
	EnvIstioEnabled = "ISTIO_ENABLED"
	EnvIstioGateway = "ISTIO_GATEWAY"
	EnvIstioTLSMode = "ISTIO_TLS_MODE"
	// DefaultIstioGateway is upstream's code fallback for ISTIO_GATEWAY.
	DefaultIstioGateway = "seldon-gateway"
)

// istioGRPCRegex is the URI regex of upstream's gRPC route.
const istioGRPCRegex = ".*tensorflow.*|.*seldon.protos.*|.*inference.*"

// IstioOptions are the operator's Istio settings.
type IstioOptions struct {
	// Enabled builds a VirtualService and DestinationRules per
	// SeldonDeployment (ISTIO_ENABLED).
	Enabled bool
	// Gateway is the VirtualService's gateway when the SeldonDeployment has
	// no seldon.io/istio-gateway (ISTIO_GATEWAY; empty: seldon-gateway).
	Gateway string
	// TLSMode, when set, replaces each DestinationRule's traffic policy by
	// {tls: {mode: TLSMode}} (ISTIO_TLS_MODE).
	TLSMode string
}

func (o IstioOptions) validate() error {
	switch o.TLSMode {
	case "", "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL":
		return nil
	}
	return fmt.Errorf("%s=%q: want DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL", EnvIstioTLSMode, o.TLSMode)
}

// IstioOptionsFromEnv reads ISTIO_ENABLED, ISTIO_GATEWAY and ISTIO_TLS_MODE
// through getenv.
func IstioOptionsFromEnv(getenv func(string) string) (IstioOptions, error) {
	o := IstioOptions{Gateway: getenv(EnvIstioGateway), TLSMode: getenv(EnvIstioTLSMode)}
	if v := getenv(EnvIstioEnabled); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("%s=%q: want true or false", EnvIstioEnabled, v)
		}
		o.Enabled = on
	}
	return o, o.validate()
}

// IstioObjects are one SeldonDeployment's Istio objects.
type IstioObjects struct {
	VirtualServices  []*unstructured.Unstructured
	DestinationRules []*unstructured.Unstructured
}

// MakeIstioObjects builds, when Istio is enabled, the VirtualService of sd
// (a defaulted document) and one DestinationRule per predictor, shadow
// included, with the fields upstream Seldon Core 1.18 sets. Unlike
// upstream's they carry the seldon-deployment-id label, by which the
// operator finds its children.
func MakeIstioObjects(sd *sdepv1.SeldonDeployment, opts Options, io IstioOptions) (*IstioObjects, error) {
	out := &IstioObjects{}
	if !io.Enabled {
		return out, nil
	}
	opts = opts.complete()
	labels := map[string]string{naming.LabelSeldonID: naming.SeldonID(sd), naming.LabelManagedBy: naming.ManagedByValue}
	gateway := sd.Annotations[AnnotationIstioGateway]
	if gateway == "" {
		gateway = io.Gateway
	}
	if gateway == "" {
		gateway = DefaultIstioGateway
	}
	retries, err := istioRetries(sd)
	if err != nil {
		return nil, err
	}
	domain := opts.Predictor.ClusterDomain

	var httpRoute, grpcRoute []any
	var httpMirror, grpcMirror map[string]any
	var mirrorPct int32
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		svc := naming.PredictorServiceName(sd, p)
		host := fmt.Sprintf("%s.%s.svc.%s", svc, sd.Namespace, domain)
		dest := func(port int32) map[string]any {
			return map[string]any{"host": host, "subset": p.Name, "port": map[string]any{"number": int64(port)}}
		}
		if p.Shadow {
			httpMirror, grpcMirror = dest(opts.Predictor.ExecutorHTTPPort), dest(opts.Predictor.ExecutorGRPCPort)
			mirrorPct = p.Traffic
		} else {
			httpRoute = append(httpRoute, map[string]any{"destination": dest(opts.Predictor.ExecutorHTTPPort), "weight": int64(p.Traffic)})
			grpcRoute = append(grpcRoute, map[string]any{"destination": dest(opts.Predictor.ExecutorGRPCPort), "weight": int64(p.Traffic)})
		}

		policy := map[string]any{"connectionPool": map[string]any{"http": map[string]any{"idleTimeout": "60s"}}}
		if io.TLSMode != "" {
			policy = map[string]any{"tls": map[string]any{"mode": io.TLSMode}}
		}
		dr := istioObject(DestinationRuleGVK, sd, svc, labels)
		dr.Object["spec"] = map[string]any{
			"host":          host,
			"subsets":       []any{map[string]any{"name": p.Name, "labels": map[string]any{naming.LabelVersion: p.Labels[naming.LabelVersion]}}},
			"trafficPolicy": policy,
		}
		out.DestinationRules = append(out.DestinationRules, dr)
	}
	prefix := PathPrefix(sd) + "/"
	restRoute := map[string]any{
		"match":   []any{map[string]any{"uri": map[string]any{"prefix": prefix}}},
		"rewrite": map[string]any{"uri": "/"},
		"route":   httpRoute,
	}
	gRoute := map[string]any{
		"match": []any{map[string]any{
			"uri": map[string]any{"regex": istioGRPCRegex},
			"headers": map[string]any{
				HeaderSeldon:    map[string]any{"exact": sd.Name},
				HeaderNamespace: map[string]any{"exact": sd.Namespace},
			},
		}},
		"route": grpcRoute,
	}
	for _, r := range []struct {
		route  map[string]any
		mirror map[string]any
	}{{restRoute, httpMirror}, {gRoute, grpcMirror}} {
		if r.mirror != nil {
			r.route["mirror"] = r.mirror
			if mirrorPct > 0 {
				r.route["mirrorPercentage"] = map[string]any{"value": float64(mirrorPct)}
			}
		}
		if retries != nil {
			r.route["retries"] = retries
		}
	}
	hosts := []any{}
	for _, h := range istioHosts(sd) {
		hosts = append(hosts, h)
	}
	vs := istioObject(VirtualServiceGVK, sd, naming.SeldonID(sd), labels)
	vs.Object["spec"] = map[string]any{
		"hosts":    hosts,
		"gateways": []any{gateway},
		"http":     []any{restRoute, gRoute},
	}
	out.VirtualServices = append(out.VirtualServices, vs)
	return out, nil
}

// istioRetries is the retry policy of seldon.io/istio-retries (nil when
// absent or 0) and seldon.io/istio-retries-timeout (seconds, default 1).
func istioRetries(sd *sdepv1.SeldonDeployment) (map[string]any, error) {
	v := strings.TrimSpace(sd.Annotations[AnnotationIstioRetries])
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("metadata.annotations[%s]: %q is not a count of retries: want a whole number like 3", AnnotationIstioRetries, v)
	}
	if n == 0 {
		return nil, nil
	}
	timeout := 1
	if t := strings.TrimSpace(sd.Annotations[AnnotationIstioRetriesTimeout]); t != "" {
		if timeout, err = strconv.Atoi(t); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("metadata.annotations[%s]: %q is not a timeout: want whole seconds like 2", AnnotationIstioRetriesTimeout, t)
		}
	}
	return map[string]any{
		"attempts":      int64(n),
		"perTryTimeout": fmt.Sprintf("%ds", timeout),
		"retryOn":       "gateway-error,connect-failure,refused-stream",
	}, nil
}

func istioObject(gvk schema.GroupVersionKind, sd *sdepv1.SeldonDeployment, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	u.SetName(name)
	u.SetNamespace(sd.Namespace)
	u.SetLabels(labels)
	u.SetOwnerReferences(ownerReferences(sd))
	return u
}
