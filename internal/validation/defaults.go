// Package validation is sdep's one place for SeldonDeployment defaulting and
// validation: Validate and Default, nothing else. The webhook, the CLI (sdep
// validate, render), the builders and the local runtime all call it, so a
// document means the same thing everywhere. The facts both rely on (the
// graph, the port plan, the executor container) belong to
// internal/predictor.
//
// Everything here is a pure function of its arguments: no API calls, no
// clock, no environment.
package validation

import (
	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// Annotations sdep reads.
const (
	AnnotationNoEngine          = "seldon.io/no-engine"
	AnnotationEngineSeparatePod = predictor.AnnotationEngineSeparatePod
)

// DefaultNamespace is used when a document names none.
const DefaultNamespace = "default"

// Default fills in, in place, what Seldon Core's defaulting fills in, and
// maps the legacy predictor-level hpaSpecs onto the componentSpecs they name:
//
//   - metadata.namespace "default" when empty;
//   - each predictor's labels get version: <predictor name>;
//   - graph nodes without type, methods and implementation become MODEL;
//     nodes without implementation get UNKNOWN_IMPLEMENTATION;
//   - every prepackaged-server node without a container of its name gets
//     one, appended to componentSpecs[0] (a new componentSpec if there is
//     none); componentSpecs left without containers (and without an
//     autoscaler or disruption budget) are dropped;
//   - graph containers get http, grpc and metrics ports, numbered across the
//     whole SeldonDeployment by container name (9000+, 9500+, 6000+);
//   - every graph node with a container gets its endpoint (host, ports, type);
//   - hpaSpecs[i] becomes componentSpecs[j].hpaSpec of the componentSpec whose
//     metadata.name is hpaSpecs[i].scaleTargetRef.name.
//
// Default is idempotent and never overwrites a value the user set, except the
// endpoint host and ports, which it derives. Call Validate first: Default on
// an invalid document does not panic, but what it produces is unspecified.
func Default(sd *sdepv1.SeldonDeployment, opts predictor.Options) {
	opts = opts.Complete()
	if sd.Namespace == "" {
		sd.Namespace = DefaultNamespace
	}
	ports := predictor.NewPortPlan(opts)
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		if _, ok := p.Labels[naming.LabelVersion]; !ok {
			p.Labels[naming.LabelVersion] = p.Name
		}
		mapLegacyHpaSpecs(p)
		graphNames := map[string]bool{}
		walkGraph(&p.Graph, func(n *sdepv1.PredictiveUnit) {
			defaultNode(n)
			graphNames[n.Name] = true
		})
		addServerContainers(p)
		dropEmptyComponentSpecs(p)
		for j := range p.ComponentSpecs {
			for k := range p.ComponentSpecs[j].Spec.Containers {
				c := &p.ComponentSpecs[j].Spec.Containers[k]
				ports.Assign(c, graphNames[c.Name])
			}
		}
	}
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		walkGraph(&p.Graph, func(n *sdepv1.PredictiveUnit) {
			defaultEndpoint(sd, p, n, opts)
		})
	}
}

func defaultNode(n *sdepv1.PredictiveUnit) {
	if n.Type == "" && len(n.Methods) == 0 && n.Implementation == "" {
		n.Type = sdepv1.Model
	}
	if predictor.IsPrepackaged(n.Implementation) && n.Type == "" {
		n.Type = sdepv1.Model
	}
	if n.Implementation == "" {
		n.Implementation = sdepv1.UnknownImplementation
	}
}

// mapLegacyHpaSpecs moves each hpaSpecs entry onto the componentSpec it names.
// Entries that name no componentSpec, or one that already has an autoscaler,
// stay where they are (Validate reports them).
func mapLegacyHpaSpecs(p *sdepv1.PredictorSpec) {
	var kept []sdepv1.LegacyHpaSpec
	for _, h := range p.HpaSpecs {
		j := predictor.ComponentByName(p, h.ScaleTargetRef.Name)
		if j < 0 || p.ComponentSpecs[j].HpaSpec != nil || p.ComponentSpecs[j].KedaSpec != nil {
			kept = append(kept, h)
			continue
		}
		p.ComponentSpecs[j].HpaSpec = &sdepv1.SeldonHpaSpec{
			MinReplicas: h.MinReplicas,
			MaxReplicas: h.MaxReplicas,
			Metrics:     h.Metrics,
		}
	}
	p.HpaSpecs = kept
}

func defaultEndpoint(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, n *sdepv1.PredictiveUnit, opts predictor.Options) {
	j, c := predictor.FindContainer(p, n.Name)
	if c == nil {
		return
	}
	if n.Endpoint == nil {
		n.Endpoint = &sdepv1.Endpoint{}
	}
	e := n.Endpoint
	if e.Type == "" {
		e.Type = sdepv1.EndpointREST
		if sd.Spec.Transport == sdepv1.TransportGrpc {
			e.Type = sdepv1.EndpointGRPC
		}
	}
	e.HTTPPort = predictor.NamedPort(c.Ports, predictor.PortNameHTTP)
	e.GRPCPort = predictor.NamedPort(c.Ports, predictor.PortNameGRPC)
	e.ServicePort = e.HTTPPort
	if e.Type == sdepv1.EndpointGRPC || sd.Spec.Transport == sdepv1.TransportGrpc {
		e.ServicePort = e.GRPCPort
	}
	if j == predictor.ExecutorComponent(sd, p) {
		e.ServiceHost = "localhost"
	} else {
		e.ServiceHost = naming.ContainerServiceName(sd, p, c.Name) + "." + sd.Namespace + ".svc." + opts.ClusterDomain
	}
}

// walkGraph calls fn on every node, depth first, parents before children.
func walkGraph(n *sdepv1.PredictiveUnit, fn func(*sdepv1.PredictiveUnit)) {
	predictor.Walk(n, "", func(_ string, n *sdepv1.PredictiveUnit) { fn(n) })
}
