package resources

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// RouteOptions are the installation's settings for the objects that bring
// traffic from outside the cluster to the predictors: Gateway API routes
// and Istio's VirtualService and DestinationRules. The zero value builds
// none of them.
type RouteOptions struct {
	// Gateway is the parent of every HTTPRoute (and, unless GRPCGateway is
	// set, GRPCRoute); an empty Name builds no Gateway API routes.
	Gateway ParentRef
	// GRPCGateway is the parent of every GRPCRoute when it is not Gateway:
	// the Gateway API lets an HTTPRoute and a GRPCRoute share a listener
	// only when their hostnames do not intersect.
	GRPCGateway ParentRef
	// NoGRPCRoute builds no GRPCRoute.
	NoGRPCRoute bool
	// ExternalURL is the scheme and host clients outside the cluster use
	// ("https://models.example.com"); empty: the first hostname of
	// seldon.io/istio-host, else the Gateway's first status address.
	ExternalURL string
	// Istio builds a VirtualService and DestinationRules when Enabled.
	Istio IstioOptions
}

// GatewayEnabled reports whether Gateway API routes are built.
func (o RouteOptions) GatewayEnabled() bool { return o.Gateway.Name != "" }

// GRPCParent is the parent of the GRPCRoutes.
func (o RouteOptions) GRPCParent() ParentRef {
	if o.GRPCGateway.Name != "" {
		return o.GRPCGateway
	}
	return o.Gateway
}

// Validate checks the options, naming the setting at fault.
func (o RouteOptions) Validate() error {
	if o.ExternalURL != "" {
		u, err := url.Parse(o.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("gateway external URL %q: want scheme and host only, like https://models.example.com", o.ExternalURL)
		}
	}
	return o.Istio.validate()
}

// ParentRef names a Gateway, and optionally one of its listeners.
type ParentRef struct {
	Namespace, Name, SectionName string
}

// String is the form ParseParentRef reads.
func (p ParentRef) String() string {
	if p.Name == "" {
		return ""
	}
	s := p.Namespace + "/" + p.Name
	if p.SectionName != "" {
		s += "/" + p.SectionName
	}
	return s
}

// ParseParentRef reads "<namespace>/<name>" or
// "<namespace>/<name>/<listener>"; "" is no Gateway.
func ParseParentRef(s string) (ParentRef, error) {
	if s == "" {
		return ParentRef{}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return ParentRef{}, fmt.Errorf("gateway %q: want <namespace>/<name> or <namespace>/<name>/<listener>", s)
	}
	ref := ParentRef{Namespace: parts[0], Name: parts[1]}
	if len(parts) == 3 {
		ref.SectionName = parts[2]
	}
	if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
		return ParentRef{}, fmt.Errorf("gateway %q: namespace %q: %s", s, ref.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
		return ParentRef{}, fmt.Errorf("gateway %q: name %q: %s", s, ref.Name, strings.Join(errs, "; "))
	}
	if ref.SectionName != "" {
		if errs := validation.IsDNS1123Subdomain(ref.SectionName); len(errs) > 0 {
			return ParentRef{}, fmt.Errorf("gateway %q: listener %q: %s", s, ref.SectionName, strings.Join(errs, "; "))
		}
	}
	return ref, nil
}
