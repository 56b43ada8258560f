package executor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
)

// Component methods of the Open Inference Protocol's gRPC service.
const (
	v2MethodInfer    = "/inference.GRPCInferenceService/ModelInfer"
	v2MethodReady    = "/inference.GRPCInferenceService/ModelReady"
	v2MethodMetadata = "/inference.GRPCInferenceService/ModelMetadata"
)

// v2Server serves inference.GRPCInferenceService (docs/protocols.md#v2).
type v2Server struct {
	ipb.UnimplementedGRPCInferenceServiceServer
	e *Executor
}

func (s *v2Server) ServerLive(context.Context, *ipb.ServerLiveRequest) (*ipb.ServerLiveResponse, error) {
	return &ipb.ServerLiveResponse{Live: true}, nil
}

func (s *v2Server) ServerReady(ctx context.Context, _ *ipb.ServerReadyRequest) (*ipb.ServerReadyResponse, error) {
	return &ipb.ServerReadyResponse{Ready: s.e.Ready(ctx) == nil}, nil
}

func (s *v2Server) ServerMetadata(context.Context, *ipb.ServerMetadataRequest) (*ipb.ServerMetadataResponse, error) {
	return &ipb.ServerMetadataResponse{Name: v2ServerName, Version: v2ServerVersion, Extensions: []string{}}, nil
}

// grpcNode is the node a status or metadata call names.
func (e *Executor) grpcNode(name string) (*node, error) {
	n, ok := e.byName[name]
	if !ok || n.endpoints == nil {
		return nil, status.Errorf(codes.NotFound, "model %q is not a graph node with a component (have: %s)",
			name, strings.Join(e.NodesWithEndpoints(), ", "))
	}
	return n, nil
}

// grpcProxy makes one unary call to n's component with the inbound
// metadata on the allow-list.
func (e *Executor) grpcProxy(ctx context.Context, n *node, method string, in, out any) error {
	puid := incomingPuid(ctx, "")
	_ = grpc.SetHeader(ctx, metadata.Pairs(grpcPuidKey, puid))
	ctx, cancel := context.WithTimeout(e.outgoing(ctx, puid), 5*time.Second)
	defer cancel()
	m, err := n.endpoints.pickNow()
	if err != nil {
		return grpcStatus(noEndpoint(n))
	}
	defer m.release()
	conn, err := m.grpcClient()
	if err != nil {
		return grpcStatus(e.callFailed(n, method, m.grpcTarget(), err))
	}
	if err := conn.Invoke(ctx, method, in, out); err != nil {
		return grpcStatus(e.fromGRPC(n, method, m.grpcTarget(), err))
	}
	return nil
}

func grpcStatus(err error) error {
	ge := asError(err)
	return status.Error(ge.GRPCCode, ge.Message)
}

func (s *v2Server) ModelReady(ctx context.Context, in *ipb.ModelReadyRequest) (*ipb.ModelReadyResponse, error) {
	n, err := s.e.grpcNode(in.GetName())
	if err != nil {
		return nil, err
	}
	out := new(ipb.ModelReadyResponse)
	return out, s.e.grpcProxy(ctx, n, v2MethodReady, in, out)
}

func (s *v2Server) ModelMetadata(ctx context.Context, in *ipb.ModelMetadataRequest) (*ipb.ModelMetadataResponse, error) {
	n, err := s.e.grpcNode(in.GetName())
	if err != nil {
		return nil, err
	}
	out := new(ipb.ModelMetadataResponse)
	return out, s.e.grpcProxy(ctx, n, v2MethodMetadata, in, out)
}

func (s *v2Server) ModelInfer(ctx context.Context, in *ipb.ModelInferRequest) (*ipb.ModelInferResponse, error) {
	e := s.e
	start := time.Now()
	puid := incomingPuid(ctx, "")
	_ = grpc.SetHeader(ctx, metadata.Pairs(grpcPuidKey, puid))
	st := e.getState(puid)
	defer e.putState(st)
	st.logged = e.logThisRequest(metadata.ValueFromIncomingContext(ctx, "seldon-skip-logging"))
	ctx = e.outgoing(ctx, puid)
	c := v2GRPCCodec{e: e, model: in.GetModelName(), version: in.GetModelVersion()}
	out, err := predict[v2Msg, noFeedback](ctx, c, st, e.root, v2Msg{req: in})
	if err != nil {
		ge := asError(err)
		e.server.grpcPredict.observe(ge.GRPCCode.String(), start)
		return nil, status.Error(ge.GRPCCode, ge.Message)
	}
	e.server.grpcPredict.observe("OK", start)
	if out.resp != nil {
		return out.resp, nil
	}
	// No component answered (built-ins only): the inputs come back.
	r := out.req
	resp := &ipb.ModelInferResponse{ModelName: r.GetModelName(), ModelVersion: r.GetModelVersion(), Id: r.GetId(),
		Parameters: r.GetParameters(), RawOutputContents: r.GetRawInputContents()}
	for _, t := range r.GetInputs() {
		resp.Outputs = append(resp.Outputs, &ipb.ModelInferResponse_InferOutputTensor{Name: t.GetName(),
			Datatype: t.GetDatatype(), Shape: t.GetShape(), Parameters: t.GetParameters(), Contents: t.GetContents()})
	}
	return resp, nil
}

// v2Msg is a request on its way to a node or a component's response.
type v2Msg struct {
	req  *ipb.ModelInferRequest
	resp *ipb.ModelInferResponse
}

// v2GRPCCodec walks the graph over gRPC for the v2 protocol: every node
// that calls its component (model, transformer) calls ModelInfer.
type v2GRPCCodec struct {
	e              *Executor
	model, version string
}

// request is what n's component gets: the request with its model name, or
// the previous response's outputs as inputs, tensors and raw contents
// passed on as they are.
func (c v2GRPCCodec) request(n *node, in v2Msg) *ipb.ModelInferRequest {
	name, version := c.model, c.version
	if name == "" {
		name = n.name
	}
	if r := in.req; r != nil {
		if r.GetModelName() == name && r.GetModelVersion() == version {
			return r
		}
		return &ipb.ModelInferRequest{ModelName: name, ModelVersion: version, Id: r.GetId(), Parameters: r.GetParameters(),
			Inputs: r.GetInputs(), Outputs: r.GetOutputs(), RawInputContents: r.GetRawInputContents()}
	}
	r := in.resp
	out := &ipb.ModelInferRequest{ModelName: name, ModelVersion: version, Id: r.GetId(), Parameters: r.GetParameters(),
		RawInputContents: r.GetRawOutputContents()}
	for _, t := range r.GetOutputs() {
		out.Inputs = append(out.Inputs, &ipb.ModelInferRequest_InferInputTensor{Name: t.GetName(), Datatype: t.GetDatatype(),
			Shape: t.GetShape(), Parameters: t.GetParameters(), Contents: t.GetContents()})
	}
	return out
}

func (c v2GRPCCodec) call(ctx context.Context, st *walkState, n *node, o op, in v2Msg) (v2Msg, error) {
	if o == opRoute {
		return v2Msg{}, unimplemented(n, "a ROUTER component")
	}
	out := new(ipb.ModelInferResponse)
	if err := (grpcCodec{c.e}).invoke(ctx, st, n, o, v2MethodInfer, c.request(n, in), out); err != nil {
		return v2Msg{}, err
	}
	return v2Msg{resp: out}, nil
}

func unimplemented(n *node, what string) *Error {
	return &Error{HTTPStatus: 501, GRPCCode: codes.Unimplemented, Reason: reasonGraph,
		Message: fmt.Sprintf("node %q: %s has no call in this protocol's gRPC service; use REST or the seldon protocol", n.name, what)}
}

func (c v2GRPCCodec) aggregate(_ context.Context, _ *walkState, n *node, _ []v2Msg) (v2Msg, error) {
	return v2Msg{}, unimplemented(n, "a COMBINER component")
}

func (c v2GRPCCodec) sendFeedback(context.Context, *walkState, *node, noFeedback) (v2Msg, error) {
	return v2Msg{}, status.Error(codes.Unimplemented, "feedback is not part of this protocol")
}

func (c v2GRPCCodec) branch(n *node, _ v2Msg) (int, error) {
	return 0, unimplemented(n, "a ROUTER component")
}

func (c v2GRPCCodec) simpleModel(_ *walkState, in v2Msg) v2Msg { return in }

func (c v2GRPCCodec) average(n *node, _ []v2Msg) (v2Msg, error) {
	return v2Msg{}, graphError(n, "AVERAGE_COMBINER averages SeldonMessages; it does not work under this protocol")
}

func (c v2GRPCCodec) feedbackRoute(noFeedback, *node) int { return -1 }

func (c v2GRPCCodec) empty(*walkState) v2Msg { return v2Msg{resp: &ipb.ModelInferResponse{}} }
