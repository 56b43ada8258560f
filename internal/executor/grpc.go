package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/sdep-dev/sdep/internal/grpcflow"
	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

// grpcPuidKey is the gRPC metadata key for the puid (metadata keys are
// lower case).
const grpcPuidKey = "seldon-puid"

// NewGRPCServer returns a gRPC server with the Seldon service, gRPC health
// (serving while the process runs) and reflection, so clients such as
// grpcurl need no .proto file.
func (e *Executor) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	return e.newGRPCServer(newHealth(), opts...)
}

// grpcHealth is the gRPC health service of one server, flipped to
// NOT_SERVING when the executor drains.
type grpcHealth struct{ *health.Server }

func newHealth() grpcHealth {
	h := grpcHealth{health.NewServer()}
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(pb.Seldon_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return h
}

func (h grpcHealth) notServing() {
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	h.SetServingStatus(pb.Seldon_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
}

func (e *Executor) newGRPCServer(hs grpcHealth, opts ...grpc.ServerOption) *grpc.Server {
	// Messages are bounded like REST bodies (seldon.io/grpc-max-message-size
	// overrides); requests count against the same in-flight cap. The
	// flow-control windows are fixed (grpcflow): no PING per call.
	opts = append(append(grpcflow.ServerOptions(), grpc.MaxRecvMsgSize(e.grpcRecvMax), grpc.MaxSendMsgSize(e.grpcMax),
		grpc.ChainUnaryInterceptor(e.admitGRPC)), opts...)
	s := grpc.NewServer(opts...)
	e.RegisterGRPC(s)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return s
}

// admitGRPC applies the in-flight cap and the body memory budget to the
// Seldon service's calls.
func (e *Executor) admitGRPC(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, "/seldon.protos.Seldon/") && info.FullMethod != v2MethodInfer && info.FullMethod != tfMethodPredict {
		return handler(ctx, req)
	}
	if !e.admit.enter() {
		e.admit.busyGRPC.Inc()
		return nil, status.Error(codes.Unavailable, "executor is at its limit of concurrent requests; retry later")
	}
	defer e.admit.leave()
	// gRPC has received the whole message by now; holding its size against
	// the body budget keeps concurrent large requests from multiplying it
	// (decoded copy, component calls, answers).
	if m, ok := req.(proto.Message); ok {
		if n := int64(proto.Size(m)); n > 0 {
			if !e.admit.reserve(n) {
				e.admit.memoryGRPC.Inc()
				return nil, status.Error(codes.Unavailable, "executor is at its limit of request body memory; retry later")
			}
			defer e.admit.release(n)
		}
	}
	return handler(ctx, req)
}

// RegisterGRPC registers only the service of the executor's protocol on s:
// seldon.protos.Seldon, inference.GRPCInferenceService (v2) or
// tensorflow.serving.PredictionService.
func (e *Executor) RegisterGRPC(s grpc.ServiceRegistrar) {
	switch e.proto {
	case protoV2:
		ipb.RegisterGRPCInferenceServiceServer(s, &v2Server{e: e})
	case protoTensorflow:
		tfpb.RegisterPredictionServiceServer(s, &tfServer{e: e})
	default:
		pb.RegisterSeldonServer(s, &grpcServer{e: e})
	}
}

type grpcServer struct {
	pb.UnimplementedSeldonServer
	e *Executor
}

// outgoing is ctx carrying, for gRPC component calls, the inbound metadata
// on the allow-list (tracing and v2 routing keys, and what
// seldon.io/executor-forward-headers adds; never authorization or cookie
// otherwise) and the request's puid.
func (e *Executor) outgoing(ctx context.Context, puid string) context.Context {
	var out metadata.MD
	for _, k := range e.forwardGRPC {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			if out == nil {
				out = make(metadata.MD, 2)
			}
			out[k] = v
		}
	}
	if out == nil {
		return metadata.AppendToOutgoingContext(ctx, grpcPuidKey, puid)
	}
	out[grpcPuidKey] = []string{puid}
	return metadata.NewOutgoingContext(ctx, out)
}

func incomingPuid(ctx context.Context, metaPuid string) string {
	if metaPuid != "" {
		return metaPuid
	}
	if v := metadata.ValueFromIncomingContext(ctx, grpcPuidKey); len(v) > 0 && v[0] != "" {
		return v[0]
	}
	return newPuid()
}

func (s *grpcServer) Predict(ctx context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	e := s.e
	start := time.Now()
	puid := incomingPuid(ctx, in.GetMeta().GetPuid())
	if in.Meta == nil {
		in.Meta = &pb.Meta{}
	}
	in.Meta.Puid = puid
	_ = grpc.SetHeader(ctx, metadata.Pairs(grpcPuidKey, puid))
	st := e.getState(puid)
	defer e.putState(st)
	st.logged = e.plog != nil && e.logThisRequest(metadata.ValueFromIncomingContext(ctx, "seldon-skip-logging"))
	ctx = e.outgoing(ctx, puid)
	out, err := predict[*pb.SeldonMessage, *pb.Feedback](ctx, grpcCodec{e}, st, e.root, in)
	if err != nil {
		ge := asError(err)
		e.server.grpcPredict.observe(ge.GRPCCode.String(), start)
		return nil, status.Error(ge.GRPCCode, ge.Message)
	}
	addPath(out, st)
	e.server.grpcPredict.observe("OK", start)
	return out, nil
}

func (s *grpcServer) SendFeedback(ctx context.Context, fb *pb.Feedback) (*pb.SeldonMessage, error) {
	e := s.e
	start := time.Now()
	puid := incomingPuid(ctx, "")
	_ = grpc.SetHeader(ctx, metadata.Pairs(grpcPuidKey, puid))
	st := e.getState(puid)
	defer e.putState(st)
	if st.logged = e.plog != nil && e.logThisRequest(metadata.ValueFromIncomingContext(ctx, "seldon-skip-logging")); st.logged {
		st.fbBody, st.fbType = marshalForLog(fb), protobufContentType
	}
	ctx = e.outgoing(ctx, puid)
	out, err := feedback[*pb.SeldonMessage, *pb.Feedback](ctx, grpcCodec{e}, st, e.root, fb)
	if err != nil {
		ge := asError(err)
		e.server.grpcFeedback.observe(ge.GRPCCode.String(), start)
		return nil, status.Error(ge.GRPCCode, ge.Message)
	}
	addPath(out, st)
	e.server.grpcFeedback.observe("OK", start)
	return out, nil
}

// addPath fills the answer's meta with the puid and the walk's routing and
// request path, over whatever components put there.
func addPath(out *pb.SeldonMessage, st *walkState) {
	if out.Meta == nil {
		out.Meta = &pb.Meta{}
	}
	out.Meta.Puid = st.puid
	for i, n := range st.path.nodes {
		r := st.path.routes[i]
		if r == notVisited {
			continue
		}
		if out.Meta.Routing == nil {
			out.Meta.Routing = map[string]int32{}
		}
		if out.Meta.RequestPath == nil {
			out.Meta.RequestPath = map[string]string{}
		}
		out.Meta.Routing[n.name] = r
		out.Meta.RequestPath[n.name] = n.image
	}
}

func (s *grpcServer) ModelMetadata(ctx context.Context, req *pb.SeldonModelMetadataRequest) (*pb.SeldonModelMetadata, error) {
	n, ok := s.e.byName[req.GetName()]
	if !ok || n.endpoints == nil {
		return nil, status.Errorf(codes.NotFound, "no graph node %q with a component", req.GetName())
	}
	md, err := s.e.grpcModelMetadata(ctx, n)
	if err != nil {
		ge := asError(err)
		return nil, status.Error(ge.GRPCCode, ge.Message)
	}
	return md, nil
}

func (s *grpcServer) GraphMetadata(ctx context.Context, _ *emptypb.Empty) (*pb.SeldonGraphMetadata, error) {
	out := &pb.SeldonGraphMetadata{Name: s.e.pred.Name, Models: map[string]*pb.SeldonModelMetadata{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, n := range s.e.nodes {
		if n.endpoints == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			md, err := s.e.grpcModelMetadata(ctx, n)
			if err != nil {
				md = &pb.SeldonModelMetadata{Name: n.name}
			}
			mu.Lock()
			out.Models[n.name] = md
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, nil
}

func (e *Executor) grpcModelMetadata(ctx context.Context, n *node) (*pb.SeldonModelMetadata, error) {
	m, err := n.endpoints.pickNow()
	if err != nil {
		return nil, noEndpoint(n)
	}
	defer m.release()
	conn, err := m.grpcClient()
	if err != nil {
		return nil, e.callFailed(n, "Model/Metadata", m.grpcTarget(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := new(pb.SeldonModelMetadata)
	if err := conn.Invoke(ctx, "/seldon.protos.Model/Metadata", &emptypb.Empty{}, out); err != nil {
		return nil, e.fromGRPC(n, "Model/Metadata", m.grpcTarget(), err)
	}
	return out, nil
}

func (m *member) grpcTarget() string {
	return net.JoinHostPort(m.ep.Host, strconv.Itoa(int(m.ep.GRPCPort)))
}

// grpcCodec walks the graph over gRPC to each node's grpcPort.
type grpcCodec struct{ e *Executor }

func (c grpcCodec) invoke(ctx context.Context, st *walkState, n *node, o op, method string, in, out any) error {
	n.load.begin()
	defer n.load.end()
	m, err := n.endpoints.pick(ctx, st)
	if err != nil {
		return pickFailed(n, err)
	}
	defer m.release()
	conn, err := m.grpcClient()
	if err != nil {
		return c.e.callFailed(n, method, m.grpcTarget(), err)
	}
	var opts []grpc.CallOption
	if n.endpoints.hold.hold {
		// Wait for the connection (the component may be waking) rather
		// than fail while it is down.
		if err := n.endpoints.awaitConn(ctx, conn, st); err != nil {
			return pickFailed(n, err)
		}
		opts = waitForReady
	}
	if n.grpcTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.grpcTimeout)
		defer cancel()
	}
	start := time.Now()
	err = conn.Invoke(ctx, method, in, out, opts...)
	if err != nil {
		ge := c.e.fromGRPC(n, method, m.grpcTarget(), err)
		n.grpcObs[o].observe(ge.GRPCCode.String(), start)
		c.e.logGRPCCall(st, n, o, in, nil, ge.HTTPStatus)
		return ge
	}
	n.grpcObs[o].observe("OK", start)
	c.e.logGRPCCall(st, n, o, in, out, http.StatusOK)
	return nil
}

func (c grpcCodec) call(ctx context.Context, st *walkState, n *node, o op, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	out := new(pb.SeldonMessage)
	if err := c.invoke(ctx, st, n, o, grpcMethods[o], in, out); err != nil {
		return nil, err
	}
	withPuid(out, st.puid)
	return out, nil
}

// withPuid stamps the request's puid on a component's answer, so the next
// component gets it whatever this one did with meta.
func withPuid(m *pb.SeldonMessage, puid string) {
	if m.Meta == nil {
		m.Meta = &pb.Meta{}
	}
	m.Meta.Puid = puid
}

func (c grpcCodec) aggregate(ctx context.Context, st *walkState, n *node, ins []*pb.SeldonMessage) (*pb.SeldonMessage, error) {
	out := new(pb.SeldonMessage)
	list := &pb.SeldonMessageList{SeldonMessages: ins}
	if err := c.invoke(ctx, st, n, opAggregate, grpcMethods[opAggregate], list, out); err != nil {
		return nil, err
	}
	withPuid(out, st.puid)
	return out, nil
}

func (c grpcCodec) sendFeedback(ctx context.Context, st *walkState, n *node, fb *pb.Feedback) (*pb.SeldonMessage, error) {
	out := new(pb.SeldonMessage)
	if err := c.invoke(ctx, st, n, opFeedback, n.grpcFbPath, fb, out); err != nil {
		return nil, err
	}
	withPuid(out, st.puid)
	return out, nil
}

func (c grpcCodec) branch(n *node, routed *pb.SeldonMessage) (int, error) {
	d := routed.GetData()
	var v float64
	switch {
	case d.GetTensor() != nil && len(d.GetTensor().GetValues()) > 0:
		v = d.GetTensor().GetValues()[0]
	case d.GetNdarray() != nil:
		f, ok := firstNumber(d.GetNdarray().AsSlice())
		if !ok {
			return 0, invalidResponse(n, "Router/Route", errors.New("data.ndarray holds no number"))
		}
		v = f
	default:
		return 0, invalidResponse(n, "Router/Route", errors.New("expected the branch as data.ndarray or data.tensor"))
	}
	if v != float64(int(v)) {
		return 0, invalidResponse(n, "Router/Route", fmt.Errorf("branch %v is not an integer", v))
	}
	return int(v), nil
}

func (c grpcCodec) feedbackRoute(fb *pb.Feedback, n *node) int {
	if r, ok := fb.GetResponse().GetMeta().GetRouting()[n.name]; ok {
		return int(r)
	}
	return -1
}

func (c grpcCodec) empty(st *walkState) *pb.SeldonMessage {
	return &pb.SeldonMessage{Meta: &pb.Meta{Puid: st.puid}}
}
