// Package executor is sdep's inference-graph runtime: it serves one
// predictor's graph over the Seldon protocol, or the v2 (Open Inference
// Protocol) or tensorflow one (WithProtocol), REST and gRPC, walks the graph
// for every request, and calls the graph's components.
//
// The same Executor serves the operator case (`sdep executor`, one endpoint
// per node, taken from the defaulted spec) and the local runtime, which adds
// and removes replicas through each node's EndpointSet while requests flow.
package executor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// Annotations the executor reads (predictor annotations, overridable with
// WithAnnotations).
const (
	AnnotationRESTTimeout    = "seldon.io/rest-timeout"
	AnnotationGRPCTimeout    = "seldon.io/grpc-timeout"
	AnnotationGRPCMaxMessage = "seldon.io/grpc-max-message-size"
	// AnnotationMaxBody bounds request and component response bodies (bytes).
	AnnotationMaxBody = "seldon.io/executor-max-body-bytes"
)

// DefaultMaxBodyBytes bounds REST bodies unless configured otherwise.
const DefaultMaxBodyBytes = 64 << 20

// Executor walks one predictor's graph. Create it with New; serve it with
// Handler (REST) and RegisterGRPC.
type Executor struct {
	cfg     config
	pred    v1.PredictorSpec
	root    *node
	nodes   []*node // depth-first order; node.index indexes this slice
	byName  map[string]*node
	metrics *metrics
	server  serverObservers
	states  sync.Pool
	maxBody int64
	// grpcMax bounds gRPC messages the server receives and sends and those
	// exchanged with components.
	grpcMax int
	// grpcRecvMax bounds gRPC messages the server receives from clients.
	grpcRecvMax int
	admit       *admission
	// forward is the canonical names of inbound headers sent to components.
	forward map[string]bool
	// forwardGRPC is the inbound gRPC metadata keys sent to gRPC
	// components (see grpcKeys).
	forwardGRPC []string
	// draining is set when Serve starts draining: Ready fails.
	draining atomic.Bool
	// proto is the prediction protocol served (WithProtocol).
	proto protocol
	// plog sends payload-log events; nil when no node logs.
	plog *payloadLogger
}

type config struct {
	deployment    string
	namespace     string
	annotations   map[string]string
	registry      prometheus.Registerer
	maxBody       int64
	log           logr.Logger
	random        func() float64
	emptySets     bool
	idleConnsHost int

	maxInFlight      int
	maxInFlightBody  int64
	readTimeout      time.Duration
	componentTimeout time.Duration
	protocolName     string

	loggerEndpoint string
	loggerWorkers  int
	loggerSource   string
}

// Option configures New.
type Option func(*config)

// WithDeploymentName sets the SeldonDeployment name used in metric labels
// and graph metadata.
func WithDeploymentName(name string) Option { return func(c *config) { c.deployment = name } }

// WithNamespace sets the namespace reported in metadata.
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithAnnotations adds annotations over the predictor's own (for example
// the pod's, read from the downward API).
func WithAnnotations(a map[string]string) Option {
	return func(c *config) {
		for k, v := range a {
			c.annotations[k] = v
		}
	}
}

// WithRegistry registers the executor's metrics there instead of a private
// registry.
func WithRegistry(r prometheus.Registerer) Option { return func(c *config) { c.registry = r } }

// WithMaxBodyBytes bounds request bodies and component responses.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithLogger sets the logger.
func WithLogger(l logr.Logger) Option { return func(c *config) { c.log = l } }

// WithRandom replaces the source RANDOM_ABTEST draws from (values in [0,1)).
func WithRandom(f func() float64) Option { return func(c *config) { c.random = f } }

// WithEmptyEndpointSets starts every node's endpoint set empty instead of
// with the spec's endpoint: the local runtime adds its replicas itself.
func WithEmptyEndpointSets() Option { return func(c *config) { c.emptySets = true } }

// WithMaxIdleConnsPerHost sets how many idle keep-alive connections are
// kept to each endpoint (default 256: enough for every concurrent request
// to reuse one instead of dialling).
func WithMaxIdleConnsPerHost(n int) Option { return func(c *config) { c.idleConnsHost = n } }

// New builds the executor for a defaulted predictor: every node that calls
// a component needs an endpoint (unless WithEmptyEndpointSets). The graph
// must compile (predictor.Compile): New reports the same problems the
// validator does, with paths relative to the predictor.
func New(pred v1.PredictorSpec, opts ...Option) (*Executor, error) {
	cfg := config{
		annotations:   map[string]string{},
		maxBody:       DefaultMaxBodyBytes,
		log:           logr.Discard(),
		random:        rand.Float64,
		idleConnsHost: 256,

		maxInFlight:      DefaultMaxInFlight,
		readTimeout:      DefaultReadTimeout,
		componentTimeout: DefaultComponentTimeout,
	}
	for k, v := range pred.Annotations {
		cfg.annotations[k] = v
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
	}
	proto, err := parseProtocol(cfg.protocolName)
	if err != nil {
		return nil, err
	}
	if v, ok := cfg.annotations[AnnotationMaxBody]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("annotation %s: %q is not a positive number of bytes", AnnotationMaxBody, v)
		}
		cfg.maxBody = n
	}
	if n, ok, err := positiveInt(cfg.annotations, AnnotationMaxInFlight); err != nil {
		return nil, err
	} else if ok {
		cfg.maxInFlight = int(min(n, math.MaxInt32))
	}
	if n, ok, err := positiveInt(cfg.annotations, AnnotationMaxInFlightBody); err != nil {
		return nil, err
	} else if ok {
		cfg.maxInFlightBody = n
	}
	if cfg.maxInFlight <= 0 {
		cfg.maxInFlight = DefaultMaxInFlight
	}
	restTimeout, err := msAnnotation(cfg.annotations, AnnotationRESTTimeout, cfg.componentTimeout)
	if err != nil {
		return nil, err
	}
	grpcTimeout, err := msAnnotation(cfg.annotations, AnnotationGRPCTimeout, cfg.componentTimeout)
	if err != nil {
		return nil, err
	}
	// gRPC messages sent, and those exchanged with components, are bounded
	// like REST bodies; messages received from clients by
	// DefaultGRPCMaxReceive (see there). The annotation sets both.
	tc := transportConfig{maxIdleConnsPerHost: cfg.idleConnsHost, grpcMaxMessageSize: maxInt32(cfg.maxBody)}
	grpcRecv := min(DefaultGRPCMaxReceive, tc.grpcMaxMessageSize)
	if v, ok := cfg.annotations[AnnotationGRPCMaxMessage]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("annotation %s: %q is not a positive number of bytes", AnnotationGRPCMaxMessage, v)
		}
		tc.grpcMaxMessageSize, grpcRecv = n, n
	}
	if cfg.maxInFlightBody <= 0 {
		// One request of the largest size, REST or gRPC, and many small ones.
		cfg.maxInFlightBody = max(cfg.maxBody, int64(tc.grpcMaxMessageSize)) + inFlightBodyHeadroom
	}
	forward, err := forwardAllowList(cfg.annotations[AnnotationForwardHeaders])
	if err != nil {
		return nil, err
	}
	holds, err := parseHoldRules(&pred, cfg.annotations)
	if err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.registry)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}

	e := &Executor{cfg: cfg, pred: pred, byName: map[string]*node{}, metrics: met, maxBody: cfg.maxBody,
		grpcMax: tc.grpcMaxMessageSize, grpcRecvMax: grpcRecv, forward: forward, forwardGRPC: grpcKeys(forward),
		admit: newAdmission(int64(cfg.maxInFlight), cfg.maxInFlightBody, met.rejected), proto: proto}
	labels := prometheus.Labels{
		"deployment_name":   cfg.deployment,
		"predictor_name":    pred.Name,
		"predictor_version": pred.Annotations["version"],
	}
	graph, problems := predictor.Compile(&e.pred.Graph, "spec.graph")
	if len(problems) > 0 {
		return nil, problems
	}
	b := builder{e: e, labels: labels, images: predictor.Images(&pred), transport: tc,
		restTimeout: restTimeout, grpcTimeout: grpcTimeout, holds: holds}
	root, err := b.build(graph.Root)
	if err != nil {
		return nil, err
	}
	e.root = root
	for _, n := range e.nodes {
		if n.logger == nil {
			continue
		}
		if e.plog == nil {
			if e.plog, err = newPayloadLogger(&e.cfg, pred.Name, cfg.registry); err != nil {
				return nil, err
			}
		}
		n.logger.pl = e.plog
	}
	e.server = newServerObservers(met, labels)
	if err := cfg.registry.Register(newLoadCollector(e)); err != nil {
		if e.plog != nil {
			e.plog.close() // its workers are running
		}
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	e.states.New = func() any {
		return &walkState{path: graphPath{nodes: e.nodes, routes: make([]int32, len(e.nodes))}, admit: e.admit}
	}
	return e, nil
}

// msAnnotation reads a timeout in milliseconds; absent, it is def. An
// explicit 0 means no timeout.
func msAnnotation(a map[string]string, key string, def time.Duration) (time.Duration, error) {
	v, ok := a[key]
	if !ok || v == "" {
		return def, nil
	}
	ms, err := strconv.Atoi(v)
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("annotation %s: %q is not a number of milliseconds", key, v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// EndpointSet returns the replicas of the named node, or false when the node
// does not exist or never calls a component (built-ins, pass-through nodes).
func (e *Executor) EndpointSet(node string) (*EndpointSet, bool) {
	n, ok := e.byName[node]
	if !ok || n.endpoints == nil {
		return nil, false
	}
	return n.endpoints, true
}

// NodesWithEndpoints lists, in depth-first order, the nodes that call a
// component and so have an EndpointSet.
func (e *Executor) NodesWithEndpoints() []string {
	var out []string
	for _, n := range e.nodes {
		if n.endpoints != nil {
			out = append(out, n.name)
		}
	}
	return out
}

// Close closes every connection to components. Call it after the servers
// have stopped.
func (e *Executor) Close() {
	if e.plog != nil {
		e.plog.close()
	}
	for _, n := range e.nodes {
		if n.endpoints != nil {
			n.endpoints.closeAll()
		}
	}
}

// op is one kind of call to a component.
type op int

const (
	opNone op = iota
	opPredict
	opTransformInput
	opTransformOutput
	opRoute
	opAggregate
	opFeedback
	numOps
)

var restPaths = [numOps]string{
	opPredict:         "/predict",
	opTransformInput:  "/transform-input",
	opTransformOutput: "/transform-output",
	opRoute:           "/route",
	opAggregate:       "/aggregate",
	opFeedback:        "/send-feedback",
}

// gRPC methods per call, as the component services of the protocol define them.
var grpcMethods = [numOps]string{
	opPredict:         "/seldon.protos.Model/Predict",
	opTransformInput:  "/seldon.protos.Transformer/TransformInput",
	opTransformOutput: "/seldon.protos.OutputTransformer/TransformOutput",
	opRoute:           "/seldon.protos.Router/Route",
	opAggregate:       "/seldon.protos.Combiner/Aggregate",
	opFeedback:        "/seldon.protos.Model/SendFeedback",
}

const grpcRouterFeedback = "/seldon.protos.Router/SendFeedback"

// node is a graph node with every per-request decision made in advance.
type node struct {
	name     string
	index    int
	image    string
	children []*node

	input       op // opNone, opPredict or opTransformInput
	simpleModel bool
	router      predictor.Router
	ratioA      float64
	random      func() float64
	aggregate   predictor.Combiner
	output      bool
	feedback    bool
	grpcFbPath  string

	endpoints   *EndpointSet
	logger      *nodeLogger // nil: the node logs nothing
	restTimeout time.Duration
	grpcTimeout time.Duration
	restObs     [numOps]*observer
	grpcObs     [numOps]*observer
	load        *nodeLoad // set when the node calls a component
}

type builder struct {
	e           *Executor
	labels      prometheus.Labels
	images      map[string]string
	transport   transportConfig
	restTimeout time.Duration
	grpcTimeout time.Duration
	holds       holdRules
}

// build turns a compiled graph node into the executor's node: the
// predictor package has decided what the node does; the executor adds its
// endpoints and metrics.
func (b *builder) build(g *predictor.Node) (*node, error) {
	n := &node{name: g.Name, index: len(b.e.nodes), image: b.images[g.Name],
		restTimeout: b.restTimeout, grpcTimeout: b.grpcTimeout, random: b.e.cfg.random,
		simpleModel: g.SimpleModel, router: g.Router, ratioA: g.RatioA, aggregate: g.Combiner,
		output: g.TransformOutput, feedback: g.Feedback, grpcFbPath: grpcMethods[opFeedback]}
	switch g.Input {
	case predictor.InputPredict:
		n.input = opPredict
	case predictor.InputTransformInput:
		n.input = opTransformInput
	}
	if g.RouterFeedback {
		n.grpcFbPath = grpcRouterFeedback
	}
	if g.Unit != nil {
		var err error
		if n.logger, err = resolveNodeLogger(g.Unit.Logger, g.Path, g.Name, b.e.cfg.loggerEndpoint, b.e.protocolLabel()); err != nil {
			return nil, err
		}
		if l := g.Unit.Logger; l != nil && n.logger == nil && (l.URL == nil || *l.URL == "") && b.e.cfg.loggerEndpoint == "" {
			b.e.cfg.log.Info("node has a logger but no url and there is no default endpoint ("+EnvLoggerDefaultEndpoint+"): its payloads are not logged", "node", g.Name)
		}
	}
	b.e.nodes = append(b.e.nodes, n)
	b.e.byName[g.Name] = n

	if g.CallsComponent() {
		hc := b.holds.forNode(g.Name)
		if !b.e.cfg.emptySets && hc.limit > 0 {
			if ep := g.Unit.Endpoint; ep != nil && !isLoopbackHost(ep.ServiceHost) {
				// The one member is the component's Service, not a replica:
				// a per-replica limit there would cap every replica together.
				b.e.cfg.log.Info("not enforced: the node reaches its component through a Service, so the executor cannot limit each replica",
					"node", g.Name, "annotation", AnnotationContainerConcurrency, "host", ep.ServiceHost)
				hc.limit = 0
			}
		}
		n.endpoints = newHoldingEndpointSet(g.Name, b.transport, hc)
		n.load = newNodeLoad(time.Now)
		if !b.e.cfg.emptySets {
			ep := g.Unit.Endpoint
			if ep == nil || ep.ServiceHost == "" || ep.HTTPPort == 0 && ep.GRPCPort == 0 && ep.ServicePort == 0 {
				return nil, fmt.Errorf("%s.endpoint: node %q calls a component but has no endpoint (service_host and httpPort/grpcPort); apply defaulting first", g.Path, g.Name)
			}
			httpPort, grpcPort := ep.HTTPPort, ep.GRPCPort
			// 0.x specs only had service_port, whose transport was endpoint.type.
			if httpPort == 0 && ep.Type != v1.EndpointGRPC {
				httpPort = ep.ServicePort
			}
			if grpcPort == 0 && ep.Type == v1.EndpointGRPC {
				grpcPort = ep.ServicePort
			}
			if err := n.endpoints.Add(Endpoint{Host: ep.ServiceHost, HTTPPort: httpPort, GRPCPort: grpcPort}); err != nil {
				return nil, err
			}
		}
		b.observers(n)
	}
	for _, child := range g.Children {
		c, err := b.build(child)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, c)
	}
	return n, nil
}

func (b *builder) observers(n *node) {
	imageName, imageVersion := predictor.SplitImage(n.image)
	for o := opPredict; o < numOps; o++ {
		l := prometheus.Labels{"service": b.e.restService(n, o), "model_name": n.name,
			"model_image": imageName, "model_version": imageVersion}
		for k, v := range b.labels {
			l[k] = v
		}
		l["method"] = "POST"
		n.restObs[o] = newObserver(b.e.metrics.client.MustCurryWith(l), "200")
		l["method"] = "GRPC"
		n.grpcObs[o] = newObserver(b.e.metrics.client.MustCurryWith(l), "OK")
	}
}

// serverObservers are the ingress metrics per API and transport.
type serverObservers struct {
	restPredict, restFeedback, grpcPredict, grpcFeedback *observer
}

func newServerObservers(m *metrics, base prometheus.Labels) serverObservers {
	mk := func(service, method, ok string) *observer {
		l := prometheus.Labels{"service": service, "method": method}
		for k, v := range base {
			l[k] = v
		}
		return newObserver(m.server.MustCurryWith(l), ok)
	}
	return serverObservers{
		restPredict:  mk("predictions", "POST", "200"),
		restFeedback: mk("feedback", "POST", "200"),
		grpcPredict:  mk("predictions", "GRPC", "OK"),
		grpcFeedback: mk("feedback", "GRPC", "OK"),
	}
}

// notVisited marks nodes the walk did not reach in graphPath.routes.
const notVisited = math.MinInt32

// walkState is one request's bookkeeping, pooled.
type walkState struct {
	puid   string
	header map[string][]string // REST: headers forwarded to components
	path   graphPath
	logged bool // the request's payloads are logged (see logThisRequest)
	// fbBody and fbType are a feedback request's body and content type,
	// for the feedback events of nodes that log (set only when logged).
	fbBody []byte
	fbType string
	// held counts the request's component calls waiting for a replica;
	// admit is the executor's admission (see holdStart).
	held  atomic.Int32
	admit *admission
}

func (e *Executor) getState(puid string) *walkState {
	st := e.states.Get().(*walkState)
	st.puid = puid
	for i := range st.path.routes {
		st.path.routes[i] = notVisited
	}
	return st
}

func (e *Executor) putState(st *walkState) {
	st.header = nil
	st.puid = ""
	st.logged = false
	st.fbBody, st.fbType = nil, ""
	e.states.Put(st)
}

// newPuid is a random (version 4) UUID. Its 122 random bits come from the
// runtime's per-thread ChaCha8 generator (math/rand/v2's top-level
// functions), seeded from the OS: no lock and one allocation, where a
// UUID from crypto/rand costs a system call or a shared pool's mutex. A
// puid identifies a request; it is not a secret.
func newPuid() string {
	var b [36]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // variant 10
	const hex = "0123456789abcdef"
	put := func(at int, v uint64, digits int) {
		for i := digits - 1; i >= 0; i-- {
			b[at+i] = hex[v&0xf]
			v >>= 4
		}
	}
	put(0, hi>>32, 8)
	b[8] = '-'
	put(9, hi>>16, 4)
	b[13] = '-'
	put(14, hi, 4)
	b[18] = '-'
	put(19, lo>>48, 4)
	b[23] = '-'
	put(24, lo, 12)
	return string(b[:])
}

// protocolLabel is the protocol's name as spec.protocol spells it (seldon
// when unset): the protocol extension of logged events.
func (e *Executor) protocolLabel() string {
	if e.cfg.protocolName == "" {
		return string(v1.ProtocolSeldon)
	}
	return e.cfg.protocolName
}

// isLoopbackHost reports whether a node's service_host is this pod itself
// (the executor then shares the component's pod, so its one endpoint is one
// replica).
func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
