package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/grpcflow"
	"github.com/sdep-dev/sdep/internal/resources"
)

// The front ports (sdep serve --http-port, --grpc-port) belong to the
// SeldonDeployment, as the ingress route does on a cluster: each request
// goes to one non-shadow predictor, chosen by traffic, and is mirrored to
// the shadow predictor. REST requests are served in process by the chosen
// predictor's executor handler; gRPC calls are relayed, as opaque frames,
// to the chosen predictor's own gRPC port.
//
// Mirroring is fire and forget: a mirrored request is queued for a fixed
// pool of workers and the client's answer never waits for it. The queue is
// bounded in requests, and the copies (being read, queued or replayed) in
// bytes; a request that does not fit, or whose body is over mirrorMaxBody,
// is not mirrored and is counted as dropped. Mirrored answers are
// discarded and counted.
const (
	mirrorWorkers  = 32
	mirrorQueueLen = 1024
	mirrorBudget   = 64 << 20
	mirrorMaxBody  = 4 << 20
	// frontGRPCMaxAnswer bounds a relayed answer message; requests are
	// bounded as the executor bounds them (executor.DefaultGRPCMaxReceive),
	// so the front holds no more than the executor would.
	frontGRPCMaxAnswer = 64 << 20
)

// predictorCounters count one predictor's front traffic.
type predictorCounters struct {
	requests atomic.Int64 // chosen by the split
	// For the shadow: mirrored requests answered (any status), those whose
	// answer was an error, and those not mirrored because the queue was
	// full or the body too large.
	mirrored, mirrorErrors, mirrorDropped atomic.Int64
}

// front serves the front ports.
type front struct {
	rt       *Runtime
	prefix   string // "/seldon/<namespace>/<name>"
	name, ns string
	chooser  *chooser
	split    atomic.Pointer[trafficSplit]
	stopping atomic.Bool // no more split changes are logged
	counters []predictorCounters
	rest     []http.Handler     // each predictor's executor REST handler
	conns    []*grpc.ClientConn // each predictor's own gRPC port

	mirrorQueue  chan mirrorJob
	mirrorBytes  atomic.Int64 // held by mirror copies, at most mirrorBudget
	mirrorCtx    context.Context
	stopMirror   context.CancelFunc
	mirrorDone   sync.WaitGroup
	restServer   *http.Server
	grpcServer   *grpc.Server
	httpAddr     string
	grpcAddr     string
	servedErrors chan error
}

// mirrorJob is one request to replay on the shadow: REST (method, path,
// header, body) or gRPC (method, metadata, request messages).
type mirrorJob struct {
	size int
	// REST
	method, path, query string
	header              http.Header
	body                []byte
	// gRPC
	grpcMethod string
	md         metadata.MD
	frames     [][]byte
}

func newFront(rt *Runtime) *front {
	rt.mu.Lock()
	sd := rt.plan.SeldonDeployment // the front keeps the name and namespace it started with
	rt.mu.Unlock()
	ns := sd.Namespace
	if ns == "" {
		ns = "default"
	}
	f := &front{
		rt:          rt,
		name:        sd.Name,
		ns:          ns,
		prefix:      "/seldon/" + ns + "/" + sd.Name,
		chooser:     newChooser(rt.opts.TrafficSeed),
		counters:    make([]predictorCounters, len(rt.executors)),
		mirrorQueue: make(chan mirrorJob, mirrorQueueLen),
	}
	for _, ex := range rt.executors {
		f.rest = append(f.rest, ex.Handler(executor.HandlerOptions{MetricsPath: resources.MetricsPath}))
	}
	f.mirrorCtx, f.stopMirror = context.WithCancel(context.Background())
	// The split is stored before the front ports can serve, so choose
	// never sees none; the runtime's notify keeps it current once it
	// holds the front.
	rt.mu.Lock()
	f.updateLocked()
	rt.mu.Unlock()
	return f
}

// updateLocked recomputes the split from the plan and the replicas'
// readiness; the runtime calls it at every change it signals.
func (f *front) updateLocked() {
	specs := f.rt.planSpecsLocked()
	s := newTrafficSplit(specs, f.rt.predictorReadyLocked())
	if old := f.split.Load(); old == nil || !sameSplit(*old, s) {
		f.split.Store(&s)
		if old != nil && !f.stopping.Load() {
			f.rt.eventfLocked("traffic: %s", s.describe(specs))
		}
	}
}

// predictorReadyLocked says, per predictor, whether every component that
// runs replicas has a Ready one (components served by --endpoint count as
// ready, and so do those with minReplicas 0: the executor holds their
// requests while they have no Ready replica, and a held request wakes one).
func (rt *Runtime) predictorReadyLocked() []bool {
	ready := make([]bool, len(rt.plan.Predictors))
	for i := range ready {
		ready[i] = true
	}
	for _, c := range rt.components {
		if c.plan.Scaled() && !c.plan.ScaleToZero && c.readyCountLocked() == 0 {
			ready[c.predictor] = false
		}
	}
	return ready
}

func sameSplit(a, b trafficSplit) bool {
	if a.shadow != b.shadow || a.mirrorPercent != b.mirrorPercent || len(a.primary) != len(b.primary) {
		return false
	}
	for k := range a.primary {
		if a.primary[k] != b.primary[k] || a.cumulative[k] != b.cumulative[k] {
			return false
		}
	}
	return true
}

// choose picks the predictor for one request, counts it, and says whether
// to mirror it (and to which predictor).
func (f *front) choose() (predictor, shadow int) {
	s := f.split.Load()
	p, mirror := f.chooser.choose(*s)
	if p >= 0 {
		f.counters[p].requests.Add(1)
	}
	shadow = -1
	if mirror {
		shadow = s.shadow
	}
	return p, shadow
}

// start listens on the front ports and starts the mirror workers.
func (f *front) start(host string, httpPort, grpcPort int, direct []PredictorAddrs) error {
	for _, a := range direct {
		opts := append(grpcflow.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(frontGRPCMaxAnswer), grpc.MaxCallSendMsgSize(executor.DefaultGRPCMaxReceive)))
		conn, err := grpc.NewClient(a.GRPC, opts...)
		if err != nil {
			return fmt.Errorf("predictor %s: gRPC client: %w", a.Predictor, err)
		}
		f.conns = append(f.conns, conn)
	}
	hl, err := net.Listen("tcp", net.JoinHostPort(host, portString(httpPort)))
	if err != nil {
		return fmt.Errorf("front REST port (sdep serve --http-port): %w", err)
	}
	gl, err := net.Listen("tcp", net.JoinHostPort(host, portString(grpcPort)))
	if err != nil {
		_ = hl.Close()
		return fmt.Errorf("front gRPC port (sdep serve --grpc-port): %w", err)
	}
	f.httpAddr, f.grpcAddr = hl.Addr().String(), gl.Addr().String()
	for range mirrorWorkers {
		f.mirrorDone.Add(1)
		go f.mirrorWorker()
	}
	f.restServer = executor.NewHTTPServer(http.HandlerFunc(f.serveREST))
	f.grpcServer = grpc.NewServer(append(grpcflow.ServerOptions(), grpc.UnknownServiceHandler(f.relayGRPC), grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(executor.DefaultGRPCMaxReceive), grpc.MaxSendMsgSize(frontGRPCMaxAnswer))...)
	f.servedErrors = make(chan error, 2)
	go func() { f.servedErrors <- f.restServer.Serve(hl) }()
	go func() { f.servedErrors <- f.grpcServer.Serve(gl) }()
	return nil
}

// stop stops accepting, lets requests in flight finish within grace, then
// stops the mirror workers (cancelling mirrored requests still running)
// and closes the gRPC clients.
func (f *front) stop(grace time.Duration) {
	f.stopping.Store(true)
	if f.restServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		stopped := make(chan struct{})
		go func() { f.grpcServer.GracefulStop(); close(stopped) }()
		_ = f.restServer.Shutdown(ctx)
		select {
		case <-stopped:
		case <-ctx.Done():
			f.grpcServer.Stop()
			<-stopped
		}
		cancel()
	}
	f.stopMirror()
	f.mirrorDone.Wait()
	for _, c := range f.conns {
		_ = c.Close()
	}
}

func portString(p int) string {
	if p <= 0 {
		return "0"
	}
	return fmt.Sprint(p)
}

// stripPrefix accepts the paths of the ingress route
// (/seldon/<namespace>/<name>/...) as well as the executor's own.
func (f *front) stripPrefix(path string) (string, bool) {
	if !strings.HasPrefix(path, "/seldon/") {
		return path, true
	}
	rest, ok := strings.CutPrefix(path, f.prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

func (f *front) serveREST(w http.ResponseWriter, r *http.Request) {
	path, ok := f.stripPrefix(r.URL.Path)
	if !ok {
		writeFrontError(w, http.StatusNotFound, fmt.Sprintf("no such path: %s (this is SeldonDeployment %s in namespace %s: use %s/...)",
			r.URL.Path, f.name, f.ns, f.prefix))
		return
	}
	if path != r.URL.Path {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, ""
		r = r2
	}
	p, shadow := f.choose()
	if p < 0 {
		writeFrontError(w, http.StatusServiceUnavailable, "no predictor takes traffic (check spec.predictors[*].traffic)")
		return
	}
	if shadow >= 0 {
		r = f.mirrorREST(w, r, shadow)
	}
	f.rest[p].ServeHTTP(w, r)
}

// mirrorREST reads the request body (within the limits) so that it can be
// served twice, queues the copy for the shadow, and returns the request
// for the chosen predictor.
func (f *front) mirrorREST(w http.ResponseWriter, r *http.Request, shadow int) *http.Request {
	// A body of unknown length (chunked) reserves the most a mirrored
	// body may be while it is read; the reservation then shrinks to what
	// was read.
	reserve := int64(mirrorMaxBody)
	if r.ContentLength >= 0 {
		reserve = r.ContentLength
	}
	if reserve > mirrorMaxBody || !f.reserveMirror(reserve) {
		f.counters[shadow].mirrorDropped.Add(1)
		return r
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(executor.DefaultReadTimeout)) == nil
	body, err := io.ReadAll(io.LimitReader(r.Body, mirrorMaxBody+1))
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	rest := r.Body
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}, rest))
	if err != nil || len(body) > mirrorMaxBody {
		f.mirrorBytes.Add(-reserve)
		f.counters[shadow].mirrorDropped.Add(1)
		return r
	}
	f.mirrorBytes.Add(int64(len(body)) - reserve)
	f.enqueue(shadow, mirrorJob{size: len(body), method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		header: r.Header.Clone(), body: body})
	return r
}

// errReader returns err once read (nil: EOF, so the rest of the body
// follows).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// reserveMirror takes n bytes of the mirror budget, or reports that they
// are not there.
func (f *front) reserveMirror(n int64) bool {
	if f.mirrorBytes.Add(n) > mirrorBudget {
		f.mirrorBytes.Add(-n)
		return false
	}
	return true
}

// enqueue hands a job, whose job.size bytes are reserved, to the mirror
// workers unless the queue is full: the client's request never waits for
// the shadow. The workers release the bytes once the job is replayed.
func (f *front) enqueue(shadow int, job mirrorJob) {
	select {
	case f.mirrorQueue <- job:
	default:
		f.mirrorBytes.Add(-int64(job.size))
		f.counters[shadow].mirrorDropped.Add(1)
	}
}

func (f *front) mirrorWorker() {
	defer f.mirrorDone.Done()
	for {
		select {
		case <-f.mirrorCtx.Done():
			return
		case job := <-f.mirrorQueue:
			shadow := f.split.Load().shadow
			if shadow < 0 {
				f.mirrorBytes.Add(-int64(job.size))
				continue // the document changed: no shadow any more
			}
			var failed bool
			if job.grpcMethod != "" {
				failed = f.replayGRPC(shadow, job) != nil
			} else {
				failed = f.replayREST(shadow, job) >= 400
			}
			f.mirrorBytes.Add(-int64(job.size))
			if f.mirrorCtx.Err() != nil {
				return // cut off by the shutdown: not an answer
			}
			f.counters[shadow].mirrored.Add(1)
			if failed {
				f.counters[shadow].mirrorErrors.Add(1)
			}
		}
	}
}

func (f *front) replayREST(shadow int, job mirrorJob) int {
	req, err := http.NewRequestWithContext(f.mirrorCtx, job.method, job.path, bytes.NewReader(job.body))
	if err != nil {
		return http.StatusBadRequest
	}
	req.URL.RawQuery = job.query
	req.Header = job.header
	req.RemoteAddr = "127.0.0.1:0"
	w := &discardWriter{header: http.Header{}}
	f.rest[shadow].ServeHTTP(w, req)
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func writeFrontError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": map[string]any{
		"code": code, "info": msg, "reason": http.StatusText(code), "status": "FAILURE"}})
}

// rawFrame is one gRPC message, relayed without decoding.
type rawFrame struct{ b []byte }

// rawCodec passes gRPC messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*rawFrame)
	if !ok {
		return nil, fmt.Errorf("relay codec: unexpected message type %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(f.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*rawFrame)
	if !ok {
		return fmt.Errorf("relay codec: unexpected message type %T", v)
	}
	f.b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

var relayStream = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// outgoingMD is metadata to pass on (the client's, or the predictor's
// headers and trailers) without what gRPC sets itself.
func outgoingMD(in metadata.MD) metadata.MD {
	out := metadata.MD{}
	for k, v := range in {
		switch {
		case strings.HasPrefix(k, ":"), strings.HasPrefix(k, "grpc-"),
			k == "content-type", k == "user-agent", k == "te", k == "content-length":
			continue
		}
		out[k] = v
	}
	return out
}

// relayGRPC relays one call to the chosen predictor's gRPC port. As on
// upstream's ingress, metadata seldon and namespace select the
// SeldonDeployment; locally they may be left out, but when given they must
// name this one.
func (f *front) relayGRPC(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return status.Error(codes.Internal, "relay: no method")
	}
	in, _ := metadata.FromIncomingContext(ss.Context())
	if v := in.Get("seldon"); len(v) > 0 && v[0] != f.name {
		return status.Errorf(codes.NotFound, "metadata seldon: %q is not this SeldonDeployment (%s)", v[0], f.name)
	}
	if v := in.Get("namespace"); len(v) > 0 && v[0] != f.ns {
		return status.Errorf(codes.NotFound, "metadata namespace: %q is not this SeldonDeployment's namespace (%s)", v[0], f.ns)
	}
	md := outgoingMD(in)
	p, shadow := f.choose()
	if p < 0 {
		return status.Error(codes.Unavailable, "no predictor takes traffic (check spec.predictors[*].traffic)")
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	cs, err := f.conns[p].NewStream(metadata.NewOutgoingContext(ctx, md), relayStream, method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	// Client to predictor, keeping the messages for the shadow; sent
	// reports once the client has half-closed (or the call failed).
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		var frames [][]byte
		size, keep := 0, shadow >= 0
		for {
			var m rawFrame
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					_ = cs.CloseSend()
				} else {
					cancel()
					keep = false
				}
				break
			}
			if keep {
				keep = size+len(m.b) <= mirrorMaxBody && f.reserveMirror(int64(len(m.b)))
				if keep {
					size += len(m.b)
					frames = append(frames, m.b)
				}
			}
			if err := cs.SendMsg(&m); err != nil {
				keep = false // the answer side reports the call's status
				break
			}
		}
		switch {
		case shadow < 0:
		case keep:
			f.enqueue(shadow, mirrorJob{size: size, grpcMethod: method, md: md, frames: frames})
		default:
			f.mirrorBytes.Add(-int64(size))
			f.counters[shadow].mirrorDropped.Add(1)
		}
	}()
	// Predictor to client.
	if hdr, err := cs.Header(); err == nil {
		_ = ss.SendHeader(outgoingMD(hdr))
	}
	for {
		var m rawFrame
		if err := cs.RecvMsg(&m); err != nil {
			ss.SetTrailer(outgoingMD(cs.Trailer()))
			if errors.Is(err, io.EOF) {
				err = nil
			}
			f.awaitClientHalfClose(sent)
			return err
		}
		if err := ss.SendMsg(&m); err != nil {
			cancel()
			f.awaitClientHalfClose(sent)
			return err
		}
	}
}

// relayHalfCloseWait bounds how long a finished call waits for the client
// to half-close, so its messages can be mirrored. A unary client has
// half-closed by the time the answer exists; only a streaming client that
// keeps sending after the server's end reaches the bound (its call is then
// not mirrored).
const relayHalfCloseWait = time.Second

func (f *front) awaitClientHalfClose(sent <-chan struct{}) {
	t := time.NewTimer(relayHalfCloseWait)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
	}
}

// replayGRPC sends the recorded messages to the shadow and reads its
// answers until the end of the call.
func (f *front) replayGRPC(shadow int, job mirrorJob) error {
	ctx := metadata.NewOutgoingContext(f.mirrorCtx, job.md)
	cs, err := f.conns[shadow].NewStream(ctx, relayStream, job.grpcMethod, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return err
	}
	for _, b := range job.frames {
		if err := cs.SendMsg(&rawFrame{b: b}); err != nil {
			break
		}
	}
	_ = cs.CloseSend()
	for {
		var m rawFrame
		if err := cs.RecvMsg(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
