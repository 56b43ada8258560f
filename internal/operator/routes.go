package operator

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sdep-dev/sdep/internal/resources"
)

// checkRoutesServed refuses to start with routes turned on whose CRDs the
// API server does not serve: the cache cannot watch them, and a user is
// better told at once than by a failing reconcile per SeldonDeployment.
func checkRoutesServed(mapper meta.RESTMapper, ro resources.RouteOptions) error {
	if err := ro.Validate(); err != nil {
		return err
	}
	var need []schema.GroupVersionKind
	if ro.GatewayEnabled() {
		gv := schema.GroupVersion{Group: gatewayv1.GroupName, Version: gatewayv1.GroupVersion.Version}
		need = append(need, gv.WithKind(resources.KindHTTPRoute), gv.WithKind("Gateway"))
		if !ro.NoGRPCRoute {
			need = append(need, gv.WithKind(resources.KindGRPCRoute))
		}
	}
	if ro.Istio.Enabled {
		need = append(need, resources.VirtualServiceGVK, resources.DestinationRuleGVK)
	}
	for _, gvk := range need {
		ok, err := served(mapper, gvk)
		if err != nil {
			return err
		}
		if !ok {
			how := "install the Gateway API CRDs (standard channel, v1.1 or later) or drop --gateway"
			if gvk.Group == resources.VirtualServiceGVK.Group {
				how = "install Istio or unset " + resources.EnvIstioEnabled
			}
			return fmt.Errorf("the API server does not serve %s (%s): %s", gvk.Kind, gvk.GroupVersion(), how)
		}
	}
	return nil
}

// addRouteCache caches the route kinds ro turns on, only those carrying
// sdep's label like every other child, and the one Gateway the routes
// attach to (its status addresses give the external URL).
func addRouteCache(opts *cache.Options, ro resources.RouteOptions) {
	owned := cache.ByObject{Label: ownedSelector()}
	if ro.GatewayEnabled() {
		opts.ByObject[&gatewayv1.HTTPRoute{}] = owned
		if !ro.NoGRPCRoute {
			opts.ByObject[&gatewayv1.GRPCRoute{}] = owned
		}
		opts.ByObject[&gatewayv1.Gateway{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{ro.Gateway.Namespace: {
				FieldSelector: fields.OneTermEqualSelector("metadata.name", ro.Gateway.Name),
			}},
		}
	}
	if ro.Istio.Enabled {
		for _, gvk := range []schema.GroupVersionKind{resources.VirtualServiceGVK, resources.DestinationRuleGVK} {
			opts.ByObject[unstructuredOf(gvk)] = owned
		}
	}
}

func unstructuredOf(gvk schema.GroupVersionKind) client.Object {
	u := scaledObject()
	u.SetGroupVersionKind(gvk)
	return u
}
