package executor

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
)

// protocol is the prediction protocol the executor serves and speaks to
// its components (spec.protocol; docs/protocols.md).
type protocol int

const (
	protoSeldon protocol = iota
	protoV2
	protoTensorflow
)

// parseProtocol accepts the values of spec.protocol; kfserving is v2.
func parseProtocol(s string) (protocol, error) {
	switch v1.Protocol(s) {
	case "", v1.ProtocolSeldon:
		return protoSeldon, nil
	case v1.ProtocolV2, v1.ProtocolKFServing:
		return protoV2, nil
	case v1.ProtocolTensorflow:
		return protoTensorflow, nil
	}
	return 0, fmt.Errorf("protocol %q: use seldon, tensorflow, v2 or kfserving", s)
}

// ValidProtocol reports whether the executor serves protocol s.
func ValidProtocol(s string) error {
	_, err := parseProtocol(s)
	return err
}

// WithProtocol selects the prediction protocol (seldon, v2, kfserving or
// tensorflow; default seldon). New fails on any other value.
func WithProtocol(p string) Option { return func(c *config) { c.protocolName = p } }

// rawMsg is a REST payload of the v2 and tensorflow protocols: the bytes
// as received, passed on without decoding unless a chain needs it.
type rawMsg struct {
	body        []byte
	contentType string
	encoding    string // Content-Encoding
	// answer: a component produced it, so it must be turned into a
	// request before it is sent to the next node.
	answer bool
}

// noFeedback is the feedback type of protocols without feedback calls.
type noFeedback struct{}

// restRawCodec walks the graph over REST for the v2 and tensorflow protocols.
type restRawCodec struct {
	e     *Executor
	proto protocol
	// model and version override each node's name in the component's path
	// (the {model} of /v2/models/{model}/infer); empty: the node's name.
	model, version string
	verb           string // tensorflow: predict, classify or regress
}

func (c restRawCodec) modelName(n *node) string {
	if c.model != "" {
		return c.model
	}
	return n.name
}

// path is the component path of call o at n.
func (c restRawCodec) path(n *node, o op) string {
	m := url.PathEscape(c.modelName(n))
	v := ""
	if c.version != "" {
		v = "/versions/" + url.PathEscape(c.version)
	}
	if c.proto == protoTensorflow {
		switch o {
		case opRoute:
			return "/v1/models/" + m + v + ":route"
		case opAggregate:
			return "/v1/models/" + m + v + ":aggregate"
		}
		verb := c.verb
		if verb == "" {
			verb = "predict"
		}
		return "/v1/models/" + m + v + ":" + verb
	}
	switch o {
	case opRoute:
		return "/v2/models/" + m + v + "/route"
	case opAggregate:
		return "/v2/models/" + m + v + "/aggregate"
	}
	return "/v2/models/" + m + v + "/infer"
}

func (c restRawCodec) call(ctx context.Context, st *walkState, n *node, o op, in *rawMsg) (*rawMsg, error) {
	if o != opRoute {
		var err error
		if in, err = c.chain(n, in); err != nil {
			return nil, err
		}
	}
	return c.post(ctx, st, n, o, in)
}

// chain turns a component's answer into the next node's request: a v2
// response's outputs become inputs, a tensorflow answer's predictions
// become instances; requests go on unchanged, byte for byte.
func (c restRawCodec) chain(n *node, in *rawMsg) (*rawMsg, error) {
	if !in.answer {
		return in, nil
	}
	body, err := c.e.plainBody(in)
	if err != nil {
		return nil, graphError(n, "decompressing the previous answer: %v", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, graphError(n, "the previous node's answer is not a JSON object, so it cannot become this node's input: %v", err)
	}
	from, to, keep := "outputs", "inputs", []string{"inputs"}
	if c.proto == protoTensorflow {
		from, to, keep = "predictions", "instances", []string{"instances", "inputs"}
	}
	for _, k := range keep {
		if _, ok := obj[k]; ok {
			return &rawMsg{body: body, contentType: "application/json"}, nil
		}
	}
	v, ok := obj[from]
	if !ok {
		return nil, graphError(n, "the previous node's answer has no %q, so it cannot become this node's input (%q)", from, to)
	}
	delete(obj, from)
	obj[to] = v
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, graphError(n, "re-encoding the previous answer: %v", err)
	}
	return &rawMsg{body: out, contentType: "application/json"}, nil
}

// restService is the service label of n's REST calls o: the component
// path (under v2 and tensorflow, with the node's own name, whatever model
// name a request's path gives).
func (e *Executor) restService(n *node, o op) string {
	if e.proto == protoSeldon {
		return restPaths[o]
	}
	return restRawCodec{proto: e.proto}.path(n, o)
}

// plainBody is m's body without its gzip Content-Encoding, bounded by the
// body limit.
func (e *Executor) plainBody(m *rawMsg) ([]byte, error) {
	if !strings.EqualFold(m.encoding, "gzip") {
		return m.body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(m.body))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(zr, e.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > e.maxBody {
		return nil, fmt.Errorf("decompressed body larger than %d bytes", e.maxBody)
	}
	return b, nil
}

// passError is a component's failure whose body goes back to the client
// as the component wrote it (REST, v2 and tensorflow).
type passError struct {
	err         *Error
	body        []byte
	contentType string
	// encoding is the body's Content-Encoding when it is not plain (one
	// other than gzip, which is decompressed).
	encoding string
}

func (p *passError) Error() string { return p.err.Message }
func (p *passError) Unwrap() error { return p.err }

func (c restRawCodec) post(ctx context.Context, st *walkState, n *node, o op, in *rawMsg) (*rawMsg, error) {
	n.load.begin()
	defer n.load.end()
	path := c.path(n, o)
	call := "POST " + path
	m, err := n.endpoints.pick(ctx, st)
	if err != nil {
		return nil, pickFailed(n, err)
	}
	defer m.release()
	header := st.header
	if header == nil {
		header = jsonHeader
	}
	if in.encoding != "" || in.contentType != "" && in.contentType != "application/json" {
		h := maps.Clone(header)
		if in.contentType != "" {
			h["Content-Type"] = []string{in.contentType}
		}
		if in.encoding != "" {
			h["Content-Encoding"] = []string{in.encoding}
		}
		header = h
	}
	start := time.Now()
	ans, err := m.rest.post(ctx, path, header, in.body, n.restTimeout, c.e.maxBody, true)
	if err != nil && n.endpoints.hold.hold && dialRefused(err) {
		// No ready replica behind the address yet (see restCodec.post).
		err = n.endpoints.redial(ctx, st, func() error {
			var err error
			ans, err = m.rest.post(ctx, path, header, in.body, n.restTimeout, c.e.maxBody, true)
			return err
		})
		if isHoldError(err) {
			c.e.logRawCall(st, n, o, in, nil, nil, 0)
			e := pickFailed(n, err)
			n.restObs[o].observe(httpCode(e.HTTPStatus), start)
			return nil, e
		}
	}
	if err != nil && ans.status == 0 {
		c.e.logRawCall(st, n, o, in, nil, nil, 0)
		e := c.e.callFailed(n, call, m.httpBase, err)
		n.restObs[o].observe(httpCode(e.HTTPStatus), start)
		return nil, e
	}
	raw := ans.body
	n.restObs[o].observe(httpCode(ans.status), start)
	if err != nil {
		c.e.logRawCall(st, n, o, in, nil, nil, 0)
	} else {
		c.e.logRawCall(st, n, o, in, ans.header, raw, ans.status)
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, graphError(n, "%s answered with a body larger than %d bytes", call, c.e.maxBody)
		}
		return nil, c.e.callFailed(n, call, m.httpBase, err)
	}
	if ans.status >= 300 && ans.status <= 399 {
		return nil, redirectError(n, call, ans.status)
	}
	if ans.status < 200 || ans.status > 299 {
		body, encoding := raw, ans.header.Get("Content-Encoding")
		if strings.EqualFold(encoding, "gzip") {
			if body, err = c.e.plainBody(&rawMsg{body: raw, encoding: encoding}); err != nil {
				body = nil // not gzip after all: the {"error": ...} answer instead
			}
			encoding = ""
		}
		return nil, &passError{err: componentError(n, call, ans.status, body), body: body,
			contentType: ans.header.Get("Content-Type"), encoding: encoding}
	}
	return &rawMsg{body: raw, contentType: ans.header.Get("Content-Type"),
		encoding: ans.header.Get("Content-Encoding"), answer: true}, nil
}

func (c restRawCodec) aggregate(ctx context.Context, st *walkState, n *node, ins []*rawMsg) (*rawMsg, error) {
	body := []byte{'['}
	for i, m := range ins {
		b, err := c.e.plainBody(m)
		if err != nil || !json.Valid(b) {
			return nil, graphError(n, "input %d of the combiner is not JSON", i)
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, b...)
	}
	body = append(body, ']')
	return c.post(ctx, st, n, opAggregate, &rawMsg{body: body, contentType: "application/json"})
}

func (c restRawCodec) sendFeedback(context.Context, *walkState, *node, noFeedback) (*rawMsg, error) {
	return nil, &Error{HTTPStatus: http.StatusNotImplemented, GRPCCode: codes.Unimplemented, Reason: reasonBadRequest,
		Message: "feedback is not part of this protocol"}
}

// branch reads a router's answer by the seldon rules: a SeldonMessage's
// first number, or a JSON array of integers.
func (c restRawCodec) branch(n *node, routed *rawMsg) (int, error) {
	body, err := c.e.plainBody(routed)
	if err != nil {
		return 0, graphError(n, "decompressing the router's answer: %v", err)
	}
	m, err := decodeAnswer(n, opRoute, body)
	if err != nil {
		return 0, err
	}
	return restCodec{c.e}.branch(n, m)
}

// simpleModel passes its input on: SIMPLE_MODEL's answer is a
// SeldonMessage, which no v2 or tensorflow node would understand.
func (c restRawCodec) simpleModel(_ *walkState, in *rawMsg) *rawMsg { return in }

func (c restRawCodec) average(n *node, _ []*rawMsg) (*rawMsg, error) {
	return nil, graphError(n, "AVERAGE_COMBINER averages SeldonMessages; it does not work under this protocol: use a COMBINER component")
}

func (c restRawCodec) feedbackRoute(noFeedback, *node) int { return -1 }

func (c restRawCodec) empty(*walkState) *rawMsg {
	return &rawMsg{body: []byte("{}"), contentType: "application/json"}
}

// oipErrors marks the ResponseWriter of a v2 or tensorflow request: the
// shared code paths (body limits, busy answers) answer it with
// {"error": "..."} instead of a SeldonMessage status.
type oipErrors struct{ http.ResponseWriter }

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (o oipErrors) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// writeOIPError answers in the error shape of the Open Inference Protocol
// and of TensorFlow Serving: {"error": "..."}.
func writeOIPError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"error":`), appendString(nil, msg)...)
	b = append(b, '}')
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeRawError answers a failed v2 or tensorflow walk: a component's own
// error body as it wrote it, else {"error": "..."}.
func writeRawError(w http.ResponseWriter, err error) {
	var p *passError
	if errors.As(err, &p) && len(p.body) > 0 {
		if p.contentType != "" {
			w.Header().Set("Content-Type", p.contentType)
		}
		if p.encoding != "" {
			w.Header().Set("Content-Encoding", p.encoding)
		}
		w.WriteHeader(p.err.HTTPStatus)
		_, _ = w.Write(p.body)
		return
	}
	e := asError(err)
	writeOIPError(w, e.HTTPStatus, e.Message)
}

// serveRawPredict walks the graph for one v2 or tensorflow REST request.
func (e *Executor) serveRawPredict(w http.ResponseWriter, r *http.Request, c restRawCodec) {
	start := time.Now()
	body, reserved, failed := e.readRequest(w, r)
	if failed != 0 {
		e.server.restPredict.observe(httpCode(failed), start)
		return
	}
	defer e.admit.release(reserved)
	in := &rawMsg{body: body, contentType: r.Header.Get("Content-Type"), encoding: r.Header.Get("Content-Encoding")}
	if in.encoding == "" && !json.Valid(body) {
		writeOIPError(w, http.StatusBadRequest, "the request body is not JSON")
		e.server.restPredict.observe("400", start)
		return
	}
	puid := requestPuid("", r.Header)
	st := e.getState(puid)
	defer e.putState(st)
	st.header = e.forwardHeaders(r.Header, puid)
	w.Header()[PuidHeader] = []string{puid}
	st.logged = e.logThisRequest(r.Header[SkipLoggingHeader])
	out, err := predict[*rawMsg, noFeedback](r.Context(), c, st, e.root, in)
	if err != nil {
		writeRawError(w, err)
		e.server.restPredict.observe(httpCode(asError(err).HTTPStatus), start)
		return
	}
	if out.answer {
		if out.contentType != "" {
			w.Header().Set("Content-Type", out.contentType)
		} else {
			w.Header()["Content-Type"] = jsonContentType
		}
		if out.encoding != "" {
			w.Header().Set("Content-Encoding", out.encoding)
		}
	} else {
		// No component answered (built-ins only): the request comes back.
		b, err := e.plainBody(out)
		if err != nil {
			writeOIPError(w, http.StatusBadRequest, "decompressing the request: "+err.Error())
			return
		}
		out = &rawMsg{body: b}
		w.Header()["Content-Type"] = jsonContentType
	}
	_, _ = w.Write(out.body)
	e.server.restPredict.observe("200", start)
}

// proxyGet sends a GET for path to the component of the node named model
// and answers with what it said (v2 and tensorflow status and metadata).
func (e *Executor) proxyGet(w http.ResponseWriter, r *http.Request, model, path string) {
	n, ok := e.byName[model]
	if !ok || n.endpoints == nil {
		writeOIPError(w, http.StatusNotFound, fmt.Sprintf("model %q is not a graph node with a component (have: %s)",
			model, strings.Join(e.NodesWithEndpoints(), ", ")))
		return
	}
	m, err := n.endpoints.pickNow()
	if err != nil {
		writeRawError(w, noEndpoint(n))
		return
	}
	defer m.release()
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.httpBase+path, nil)
	if err != nil {
		writeOIPError(w, http.StatusBadRequest, err.Error())
		return
	}
	req.Header = e.forwardHeaders(r.Header, requestPuid("", r.Header))
	delete(req.Header, "Content-Type")
	resp, err := m.httpTr.RoundTrip(req)
	if err != nil {
		writeRawError(w, e.callFailed(n, "GET "+path, m.httpBase, err))
		return
	}
	defer func() { _ = resp.Body.Close() }()
	b, _, err := readBody(resp.Body, resp.ContentLength, e.maxBody, nil)
	if err != nil {
		writeRawError(w, e.callFailed(n, "GET "+path, m.httpBase, err))
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
}

// v2ServerName and v2ServerVersion answer GET /v2 and ServerMetadata.
const (
	v2ServerName    = "sdep-executor"
	v2ServerVersion = "2"
)

// serveV2 serves the REST routes of the Open Inference Protocol
// (docs/protocols.md#v2).
func (h *restHandler) serveV2(w http.ResponseWriter, r *http.Request) {
	e := h.e
	p := r.URL.Path
	get := func() bool {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return true
		}
		w.Header().Set("Allow", "GET, OPTIONS")
		writeOIPError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use GET", r.Method, p))
		return false
	}
	post := func() bool {
		if r.Method == http.MethodPost {
			return true
		}
		w.Header().Set("Allow", "POST, OPTIONS")
		writeOIPError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use POST", r.Method, p))
		return false
	}
	switch p {
	case "/v2", "/v2/":
		if get() {
			w.Header()["Content-Type"] = jsonContentType
			_, _ = io.WriteString(w, `{"name":"`+v2ServerName+`","version":"`+v2ServerVersion+`","extensions":[]}`)
		}
		return
	case "/v2/health/live":
		if get() {
			w.Header()["Content-Type"] = jsonContentType
			_, _ = io.WriteString(w, `{"live":true}`)
		}
		return
	case "/v2/health/ready":
		if get() {
			if err := e.Ready(r.Context()); err != nil {
				writeOIPError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
			w.Header()["Content-Type"] = jsonContentType
			_, _ = io.WriteString(w, `{"ready":true}`)
		}
		return
	}
	rest, ok := strings.CutPrefix(p, "/v2/models/")
	if !ok || rest == "" {
		writeOIPError(w, http.StatusNotFound, "no such path: "+p)
		return
	}
	seg := strings.Split(rest, "/")
	if len(seg) == 1 && seg[0] == "infer" && r.Method == http.MethodPost {
		// Seldon's extension: every node is called by its own name.
		if h.enter(w) {
			defer e.admit.leave()
			e.serveRawPredict(w, r, restRawCodec{e: e, proto: protoV2})
		}
		return
	}
	model, err := url.PathUnescape(seg[0])
	if err != nil || model == "" {
		writeOIPError(w, http.StatusBadRequest, "bad model name in "+p)
		return
	}
	version := ""
	tail := seg[1:]
	if len(tail) >= 2 && tail[0] == "versions" {
		if version, err = url.PathUnescape(tail[1]); err != nil || version == "" {
			writeOIPError(w, http.StatusBadRequest, "bad model version in "+p)
			return
		}
		tail = tail[2:]
	}
	switch {
	case len(tail) == 0:
		if get() {
			e.proxyGet(w, r, model, p)
		}
	case len(tail) == 1 && tail[0] == "ready":
		if get() {
			e.proxyGet(w, r, model, p)
		}
	case len(tail) == 1 && tail[0] == "infer":
		if post() && h.enter(w) {
			defer e.admit.leave()
			e.serveRawPredict(w, r, restRawCodec{e: e, proto: protoV2, model: model, version: version})
		}
	default:
		writeOIPError(w, http.StatusNotFound, "no such path: "+p)
	}
}

// ProtocolFromFile is spec.protocol of the SeldonDeployment PredictorFromFile
// reads (seldon when empty), for `sdep executor --file` without --protocol.
func ProtocolFromFile(path, sdep string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	docs, err := decode.Documents(path, data)
	if err != nil {
		return "", err
	}
	var names []string
	for _, d := range docs {
		names = append(names, d.Object.Name)
		if sdep == "" && len(docs) == 1 || d.Object.Name == sdep {
			if p := d.Object.Spec.Protocol; p != "" {
				return string(p), nil
			}
			return string(v1.ProtocolSeldon), nil
		}
	}
	return "", fmt.Errorf("%s: no SeldonDeployment named %q (have: %s); choose one with --sdep", path, sdep, strings.Join(names, ", "))
}
