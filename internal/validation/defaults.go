// Package validation is sdep's one place for SeldonDeployment defaulting and
// validation. The webhook, the CLI (sdep validate, render) and the local
// runtime all call it, so a document means the same thing everywhere.
//
// Everything here is a pure function of its arguments: no API calls, no
// clock, no environment.
package validation

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
)

// Options are the installation-wide settings defaulting depends on. The
// zero value is not useful; start from DefaultOptions.
type Options struct {
	// First ports handed to graph containers (Seldon Core: 9000, 9500, 6000).
	HTTPPortBase, GRPCPortBase, MetricsPortBase int32
	// Ports the executor serves on (Seldon Core: 8000, 5001).
	ExecutorHTTPPort, ExecutorGRPCPort int32
	// ClusterDomain completes Service host names (cluster.local).
	ClusterDomain string
}

// DefaultOptions returns Seldon Core 1.x's settings.
func DefaultOptions() Options {
	return Options{
		HTTPPortBase:     9000,
		GRPCPortBase:     9500,
		MetricsPortBase:  6000,
		ExecutorHTTPPort: 8000,
		ExecutorGRPCPort: 5001,
		ClusterDomain:    "cluster.local",
	}
}

// Port names on graph containers.
const (
	PortNameHTTP    = "http"
	PortNameGRPC    = "grpc"
	PortNameMetrics = "metrics"
)

// Annotations sdep reads.
const (
	AnnotationNoEngine          = "seldon.io/no-engine"
	AnnotationEngineSeparatePod = "seldon.io/engine-separate-pod"
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
//   - graph containers get http, grpc and metrics ports, numbered across the
//     whole SeldonDeployment by container name (9000+, 9500+, 6000+);
//   - every graph node with a container gets its endpoint (host, ports, type);
//   - hpaSpecs[i] becomes componentSpecs[j].hpaSpec of the componentSpec whose
//     metadata.name is hpaSpecs[i].scaleTargetRef.name.
//
// Default is idempotent and never overwrites a value the user set, except the
// endpoint host and ports, which it derives. Call Validate first: Default on
// an invalid document does not panic, but what it produces is unspecified.
func Default(sd *sdepv1.SeldonDeployment, opts Options) {
	if sd.Namespace == "" {
		sd.Namespace = DefaultNamespace
	}
	ports := newPortPlan(opts)
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
		for j := range p.ComponentSpecs {
			for k := range p.ComponentSpecs[j].Spec.Containers {
				c := &p.ComponentSpecs[j].Spec.Containers[k]
				ports.assign(c, graphNames[c.Name])
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
	if IsPrepackaged(n.Implementation) && n.Type == "" {
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
		j := componentByName(p, h.ScaleTargetRef.Name)
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

// componentByName returns the index of the only componentSpec with that
// metadata.name, or -1 when there is none or more than one.
func componentByName(p *sdepv1.PredictorSpec, name string) int {
	found := -1
	for j := range p.ComponentSpecs {
		if p.ComponentSpecs[j].Metadata.Name == name {
			if found >= 0 {
				return -1
			}
			found = j
		}
	}
	return found
}

// portPlan hands out container ports across a whole SeldonDeployment:
// the same container name always gets the same ports.
type portPlan struct {
	nextHTTP, nextGRPC, nextMetrics int32
	byName                          map[string]containerPorts
}

type containerPorts struct{ http, grpc, metrics int32 }

func newPortPlan(opts Options) *portPlan {
	return &portPlan{
		nextHTTP:    opts.HTTPPortBase,
		nextGRPC:    opts.GRPCPortBase,
		nextMetrics: opts.MetricsPortBase,
		byName:      map[string]containerPorts{},
	}
}

func (pp *portPlan) assign(c *corev1.Container, inGraph bool) {
	cp, seen := pp.byName[c.Name]
	if !seen {
		cp.http = namedPort(c, PortNameHTTP)
		if cp.http == 0 {
			cp.http = pp.nextHTTP
			pp.nextHTTP++
		}
		cp.grpc = namedPort(c, PortNameGRPC)
		if cp.grpc == 0 {
			cp.grpc = pp.nextGRPC
			pp.nextGRPC++
		}
	}
	if inGraph && cp.metrics == 0 {
		cp.metrics = namedPort(c, PortNameMetrics)
		if cp.metrics == 0 {
			cp.metrics = pp.nextMetrics
			pp.nextMetrics++
		}
	}
	pp.byName[c.Name] = cp
	if !inGraph {
		return
	}
	for _, want := range []struct {
		name string
		port int32
	}{{PortNameHTTP, cp.http}, {PortNameGRPC, cp.grpc}, {PortNameMetrics, cp.metrics}} {
		if namedPort(c, want.name) == 0 {
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: want.name, ContainerPort: want.port, Protocol: corev1.ProtocolTCP})
		}
	}
}

func namedPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func defaultEndpoint(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, n *sdepv1.PredictiveUnit, opts Options) {
	j, c := FindContainer(p, n.Name)
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
	e.HTTPPort = namedPort(c, PortNameHTTP)
	e.GRPCPort = namedPort(c, PortNameGRPC)
	e.ServicePort = e.HTTPPort
	if e.Type == sdepv1.EndpointGRPC || sd.Spec.Transport == sdepv1.TransportGrpc {
		e.ServicePort = e.GRPCPort
	}
	if j == ExecutorComponent(p) {
		e.ServiceHost = "localhost"
	} else {
		e.ServiceHost = naming.ContainerServiceName(sd, p, c.Name) + "." + sd.Namespace + ".svc." + opts.ClusterDomain
	}
}

// FindContainer returns the componentSpec index and the container named
// name in predictor p, or -1 and nil.
func FindContainer(p *sdepv1.PredictorSpec, name string) (int, *corev1.Container) {
	for j := range p.ComponentSpecs {
		for k := range p.ComponentSpecs[j].Spec.Containers {
			if p.ComponentSpecs[j].Spec.Containers[k].Name == name {
				return j, &p.ComponentSpecs[j].Spec.Containers[k]
			}
		}
	}
	return -1, nil
}

// ExecutorComponent is the index of the componentSpec whose pods run the
// executor container: the first, as in Seldon Core. It is -1 when the
// predictor has no componentSpecs.
func ExecutorComponent(p *sdepv1.PredictorSpec) int {
	if len(p.ComponentSpecs) == 0 {
		return -1
	}
	return 0
}

// ExecutorResources returns the executor container's resources:
// svcOrchSpec.resources, else the 0.x engineResources, else requests of
// 0.5 cpu and 512Mi memory (a memory limit of 512Mi, no cpu limit, so the
// executor is never throttled). Both requests are always present unless the
// user's resources omit them, so cpu and memory HPAs work on its pod.
func ExecutorResources(p *sdepv1.PredictorSpec) corev1.ResourceRequirements {
	if p.SvcOrchSpec != nil && p.SvcOrchSpec.Resources != nil {
		return *p.SvcOrchSpec.Resources.DeepCopy()
	}
	if p.EngineResources != nil {
		return *p.EngineResources.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
	}
}

// IsBuiltin reports whether the executor itself implements the node.
func IsBuiltin(impl sdepv1.PredictiveUnitImplementation) bool {
	switch impl {
	case sdepv1.SimpleModel, sdepv1.SimpleRouter, sdepv1.RandomABTest, sdepv1.AverageCombiner:
		return true
	}
	return false
}

// IsPrepackaged reports whether impl names a prepackaged model server.
func IsPrepackaged(impl sdepv1.PredictiveUnitImplementation) bool {
	switch impl {
	case sdepv1.SKLearnServer, sdepv1.XGBoostServer, sdepv1.TensorflowServer, sdepv1.MLFlowServer,
		sdepv1.TritonServer, sdepv1.HuggingFaceServer, sdepv1.TempoServer:
		return true
	}
	return false
}

// walkGraph calls fn on every node, depth first, parents before children.
func walkGraph(n *sdepv1.PredictiveUnit, fn func(*sdepv1.PredictiveUnit)) {
	fn(n)
	for i := range n.Children {
		walkGraph(&n.Children[i], fn)
	}
}

// WalkGraph calls fn on every node of the graph rooted at n, depth first,
// parents before children, with the node's field path relative to root
// (e.g. "graph.children[1]").
func WalkGraph(n *sdepv1.PredictiveUnit, root string, fn func(path string, n *sdepv1.PredictiveUnit)) {
	fn(root, n)
	for i := range n.Children {
		WalkGraph(&n.Children[i], root+".children["+strconv.Itoa(i)+"]", fn)
	}
}
