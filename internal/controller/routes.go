package controller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
)

// The route kinds are reconciled only when the operator is configured for
// them (a Gateway, ISTIO_ENABLED): only then are they watched and cached.
//
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;list;watch;create;update;patch;delete

var (
	httpRouteKind = ownedKind{
		kind:      resources.KindHTTPRoute,
		newObject: func() client.Object { return &gatewayv1.HTTPRoute{} },
		newList:   func() client.ObjectList { return &gatewayv1.HTTPRouteList{} },
		mergeSpec: func(desired, obj client.Object) {
			obj.(*gatewayv1.HTTPRoute).Spec = *desired.(*gatewayv1.HTTPRoute).Spec.DeepCopy()
		},
	}
	grpcRouteKind = ownedKind{
		kind:      resources.KindGRPCRoute,
		newObject: func() client.Object { return &gatewayv1.GRPCRoute{} },
		newList:   func() client.ObjectList { return &gatewayv1.GRPCRouteList{} },
		mergeSpec: func(desired, obj client.Object) {
			obj.(*gatewayv1.GRPCRoute).Spec = *desired.(*gatewayv1.GRPCRoute).Spec.DeepCopy()
		},
	}
	virtualServiceKind   = unstructuredKind(resources.VirtualServiceGVK)
	destinationRuleKind  = unstructuredKind(resources.DestinationRuleGVK)
	routeKindsInErrOrder = []string{httpRouteKind.kind, grpcRouteKind.kind, virtualServiceKind.kind, destinationRuleKind.kind}
)

// unstructuredKind is a kind sdep builds without its client library: the
// whole spec is sdep's.
func unstructuredKind(gvk schema.GroupVersionKind) ownedKind {
	return ownedKind{
		kind: gvk.Kind,
		newObject: func() client.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		},
		newList: func() client.ObjectList {
			u := &unstructured.UnstructuredList{}
			u.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			return u
		},
		mergeSpec: func(desired, obj client.Object) {
			obj.(*unstructured.Unstructured).Object["spec"] = desired.(*unstructured.Unstructured).Object["spec"]
		},
	}
}

// isUnstructured reports whether k's objects are unstructured: the
// manager's client reads those from the API server, where no field index is.
func isUnstructured(k ownedKind) bool {
	_, ok := k.newObject().(*unstructured.Unstructured)
	return ok
}

// routeKinds are the typed route kinds the reconciler watches and indexes.
func (r *Reconciler) routeKinds() []ownedKind {
	var out []ownedKind
	if r.Routes.GatewayEnabled() {
		out = append(out, httpRouteKind)
		if !r.Routes.NoGRPCRoute {
			out = append(out, grpcRouteKind)
		}
	}
	return out
}

// ownRoutes adds watches for the route kinds the options turn on.
func (r *Reconciler) ownRoutes(b *builder.Builder) *builder.Builder {
	for _, k := range r.routeKinds() {
		b = b.Owns(k.newObject())
	}
	if r.Routes.Istio.Enabled {
		b = b.Owns(virtualServiceKind.newObject()).Owns(destinationRuleKind.newObject())
	}
	return b
}

// predictorsAvailable says, per predictor of ds, whether every one of its
// Deployments has a pod available and does not report Available=False; a
// Deployment that scales to zero counts as available once it exists.
func predictorsAvailable(ds *desiredState, live childResult) []bool {
	out := make([]bool, len(ds.sd.Spec.Predictors))
	for i := range out {
		out[i] = true
	}
	for name, i := range ds.predictorOf {
		d, _ := live[name].(*appsv1.Deployment)
		if d != nil && ds.replicas[name].ToZero {
			// At 0 or starting: the executor holds the predictor's requests
			// until a replica is ready, and withholding traffic would keep
			// the component asleep.
			continue
		}
		if !deploymentServes(d) {
			out[i] = false
		}
	}
	return out
}

// deploymentServes: a pod of d is available and d does not say otherwise.
// A rolling update keeps serving, so it is not "fully rolled out".
func deploymentServes(d *appsv1.Deployment) bool {
	if d == nil || d.Status.AvailableReplicas < 1 {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == "False" {
			return false
		}
	}
	return true
}

// reconcileRoutes runs the route sub-reconcilers after the Deployments,
// whose availability sets the weights.
func (r *Reconciler) reconcileRoutes(want *desiredState, live *liveChildren,
	run func(ownedKind, []client.Object, func(want, live client.Object)) childResult) {
	if r.Routes.GatewayEnabled() {
		routes, err := resources.MakeGatewayRoutes(want.sd, r.Options, r.Routes, predictorsAvailable(want, live.deployments))
		if err != nil {
			live.errs[httpRouteKind.kind] = &childError{kind: httpRouteKind.kind, op: "Build", err: err}
		} else {
			live.routes = routes
			live.httpRoutes = run(httpRouteKind, asObjects(routes.HTTPRoutes), nil)
			if !r.Routes.NoGRPCRoute {
				live.grpcRoutes = run(grpcRouteKind, asObjects(routes.GRPCRoutes), nil)
			}
		}
	}
	if r.Routes.Istio.Enabled {
		objs, err := resources.MakeIstioObjects(want.sd, r.Options, r.Routes.Istio)
		if err != nil {
			live.errs[virtualServiceKind.kind] = &childError{kind: virtualServiceKind.kind, op: "Build", err: err}
			return
		}
		live.destinationRules = run(destinationRuleKind, asObjects(objs.DestinationRules), nil)
		live.virtualServices = run(virtualServiceKind, asObjects(objs.VirtualServices), nil)
	}
}

// observeRoutes sets RoutesReady and status.externalAddress.
func (r *Reconciler) observeRoutes(ctx context.Context, sd *sdepv1.SeldonDeployment, live *liveChildren, s *sdepv1.SeldonDeploymentStatus) {
	gen := sd.Generation
	if !r.Routes.GatewayEnabled() && !r.Routes.Istio.Enabled {
		meta.RemoveStatusCondition(&s.Conditions, sdepv1.ConditionRoutesReady)
		s.ExternalAddress = nil
		return
	}
	for _, k := range routeKindsInErrOrder {
		if err := live.errs[k]; err != nil {
			kindFailed(s, gen, sdepv1.ConditionRoutesReady, err)
			s.ExternalAddress = r.externalAddress(ctx, sd, live)
			return
		}
	}
	var parts []string
	if r.Routes.GatewayEnabled() {
		parts = append(parts, "Gateway API routes attached to "+r.Routes.Gateway.String())
	}
	if r.Routes.Istio.Enabled {
		parts = append(parts, "Istio VirtualService and DestinationRules created")
	}
	ok, reason, msg := true, "RoutesReady", strings.Join(parts, "; ")
	if notAccepted := routesNotAccepted(live); notAccepted != "" {
		ok, reason, msg = false, "RouteNotAccepted", notAccepted
	}
	if live.routes != nil && len(live.routes.Withheld) > 0 {
		ok, reason = false, "PredictorsNotAvailable"
		msg = fmt.Sprintf("weight 0 until their Deployments are available: %s", strings.Join(live.routes.Withheld, ", "))
	}
	setCondition(s, gen, sdepv1.ConditionRoutesReady, ok, reason, msg)
	s.ExternalAddress = r.externalAddress(ctx, sd, live)
}

// routesNotAccepted describes the parents that refused a route, from the
// routes' status (written by the Gateway's implementation), or "".
func routesNotAccepted(live *liveChildren) string {
	var out []string
	check := func(kind, name string, parents []gatewayv1.RouteParentStatus) {
		for _, p := range parents {
			c := meta.FindStatusCondition(p.Conditions, string(gatewayv1.RouteConditionAccepted))
			if c != nil && c.Status == metav1.ConditionFalse {
				out = append(out, fmt.Sprintf("%s %q not accepted by %s: %s: %s", kind, name, p.ParentRef.Name, c.Reason, c.Message))
			}
		}
	}
	for name, o := range live.httpRoutes {
		if h, ok := o.(*gatewayv1.HTTPRoute); ok {
			check(httpRouteKind.kind, name, h.Status.Parents)
		}
	}
	for name, o := range live.grpcRoutes {
		if g, ok := o.(*gatewayv1.GRPCRoute); ok {
			check(grpcRouteKind.kind, name, g.Status.Parents)
		}
	}
	return strings.Join(out, "; ")
}

// externalAddress is the URL clients outside the cluster predict on, when
// a route exists and its host is known: the configured external URL, else
// the first hostname of seldon.io/istio-host, else the Gateway's first
// status address.
func (r *Reconciler) externalAddress(ctx context.Context, sd *sdepv1.SeldonDeployment, live *liveChildren) *sdepv1.Addressable {
	if len(live.httpRoutes) == 0 && len(live.virtualServices) == 0 {
		return nil
	}
	base := strings.TrimSuffix(r.Routes.ExternalURL, "/")
	if base == "" {
		if h := resources.ExternalHost(sd); h != "" {
			base = "http://" + h
		}
	}
	if base == "" && len(live.httpRoutes) > 0 {
		// A bounded read: where the operator may not read the Gateway (a
		// namespaced install whose Gateway lives elsewhere) the cache's
		// informer never syncs, and the reconcile must not wait on it.
		gctx, cancel := context.WithTimeout(ctx, gatewayReadTimeout)
		gw := &gatewayv1.Gateway{}
		key := client.ObjectKey{Namespace: r.Routes.Gateway.Namespace, Name: r.Routes.Gateway.Name}
		if err := r.Client.Get(gctx, key, gw); err == nil && len(gw.Status.Addresses) > 0 {
			base = "http://" + hostOf(gw.Status.Addresses[0].Value)
		}
		cancel()
	}
	if base == "" || len(sd.Spec.Predictors) == 0 {
		return nil
	}
	return &sdepv1.Addressable{URL: base + resources.PathPrefix(sd) + predictPath(sd)}
}

// gatewayReadTimeout bounds the read of the Gateway's status address.
const gatewayReadTimeout = 2 * time.Second

// hostOf brackets an IPv6 address for a URL.
func hostOf(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return "[" + addr + "]"
	}
	return addr
}
