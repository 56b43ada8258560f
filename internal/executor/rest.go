package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PuidHeader carries a request's prediction unique id.
const PuidHeader = "Seldon-Puid"

var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
	connectionClose = []string{"close"}
)

// HandlerOptions configures the REST handler.
type HandlerOptions struct {
	// MetricsPath serves Prometheus metrics (empty: not served). The
	// metrics are those of the registry given to New, or of its private
	// registry.
	MetricsPath string
	// Gatherer overrides where metrics are read from.
	Gatherer prometheus.Gatherer
	// CORSAllowedOrigins and CORSAllowedHeaders override
	// CORS_ALLOWED_ORIGINS and CORS_ALLOWED_HEADERS (see cors.go).
	CORSAllowedOrigins, CORSAllowedHeaders string
}

// Handler serves the REST API of the seldon protocol (docs/compatibility.md#rest-and-grpc-api).
func (e *Executor) Handler(opts HandlerOptions) http.Handler {
	h := &restHandler{e: e, metricsPath: opts.MetricsPath, cors: newCORSHeaders(opts.CORSAllowedOrigins, opts.CORSAllowedHeaders)}
	g := opts.Gatherer
	if g == nil {
		g, _ = e.cfg.registry.(prometheus.Gatherer)
	}
	if opts.MetricsPath != "" && g != nil {
		h.metrics = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	}
	return h
}

type restHandler struct {
	e           *Executor
	metricsPath string
	metrics     http.Handler
	cors        corsHeaders
}

func (h *restHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["X-Content-Type-Options"] = nosniff
	if h.e.draining.Load() {
		// The server closes the connection after this answer.
		hdr["Connection"] = connectionClose
	}
	h.cors.set(hdr, r.Method == http.MethodOptions)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	if isCloudEvent(r) {
		puid := requestPuid("", r.Header)
		if h.e.proto != protoSeldon {
			// v2 and tensorflow take the puid from the header only: the
			// one made here is the request's, and its Ce-Id.
			r.Header[PuidHeader] = []string{puid}
		}
		h.e.setCloudEventAnswer(hdr, r, puid)
	}
	p := r.URL.Path
	if h.e.proto != protoSeldon && p != "/ready" && p != "/live" && p != LoadPath && p != h.metricsPath {
		if h.e.proto == protoV2 {
			h.serveV2(oipErrors{w}, r)
		} else {
			h.serveTF(oipErrors{w}, r)
		}
		return
	}
	switch p {
	case "/api/v0.1/predictions", "/api/v1.0/predictions":
		if requirePost(w, r) && h.enter(w) {
			defer h.e.admit.leave()
			h.e.servePredict(w, r)
		}
	case "/api/v0.1/feedback", "/api/v1.0/feedback":
		if requirePost(w, r) && h.enter(w) {
			defer h.e.admit.leave()
			h.e.serveFeedback(w, r)
		}
	case "/ready", "/api/v1.0/status", "/api/v1.0/health/status":
		if err := h.e.Ready(r.Context()); err != nil {
			writeStatus(w, &Error{HTTPStatus: http.StatusServiceUnavailable, Reason: reasonUnreachable,
				Message: "not ready: " + err.Error()}, "")
			return
		}
		hdr["Content-Type"] = jsonContentType
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	case LoadPath:
		hdr["Content-Type"] = jsonContentType
		_ = json.NewEncoder(w).Encode(h.e.Load())
	case "/live":
		hdr["Content-Type"] = jsonContentType
		_, _ = io.WriteString(w, `{"status":"live"}`)
	case "/api/v1.0/metadata":
		// Calls every component: counted like a prediction.
		if !h.enter(w) {
			return
		}
		defer h.e.admit.leave()
		hdr["Content-Type"] = jsonContentType
		_, _ = w.Write(h.e.graphMetadataJSON(r.Context()))
	default:
		if p == h.metricsPath && h.metrics != nil {
			h.metrics.ServeHTTP(w, r)
			return
		}
		if componentPath, model, ok := modelRoute(p); ok {
			if h.enter(w) {
				defer h.e.admit.leave()
				h.e.serveModelRoute(w, r, componentPath, model)
			}
			return
		}
		writeStatus(w, &Error{HTTPStatus: http.StatusNotFound, Reason: reasonNotFound,
			Message: fmt.Sprintf("no such path: %s", p)}, "")
	}
}

// enter admits a request under the in-flight cap, or answers 503.
func (h *restHandler) enter(w http.ResponseWriter) bool {
	if h.e.admit.enter() {
		return true
	}
	h.e.admit.busyREST.Inc()
	writeBusy(w, "concurrent requests")
	return false
}

func requirePost(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", "POST, OPTIONS")
	writeStatus(w, &Error{HTTPStatus: http.StatusMethodNotAllowed, Reason: reasonBadRequest,
		Message: fmt.Sprintf("%s %s: use POST", r.Method, r.URL.Path)}, "")
	return false
}

// answerPool holds the buffers answers are encoded into. The grown slice
// goes back into the pool, so a steady stream of answers encodes without
// allocating.
var answerPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getAnswerBuf() *[]byte { return answerPool.Get().(*[]byte) }

func putAnswerBuf(p *[]byte, b []byte) {
	if cap(b) <= 1<<20 { // do not pin huge buffers
		*p = b[:0]
		answerPool.Put(p)
	}
}

// readRequest reads the request body within the read timeout, the body
// limit and the executor's body memory budget. On success the caller owns
// reserved bytes of the budget until it calls e.admit.release; otherwise
// failed is the status it answered with.
func (e *Executor) readRequest(w http.ResponseWriter, r *http.Request) (body []byte, reserved int64, failed int) {
	rc := http.NewResponseController(w)
	deadline := e.cfg.readTimeout > 0 && rc.SetReadDeadline(time.Now().Add(e.cfg.readTimeout)) == nil
	body, reserved, err := readBody(r.Body, r.ContentLength, e.maxBody, e.admit.reserve)
	if err == nil {
		// The chunks went back to the pool: keep only what the body holds.
		e.admit.release(reserved - int64(len(body)))
		reserved = int64(len(body))
		if deadline {
			// The answer may take as long as the components do.
			_ = rc.SetReadDeadline(time.Time{})
		}
		return body, reserved, 0
	}
	e.admit.release(reserved)
	switch {
	case errors.Is(err, errTooLarge):
		writeStatus(w, &Error{HTTPStatus: http.StatusRequestEntityTooLarge, Reason: reasonBadRequest,
			Message: fmt.Sprintf("request body is larger than the limit of %d bytes", e.maxBody)}, "")
		return nil, 0, http.StatusRequestEntityTooLarge
	case errors.Is(err, errBusy):
		e.admit.memoryREST.Inc()
		writeBusy(w, "request body memory")
		return nil, 0, http.StatusServiceUnavailable
	case isTimeout(err):
		writeStatus(w, &Error{HTTPStatus: http.StatusRequestTimeout, Reason: reasonBadRequest,
			Message: fmt.Sprintf("request body not received within %v", e.cfg.readTimeout)}, "")
		return nil, 0, http.StatusRequestTimeout
	}
	writeStatus(w, badRequest("reading request body: %v", err), "")
	return nil, 0, http.StatusBadRequest
}

func (e *Executor) servePredict(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, reserved, failed := e.readRequest(w, r)
	if failed != 0 {
		e.server.restPredict.observe(httpCode(failed), start)
		return
	}
	defer e.admit.release(reserved)
	body, bad := requestJSON(r, body)
	if bad != nil {
		writeStatus(w, bad, "")
		e.server.restPredict.observe(httpCode(bad.HTTPStatus), start)
		return
	}
	var in Message
	if err := DecodeMessage(body, &in); err != nil {
		writeStatus(w, badRequest("request is not a SeldonMessage: %v", err), "")
		e.server.restPredict.observe(httpCode(http.StatusBadRequest), start)
		return
	}
	puid := requestPuid(in.Meta.Puid, r.Header)
	st := e.getState(puid)
	defer e.putState(st)
	st.header = e.forwardHeaders(r.Header, puid)
	st.logged = e.logThisRequest(r.Header[SkipLoggingHeader])
	out, err := predict[*Message, *Feedback](r.Context(), restCodec{e}, st, e.root, &in)
	e.respond(w, out, err, st, start, e.server.restPredict)
}

func (e *Executor) serveFeedback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, reserved, failed := e.readRequest(w, r)
	if failed != 0 {
		e.server.restFeedback.observe(httpCode(failed), start)
		return
	}
	defer e.admit.release(reserved)
	body, bad := requestJSON(r, body)
	if bad != nil {
		writeStatus(w, bad, "")
		e.server.restFeedback.observe(httpCode(bad.HTTPStatus), start)
		return
	}
	var fb Feedback
	if err := DecodeFeedback(body, &fb); err != nil {
		writeStatus(w, badRequest("request is not a Feedback message: %v", err), "")
		e.server.restFeedback.observe(httpCode(http.StatusBadRequest), start)
		return
	}
	puid := requestPuid("", r.Header)
	st := e.getState(puid)
	defer e.putState(st)
	st.header = e.forwardHeaders(r.Header, puid)
	if st.logged = e.logThisRequest(r.Header[SkipLoggingHeader]); st.logged {
		st.fbBody, st.fbType = fb.raw, jsonContentType[0]
	}
	out, err := feedback[*Message, *Feedback](r.Context(), restCodec{e}, st, e.root, &fb)
	e.respond(w, out, err, st, start, e.server.restFeedback)
}

func (e *Executor) respond(w http.ResponseWriter, out *Message, err error, st *walkState, start time.Time, obs *observer) {
	if v := st.header[PuidHeader]; len(v) == 1 && v[0] == st.puid {
		w.Header()[PuidHeader] = v // the one forwardHeaders made; neither side changes it
	} else {
		w.Header()[PuidHeader] = []string{st.puid}
	}
	if ce := w.Header()["Ce-Id"]; len(ce) == 1 {
		ce[0] = st.puid // a CloudEvent request: its answer's id is the puid
	}
	if err != nil {
		e2 := asError(err)
		writeStatus(w, e2, st.puid)
		obs.observe(httpCode(e2.HTTPStatus), start)
		return
	}
	p := getAnswerBuf()
	b := out.appendJSON((*p)[:0], st.puid, &st.path)
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(b) // copies b or writes it out before returning
	putAnswerBuf(p, b)
	obs.observe("200", start)
}

// requestPuid is the request's meta.puid, else its Seldon-Puid header, else
// a new UUID.
func requestPuid(metaPuid string, h http.Header) string {
	if metaPuid != "" {
		return metaPuid
	}
	if v := h[PuidHeader]; len(v) > 0 && v[0] != "" {
		return v[0]
	}
	return newPuid()
}

// forwardHeaders is the inbound headers components get: the allow-list
// (see forwardAllowList), a JSON Content-Type and the puid.
func (e *Executor) forwardHeaders(in http.Header, puid string) map[string][]string {
	out := make(map[string][]string, 4)
	for k, v := range in {
		if forwardedByDefault(k) || e.forward[k] {
			out[k] = v
		}
	}
	out["Content-Type"] = jsonContentType
	// The puid goes in a header too, for components that read it there.
	out[PuidHeader] = []string{puid}
	return out
}

// writeStatus answers with a SeldonMessage carrying a FAILURE status.
func writeStatus(w http.ResponseWriter, e *Error, puid string) {
	if _, ok := w.(oipErrors); ok {
		writeOIPError(w, e.HTTPStatus, e.Message)
		return
	}
	b := make([]byte, 0, 128+len(e.Message))
	b = append(b, `{"status":{"code":`...)
	b = strconv.AppendInt(b, int64(e.HTTPStatus), 10)
	b = append(b, `,"info":`...)
	b = appendString(b, e.Message)
	b = append(b, `,"reason":`...)
	b = appendString(b, e.Reason)
	b = append(b, `,"status":"FAILURE"},"meta":{`...)
	if puid != "" {
		b = append(b, `"puid":`...)
		b = appendString(b, puid)
	}
	b = append(b, "}}"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(e.HTTPStatus)
	_, _ = w.Write(b)
}

// restCodec walks the graph over REST: JSON bodies to each node's httpPort.
type restCodec struct{ e *Executor }

func (c restCodec) call(ctx context.Context, st *walkState, n *node, o op, in *Message) (*Message, error) {
	body := in.appendJSON(make([]byte, 0, 256+len(in.Data)+len(in.JSONData)+len(in.BinData)+len(in.StrData)), st.puid, nil)
	return c.post(ctx, st, n, o, body)
}

func (c restCodec) aggregate(ctx context.Context, st *walkState, n *node, ins []*Message) (*Message, error) {
	size := 2
	for _, m := range ins {
		size += 256 + len(m.Data) + len(m.JSONData) + len(m.BinData) + len(m.StrData)
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, m := range ins {
		if i > 0 {
			body = append(body, ',')
		}
		body = m.appendJSON(body, st.puid, nil)
	}
	body = append(body, ']')
	return c.post(ctx, st, n, opAggregate, body)
}

func (c restCodec) sendFeedback(ctx context.Context, st *walkState, n *node, fb *Feedback) (*Message, error) {
	return c.post(ctx, st, n, opFeedback, fb.raw)
}

func (c restCodec) post(ctx context.Context, st *walkState, n *node, o op, body []byte) (*Message, error) {
	n.load.begin()
	defer n.load.end()
	m, err := n.endpoints.pick(ctx, st)
	if err != nil {
		return nil, pickFailed(n, err)
	}
	defer m.release()
	call := restCalls[o]
	start := time.Now()
	header := st.header
	if header == nil {
		header = jsonHeader
	}
	// Feedback may have side effects: it is not sent twice on a doubt.
	replayable := o != opFeedback
	ans, err := m.rest.post(ctx, restPaths[o], header, body, n.restTimeout, c.e.maxBody, replayable)
	if err != nil && n.endpoints.hold.hold && dialRefused(err) {
		// No ready replica behind the address yet: the request was not
		// sent, so send it again while the component wakes.
		err = n.endpoints.redial(ctx, st, func() error {
			var err error
			ans, err = m.rest.post(ctx, restPaths[o], header, body, n.restTimeout, c.e.maxBody, replayable)
			return err
		})
		if isHoldError(err) {
			c.e.logSeldonCall(st, n, o, jsonContentType[0], body, "", nil, 0)
			e := pickFailed(n, err)
			n.restObs[o].observe(httpCode(e.HTTPStatus), start)
			return nil, e
		}
	}
	if err != nil && ans.status == 0 {
		c.e.logSeldonCall(st, n, o, jsonContentType[0], body, "", nil, 0)
		e := c.e.callFailed(n, call, m.httpBase, err)
		n.restObs[o].observe(httpCode(e.HTTPStatus), start)
		return nil, e
	}
	raw := ans.body
	n.restObs[o].observe(httpCode(ans.status), start)
	if n.logger != nil {
		c.e.logSeldonCall(st, n, o, jsonContentType[0], body, ans.header.Get("Content-Type"), raw, ans.status)
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, invalidResponse(n, call, fmt.Errorf("body larger than %d bytes", c.e.maxBody))
		}
		return nil, c.e.callFailed(n, call, m.httpBase, err)
	}
	if ans.status >= 300 && ans.status <= 399 {
		return nil, redirectError(n, call, ans.status)
	}
	if ans.status < 200 || ans.status > 299 {
		return nil, componentError(n, call, ans.status, raw)
	}
	return decodeAnswer(n, o, raw)
}

// jsonHeader is what components get when a request has no headers of its
// own to forward.
var jsonHeader = map[string][]string{"Content-Type": jsonContentType}

// restCalls names each call in errors and logs ("POST /predict").
var restCalls = func() (calls [numOps]string) {
	for o, p := range restPaths {
		calls[o] = "POST " + p
	}
	return calls
}()

// decodeAnswer reads a component's successful answer to call o.
func decodeAnswer(n *node, o op, raw []byte) (*Message, error) {
	out := new(Message)
	if o == opRoute && first(raw) == '[' {
		// Routers may answer with a bare JSON array of branch indices.
		var branches []int
		if err := json.Unmarshal(raw, &branches); err != nil || len(branches) == 0 {
			return nil, invalidResponse(n, "POST /route", fmt.Errorf("expected a SeldonMessage or a non-empty array of integers"))
		}
		out.routeArray = branches
		return out, nil
	}
	if err := DecodeMessage(raw, out); err != nil {
		return nil, invalidResponse(n, restCalls[o], err)
	}
	return out, nil
}

// componentError passes a component's failure on with its HTTP status, and
// its status.info/reason when the body is a SeldonMessage.
func componentError(n *node, call string, code int, body []byte) *Error {
	detail := ""
	reason := reasonComponent
	var m struct {
		Status *struct {
			Info   string `json:"info"`
			Reason string `json:"reason"`
		} `json:"status"`
	}
	if json.Unmarshal(body, &m) == nil && m.Status != nil && (m.Status.Info != "" || m.Status.Reason != "") {
		detail = m.Status.Info
		if m.Status.Reason != "" {
			reason = m.Status.Reason
			if detail == "" {
				detail = m.Status.Reason
			}
		}
	} else {
		const max = 512
		detail = string(bytes.TrimSpace(body))
		if len(detail) > max {
			detail = detail[:max] + "..."
		}
	}
	status := code
	if status < 400 || status > 599 {
		// Not an error status a client could act on: the component is broken.
		status = http.StatusBadGateway
	}
	return &Error{HTTPStatus: status, GRPCCode: grpcCodeOf(status), Reason: reason,
		Message: fmt.Sprintf("node %q: %s returned HTTP %d: %s", n.name, call, code, detail)}
}

func (c restCodec) branch(n *node, routed *Message) (int, error) {
	if routed.routeArray != nil {
		return routed.routeArray[0], nil
	}
	if routed.Data == nil {
		return 0, invalidResponse(n, "POST /route", errors.New("no data: expected the branch as data.ndarray or data.tensor"))
	}
	var d struct {
		Ndarray json.RawMessage `json:"ndarray"`
		Tensor  *struct {
			Values []float64 `json:"values"`
		} `json:"tensor"`
	}
	if err := json.Unmarshal(routed.Data, &d); err != nil {
		return 0, invalidResponse(n, "POST /route", err)
	}
	var v float64
	switch {
	case d.Tensor != nil && len(d.Tensor.Values) > 0:
		v = d.Tensor.Values[0]
	case d.Ndarray != nil:
		var x any
		if err := json.Unmarshal(d.Ndarray, &x); err != nil {
			return 0, invalidResponse(n, "POST /route", err)
		}
		f, ok := firstNumber(x)
		if !ok {
			return 0, invalidResponse(n, "POST /route", errors.New("data.ndarray holds no number"))
		}
		v = f
	default:
		return 0, invalidResponse(n, "POST /route", errors.New("expected the branch as data.ndarray or data.tensor"))
	}
	if v != float64(int(v)) {
		return 0, invalidResponse(n, "POST /route", fmt.Errorf("branch %v is not an integer", v))
	}
	return int(v), nil
}

func firstNumber(x any) (float64, bool) {
	switch v := x.(type) {
	case float64:
		return v, true
	case []any:
		if len(v) > 0 {
			return firstNumber(v[0])
		}
	}
	return 0, false
}

func (c restCodec) feedbackRoute(fb *Feedback, n *node) int {
	if r, ok := fb.routing[n.name]; ok {
		return int(r)
	}
	return -1
}

func (c restCodec) empty(st *walkState) *Message { return &Message{} }

// errDraining is Ready's answer once Serve drains.
var errDraining = errors.New("draining: the executor is shutting down")

// Ready reports, unless the executor is draining, whether every node that calls a component has an endpoint
// accepting TCP connections on its REST port. Nodes that hold requests
// (hold.go) are left out: their component may have no replica, and the
// executor must take their requests to wake it.
func (e *Executor) Ready(ctx context.Context) error {
	if e.draining.Load() {
		return errDraining
	}
	var d net.Dialer
	for _, n := range e.nodes {
		if n.endpoints == nil || n.endpoints.hold.hold {
			continue
		}
		eps := n.endpoints.Endpoints()
		if len(eps) == 0 {
			return fmt.Errorf("node %q: %w", n.name, ErrNoEndpoint)
		}
		var lastErr error
		ok := false
		for _, ep := range eps {
			port := ep.HTTPPort
			if port == 0 {
				port = ep.GRPCPort
			}
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			conn, err := d.DialContext(dctx, "tcp", net.JoinHostPort(ep.Host, strconv.Itoa(int(port))))
			cancel()
			if err == nil {
				_ = conn.Close()
				ok = true
				break
			}
			lastErr = err
		}
		if !ok {
			return fmt.Errorf("node %q: %w", n.name, lastErr)
		}
	}
	return nil
}

// graphMetadataJSON answers GET /api/v1.0/metadata: the graph's name and each
// component's own metadata (GET /metadata on one of its endpoints).
func (e *Executor) graphMetadataJSON(ctx context.Context) []byte {
	type result struct {
		name string
		raw  json.RawMessage
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		results []result
	)
	for _, n := range e.nodes {
		if n.endpoints == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := e.componentMetadata(ctx, n)
			mu.Lock()
			results = append(results, result{n.name, raw})
			mu.Unlock()
		}()
	}
	wg.Wait()
	models := map[string]json.RawMessage{}
	for _, r := range results {
		models[r.name] = r.raw
	}
	b, _ := json.Marshal(struct {
		Name   string                     `json:"name"`
		Models map[string]json.RawMessage `json:"models"`
	}{e.pred.Name, models})
	return b
}

func (e *Executor) componentMetadata(ctx context.Context, n *node) json.RawMessage {
	m, err := n.endpoints.pickNow()
	if err != nil {
		return json.RawMessage(`{}`)
	}
	defer m.release()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.httpBase+"/metadata", nil)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK || !json.Valid(b) {
		return json.RawMessage(`{}`)
	}
	return b
}
