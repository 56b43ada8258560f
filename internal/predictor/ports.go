package predictor

import corev1 "k8s.io/api/core/v1"

// Port names on graph containers (and on the executor container).
const (
	PortNameHTTP    = "http"
	PortNameGRPC    = "grpc"
	PortNameMetrics = "metrics"
)

// Options are the installation-wide settings the port plan and endpoint
// defaulting depend on. Empty fields take DefaultOptions' values (see
// Complete), so the zero value is usable.
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

// Complete fills every empty field from DefaultOptions.
func (o Options) Complete() Options {
	d := DefaultOptions()
	for _, f := range []struct{ v, def *int32 }{
		{&o.HTTPPortBase, &d.HTTPPortBase}, {&o.GRPCPortBase, &d.GRPCPortBase},
		{&o.MetricsPortBase, &d.MetricsPortBase}, {&o.ExecutorHTTPPort, &d.ExecutorHTTPPort},
		{&o.ExecutorGRPCPort, &d.ExecutorGRPCPort},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = d.ClusterDomain
	}
	return o
}

// NamedPort returns the number of the port called name, or 0.
func NamedPort(ports []corev1.ContainerPort, name string) int32 {
	for _, p := range ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// PortPlan hands out container ports across a whole SeldonDeployment: the
// same container name always gets the same ports, and ports a container
// already names are kept.
type PortPlan struct {
	nextHTTP, nextGRPC, nextMetrics int32
	byName                          map[string]containerPorts
}

type containerPorts struct{ http, grpc, metrics int32 }

// NewPortPlan starts a plan at the option's port bases.
func NewPortPlan(opts Options) *PortPlan {
	opts = opts.Complete()
	return &PortPlan{
		nextHTTP:    opts.HTTPPortBase,
		nextGRPC:    opts.GRPCPortBase,
		nextMetrics: opts.MetricsPortBase,
		byName:      map[string]containerPorts{},
	}
}

// Assign gives a graph container (inGraph) its http, grpc and metrics
// ports, adding those it does not name. A container outside the graph gets
// nothing added but still reserves the numbers of its name, so a graph
// container of the same name elsewhere shares them.
func (pp *PortPlan) Assign(c *corev1.Container, inGraph bool) {
	cp, seen := pp.byName[c.Name]
	if !seen {
		cp.http = NamedPort(c.Ports, PortNameHTTP)
		if cp.http == 0 {
			cp.http = pp.nextHTTP
			pp.nextHTTP++
		}
		cp.grpc = NamedPort(c.Ports, PortNameGRPC)
		if cp.grpc == 0 {
			cp.grpc = pp.nextGRPC
			pp.nextGRPC++
		}
	}
	if inGraph && cp.metrics == 0 {
		cp.metrics = NamedPort(c.Ports, PortNameMetrics)
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
		if NamedPort(c.Ports, want.name) == 0 {
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: want.name, ContainerPort: want.port, Protocol: corev1.ProtocolTCP})
		}
	}
}
