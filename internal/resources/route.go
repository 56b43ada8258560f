package resources

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// Route kinds and the annotations the route builders read.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	// AnnotationIstioHost lists the hosts of the routes, comma-separated
	// (upstream's Istio annotation; the Gateway API routes read it too).
	AnnotationIstioHost = "seldon.io/istio-host"
)

// GRPCServices are the gRPC services a GRPCRoute sends to the executor:
// Seldon's, TensorFlow Serving's and the V2 inference protocol's.
var GRPCServices = []string{
	"seldon.protos.Seldon",
	"tensorflow.serving.PredictionService",
	"tensorflow.serving.ModelService",
	"inference.GRPCInferenceService",
}

// Gateway API header names that choose the SeldonDeployment of a gRPC call,
// as upstream's gateways match them.
const (
	HeaderSeldon    = "seldon"
	HeaderNamespace = "namespace"
)

// Routes are the traffic objects of one SeldonDeployment.
type Routes struct {
	HTTPRoutes []*gatewayv1.HTTPRoute
	GRPCRoutes []*gatewayv1.GRPCRoute
	// Withheld names the predictors that get weight 0 because their
	// Deployments are not available, in document order.
	Withheld []string
}

// PathPrefix is where a SeldonDeployment answers behind a gateway:
// /seldon/<namespace>/<name>.
func PathPrefix(sd *sdepv1.SeldonDeployment) string {
	return "/seldon/" + sd.Namespace + "/" + sd.Name
}

// MakeGatewayRoutes builds the HTTPRoute and GRPCRoute of sd, a document
// defaulted by validation.Default (Result.SeldonDeployment), when ro names
// a Gateway. available[i] says whether the Deployments of predictor i are
// available; nil means all are.
//
// Each route sends to the predictor Services that are not shadows, weighted
// by traffic; a predictor that is not available gets weight 0 while another
// one is (when none is, the weights stay as traffic says: there is nothing
// better, and the first pods to be ready answer at once). A single serving
// predictor gets weight 1: Gateway API weights are proportions, and 0 would
// send it nothing. A shadow predictor gets a RequestMirror filter.
func MakeGatewayRoutes(sd *sdepv1.SeldonDeployment, opts Options, ro RouteOptions, available []bool) (*Routes, error) {
	out := &Routes{}
	if !ro.GatewayEnabled() {
		return out, nil
	}
	opts = opts.complete()
	weights, withheld := servingWeights(sd, available)
	out.Withheld = withheld
	hosts, err := routeHostnames(sd)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{naming.LabelSeldonID: naming.SeldonID(sd), naming.LabelManagedBy: naming.ManagedByValue}
	name := naming.SeldonID(sd)

	httpRoute := &gatewayv1.HTTPRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: KindHTTPRoute},
		ObjectMeta: objectMeta(sd, name, labels, nil),
	}
	httpRoute.Spec.ParentRefs = []gatewayv1.ParentReference{parentReference(ro.Gateway)}
	httpRoute.Spec.Hostnames = hosts
	rule := gatewayv1.HTTPRouteRule{
		Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
			Type: new(gatewayv1.PathMatchPathPrefix), Value: new(PathPrefix(sd)),
		}}},
		// First, so a mirror receives the rewritten path too.
		Filters: []gatewayv1.HTTPRouteFilter{{
			Type: gatewayv1.HTTPRouteFilterURLRewrite,
			URLRewrite: &gatewayv1.HTTPURLRewriteFilter{Path: &gatewayv1.HTTPPathModifier{
				Type: gatewayv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: new("/"),
			}},
		}},
	}
	port := opts.Predictor.ExecutorHTTPPort
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		svc := naming.PredictorServiceName(sd, p)
		if p.Shadow {
			rule.Filters = append(rule.Filters, gatewayv1.HTTPRouteFilter{
				Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: mirror(svc, port, p.Traffic),
			})
			continue
		}
		rule.BackendRefs = append(rule.BackendRefs, gatewayv1.HTTPBackendRef{BackendRef: backendRef(svc, port, weights[i])})
	}
	httpRoute.Spec.Rules = []gatewayv1.HTTPRouteRule{rule}
	out.HTTPRoutes = append(out.HTTPRoutes, httpRoute)

	if ro.NoGRPCRoute || opts.Predictor.ExecutorGRPCPort == 0 {
		return out, nil
	}
	grpcRoute := &gatewayv1.GRPCRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: KindGRPCRoute},
		ObjectMeta: objectMeta(sd, name, labels, nil),
	}
	grpcRoute.Spec.ParentRefs = []gatewayv1.ParentReference{parentReference(ro.GRPCParent())}
	grpcRoute.Spec.Hostnames = hosts
	var grule gatewayv1.GRPCRouteRule
	headers := []gatewayv1.GRPCHeaderMatch{
		{Type: new(gatewayv1.GRPCHeaderMatchExact), Name: HeaderSeldon, Value: sd.Name},
		{Type: new(gatewayv1.GRPCHeaderMatchExact), Name: HeaderNamespace, Value: sd.Namespace},
	}
	for _, s := range GRPCServices {
		grule.Matches = append(grule.Matches, gatewayv1.GRPCRouteMatch{
			Method:  &gatewayv1.GRPCMethodMatch{Type: new(gatewayv1.GRPCMethodMatchExact), Service: new(s)},
			Headers: headers,
		})
	}
	gport := opts.Predictor.ExecutorGRPCPort
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		svc := naming.PredictorServiceName(sd, p)
		if p.Shadow {
			grule.Filters = append(grule.Filters, gatewayv1.GRPCRouteFilter{
				Type: gatewayv1.GRPCRouteFilterRequestMirror, RequestMirror: mirror(svc, gport, p.Traffic),
			})
			continue
		}
		grule.BackendRefs = append(grule.BackendRefs, gatewayv1.GRPCBackendRef{BackendRef: backendRef(svc, gport, weights[i])})
	}
	grpcRoute.Spec.Rules = []gatewayv1.GRPCRouteRule{grule}
	out.GRPCRoutes = append(out.GRPCRoutes, grpcRoute)
	return out, nil
}

// servingWeights returns each predictor's weight (shadows: 0, unused) and
// the serving predictors withheld because they are not available.
func servingWeights(sd *sdepv1.SeldonDeployment, available []bool) ([]int32, []string) {
	isAvailable := func(i int) bool { return available == nil || i >= len(available) || available[i] }
	serving, anyAvailable := 0, false
	for i, p := range sd.Spec.Predictors {
		if !p.Shadow {
			serving++
			anyAvailable = anyAvailable || isAvailable(i)
		}
	}
	weights := make([]int32, len(sd.Spec.Predictors))
	var withheld []string
	for i, p := range sd.Spec.Predictors {
		if p.Shadow {
			continue
		}
		w := p.Traffic
		if serving == 1 {
			w = 1
		}
		if anyAvailable && !isAvailable(i) {
			w = 0
			withheld = append(withheld, p.Name)
		}
		weights[i] = w
	}
	return weights, withheld
}

// routeHostnames reads seldon.io/istio-host: "*" (upstream's default) and
// an absent annotation leave the routes to the listener's hostnames.
func routeHostnames(sd *sdepv1.SeldonDeployment) ([]gatewayv1.Hostname, error) {
	var out []gatewayv1.Hostname
	for _, h := range istioHosts(sd) {
		if h == "*" {
			continue
		}
		if strings.Contains(h, ":") || strings.Contains(h, "/") {
			return nil, fmt.Errorf("metadata.annotations[%s]: %q is not a hostname (no port, no path): write a DNS name such as models.example.com or *.example.com", AnnotationIstioHost, h)
		}
		out = append(out, gatewayv1.Hostname(h))
	}
	return out, nil
}

// istioHosts splits seldon.io/istio-host on commas; ["*"] without it.
func istioHosts(sd *sdepv1.SeldonDeployment) []string {
	v, ok := sd.Annotations[AnnotationIstioHost]
	if !ok {
		return []string{"*"}
	}
	var hosts []string
	for h := range strings.SplitSeq(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return []string{"*"}
	}
	return hosts
}

// ExternalHost is the first concrete hostname of seldon.io/istio-host, or "".
func ExternalHost(sd *sdepv1.SeldonDeployment) string {
	for _, h := range istioHosts(sd) {
		if !strings.Contains(h, "*") {
			return h
		}
	}
	return ""
}

func parentReference(ref ParentRef) gatewayv1.ParentReference {
	p := gatewayv1.ParentReference{
		Group:     new(gatewayv1.Group(gatewayv1.GroupName)),
		Kind:      new(gatewayv1.Kind("Gateway")),
		Namespace: new(gatewayv1.Namespace(ref.Namespace)),
		Name:      gatewayv1.ObjectName(ref.Name),
	}
	if ref.SectionName != "" {
		p.SectionName = new(gatewayv1.SectionName(ref.SectionName))
	}
	return p
}

func backendObject(svc string, port int32) gatewayv1.BackendObjectReference {
	return gatewayv1.BackendObjectReference{
		Group: new(gatewayv1.Group("")),
		Kind:  new(gatewayv1.Kind("Service")),
		Name:  gatewayv1.ObjectName(svc),
		Port:  new(port),
	}
}

func backendRef(svc string, port, weight int32) gatewayv1.BackendRef {
	return gatewayv1.BackendRef{BackendObjectReference: backendObject(svc, port), Weight: new(weight)}
}

// mirror copies every request to svc, or traffic percent of them when
// traffic is between 1 and 99 (upstream mirrors all when it is 0).
func mirror(svc string, port, traffic int32) *gatewayv1.HTTPRequestMirrorFilter {
	m := &gatewayv1.HTTPRequestMirrorFilter{BackendRef: backendObject(svc, port)}
	if traffic > 0 && traffic < 100 {
		m.Percent = new(traffic)
	}
	return m
}
