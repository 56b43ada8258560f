package executor

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

// Component methods of TensorFlow Serving's gRPC service.
const (
	tfMethodPredict  = "/tensorflow.serving.PredictionService/Predict"
	tfMethodMetadata = "/tensorflow.serving.PredictionService/GetModelMetadata"
)

// tfServer serves tensorflow.serving.PredictionService's Predict and
// GetModelMetadata (docs/protocols.md#tensorflow).
type tfServer struct {
	tfpb.UnimplementedPredictionServiceServer
	e *Executor
}

func (s *tfServer) GetModelMetadata(ctx context.Context, in *tfpb.GetModelMetadataRequest) (*tfpb.GetModelMetadataResponse, error) {
	n, err := s.e.grpcNode(in.GetModelSpec().GetName())
	if err != nil {
		return nil, err
	}
	out := new(tfpb.GetModelMetadataResponse)
	return out, s.e.grpcProxy(ctx, n, tfMethodMetadata, in, out)
}

func (s *tfServer) Predict(ctx context.Context, in *tfpb.PredictRequest) (*tfpb.PredictResponse, error) {
	e := s.e
	start := time.Now()
	puid := incomingPuid(ctx, "")
	_ = grpc.SetHeader(ctx, metadata.Pairs(grpcPuidKey, puid))
	st := e.getState(puid)
	defer e.putState(st)
	st.logged = e.logThisRequest(metadata.ValueFromIncomingContext(ctx, "seldon-skip-logging"))
	ctx = e.outgoing(ctx, puid)
	c := tfGRPCCodec{e: e, model: in.GetModelSpec().GetName()}
	out, err := predict[tfMsg, noFeedback](ctx, c, st, e.root, tfMsg{req: in})
	if err != nil {
		ge := asError(err)
		e.server.grpcPredict.observe(ge.GRPCCode.String(), start)
		return nil, status.Error(ge.GRPCCode, ge.Message)
	}
	e.server.grpcPredict.observe("OK", start)
	if out.resp != nil {
		return out.resp, nil
	}
	return &tfpb.PredictResponse{ModelSpec: out.req.GetModelSpec(), Outputs: out.req.GetInputs()}, nil
}

// tfMsg is a request on its way to a node or a component's response.
type tfMsg struct {
	req  *tfpb.PredictRequest
	resp *tfpb.PredictResponse
}

// tfGRPCCodec walks the graph over gRPC for the tensorflow protocol: every
// node that calls its component calls Predict.
type tfGRPCCodec struct {
	e     *Executor
	model string
}

// request is what n's component gets: the request unchanged, or a new
// PredictRequest for the node's model with the previous outputs as inputs.
func (c tfGRPCCodec) request(n *node, in tfMsg) *tfpb.PredictRequest {
	name := c.model
	if name == "" {
		name = n.name
	}
	if r := in.req; r != nil {
		if r.GetModelSpec().GetName() != "" {
			return r
		}
		// No model named: each node's own, as /v1/models:predict does.
		spec := &tfpb.ModelSpec{Name: name}
		if old := r.GetModelSpec(); old != nil {
			spec.SignatureName, spec.VersionChoice = old.GetSignatureName(), old.VersionChoice
		}
		return &tfpb.PredictRequest{ModelSpec: spec, Inputs: r.GetInputs(), OutputFilter: r.GetOutputFilter()}
	}
	return &tfpb.PredictRequest{ModelSpec: &tfpb.ModelSpec{Name: name}, Inputs: in.resp.GetOutputs()}
}

func (c tfGRPCCodec) call(ctx context.Context, st *walkState, n *node, o op, in tfMsg) (tfMsg, error) {
	if o == opRoute {
		return tfMsg{}, unimplemented(n, "a ROUTER component")
	}
	out := new(tfpb.PredictResponse)
	if err := (grpcCodec{c.e}).invoke(ctx, st, n, o, tfMethodPredict, c.request(n, in), out); err != nil {
		return tfMsg{}, err
	}
	return tfMsg{resp: out}, nil
}

func (c tfGRPCCodec) aggregate(_ context.Context, _ *walkState, n *node, _ []tfMsg) (tfMsg, error) {
	return tfMsg{}, unimplemented(n, "a COMBINER component")
}

func (c tfGRPCCodec) sendFeedback(context.Context, *walkState, *node, noFeedback) (tfMsg, error) {
	return tfMsg{}, status.Error(codes.Unimplemented, "feedback is not part of this protocol")
}

func (c tfGRPCCodec) branch(n *node, _ tfMsg) (int, error) {
	return 0, unimplemented(n, "a ROUTER component")
}

func (c tfGRPCCodec) simpleModel(_ *walkState, in tfMsg) tfMsg { return in }

func (c tfGRPCCodec) average(n *node, _ []tfMsg) (tfMsg, error) {
	return tfMsg{}, graphError(n, "AVERAGE_COMBINER averages SeldonMessages; it does not work under this protocol")
}

func (c tfGRPCCodec) feedbackRoute(noFeedback, *node) int { return -1 }

func (c tfGRPCCodec) empty(*walkState) tfMsg { return tfMsg{resp: &tfpb.PredictResponse{}} }
