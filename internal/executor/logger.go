package executor

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	v1 "github.com/sdep-dev/sdep/api/v1"
)

// Payload logging (docs/logging.md): nodes with graph.logger send what they
// receive and answer to a URL as CloudEvents (HTTP binary mode), from a
// bounded queue served by a fixed pool of workers. A prediction only ever
// offers an event to the queue: when the queue is full the event is dropped
// and counted, never waited for.
const (
	// AnnotationLoggerQueueSize bounds the events held at once, queued or
	// being sent (default DefaultLoggerQueueSize, at most
	// MaxLoggerQueueSize).
	AnnotationLoggerQueueSize = "seldon.io/executor-logger-queue-size"
	// AnnotationLoggerQueueBytes bounds the payload bytes those events
	// hold (default DefaultLoggerQueueBytes). sdep's own.
	AnnotationLoggerQueueBytes = "seldon.io/logger-queue-bytes"
	// AnnotationLoggerWriteTimeout bounds, in milliseconds, how long a
	// worker waits for the receiver to take one event (default 2000;
	// 0: no limit).
	AnnotationLoggerWriteTimeout = "seldon.io/executor-logger-write-timeout-ms"
	// AnnotationLoggerSampleRate logs that fraction (0..1) of requests,
	// all of a request's events or none (default 1). sdep's own.
	AnnotationLoggerSampleRate = "seldon.io/logger-sample-rate"
	// AnnotationLoggerErrorsOnly ("true") logs only component calls whose
	// answer is not 2xx (or that failed): their request and response
	// events. sdep's own.
	AnnotationLoggerErrorsOnly = "seldon.io/logger-errors-only"

	// EnvLoggerDefaultEndpoint is where nodes without logger.url send
	// their events (the operator sets it on the executor).
	EnvLoggerDefaultEndpoint = "REQUEST_LOGGER_DEFAULT_ENDPOINT"
	// DefaultLoggerEndpoint is the operator's default for it.
	DefaultLoggerEndpoint = "http://default-broker"
	// DefaultLoggerQueueSize and DefaultLoggerWriteTimeout are upstream's defaults.
	DefaultLoggerQueueSize    = 10000
	DefaultLoggerWriteTimeout = 2 * time.Second
	// MaxLoggerQueueSize is the largest queue size accepted: the queue's
	// slots are allocated up front.
	MaxLoggerQueueSize = 1_000_000
	// DefaultLoggerQueueBytes is the default bound of the payload bytes
	// held by queued events and events being sent (64 MiB).
	DefaultLoggerQueueBytes = 64 << 20
	// DefaultLoggerWorkers is how many events are sent at once.
	DefaultLoggerWorkers = 10
	// DefaultLoggerSource is the CloudEvents source upstream's executor
	// sends in practice (its server URL built before the host is known).
	DefaultLoggerSource = "http://:8000/"

	// SkipLoggingHeader set to true, on or 1 suppresses a request's events.
	SkipLoggingHeader = "Seldon-Skip-Logging"
)

// CloudEvents types of logged payloads, as upstream sends them.
const (
	CETypeRequest  = "io.seldon.serving.inference.request"
	CETypeResponse = "io.seldon.serving.inference.response"
	CETypeFeedback = "io.seldon.serving.feedback"
)

// loggerEventsMetric counts payload-log events by outcome.
const loggerEventsMetric = "sdep_executor_payload_log_events_total"

// WithLoggerDefaultEndpoint sets the URL of nodes whose logger has no url
// (REQUEST_LOGGER_DEFAULT_ENDPOINT); empty: such nodes log nothing.
func WithLoggerDefaultEndpoint(url string) Option {
	return func(c *config) { c.loggerEndpoint = url }
}

// WithLoggerWorkers sets how many events are sent at once (default
// DefaultLoggerWorkers).
func WithLoggerWorkers(n int) Option { return func(c *config) { c.loggerWorkers = n } }

// WithLoggerSource sets the CloudEvents source of logged events (default
// DefaultLoggerSource).
func WithLoggerSource(s string) Option { return func(c *config) { c.loggerSource = s } }

// nodeLogger is one node's logger, resolved when the graph is built.
type nodeLogger struct {
	pl                 *payloadLogger
	url                string
	request, response  bool
	modelID            string
	ceModelID, ceProto []string
}

// logEvent is one CloudEvent waiting to be sent. body is the payload as
// the call sent or received it; nobody writes to it afterwards.
type logEvent struct {
	nl          *nodeLogger
	ceType      string
	puid        string
	contentType string
	body        []byte
	// gzip: body is gzip-compressed (a v2 or tensorflow REST payload sent
	// on as it came); the worker decompresses it, as upstream logs the
	// plain payload.
	gzip bool
}

// payloadLogger is the executor's queue and workers.
type payloadLogger struct {
	queue      chan *logEvent
	held       atomic.Int64 // events queued or being sent
	heldBytes  atomic.Int64 // their payload bytes
	size       int64
	maxBytes   int64
	timeout    time.Duration
	maxBody    int64 // bound of a decompressed payload
	sampleRate float64
	errorsOnly bool
	random     func() float64
	client     *http.Client
	log        logr.Logger

	// Extension attributes common to every event.
	source, deployment, namespace, endpoint []string

	sent, dropped, failed prometheus.Counter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// newPayloadLogger reads the logger annotations; it returns nil when no
// node logs.
func newPayloadLogger(cfg *config, predictorName string, reg prometheus.Registerer) (*payloadLogger, error) {
	size, ok, err := positiveInt(cfg.annotations, AnnotationLoggerQueueSize)
	if err != nil {
		return nil, err
	}
	if !ok {
		size = DefaultLoggerQueueSize
	}
	if size > MaxLoggerQueueSize {
		return nil, fmt.Errorf("annotation %s: %d is above the largest queue size, %d; set a smaller value (the default is %d)",
			AnnotationLoggerQueueSize, size, MaxLoggerQueueSize, DefaultLoggerQueueSize)
	}
	maxBytes, ok, err := positiveInt(cfg.annotations, AnnotationLoggerQueueBytes)
	if err != nil {
		return nil, err
	}
	if !ok {
		maxBytes = DefaultLoggerQueueBytes
	}
	timeout, err := msAnnotation(cfg.annotations, AnnotationLoggerWriteTimeout, DefaultLoggerWriteTimeout)
	if err != nil {
		return nil, err
	}
	rate := 1.0
	if v, ok := cfg.annotations[AnnotationLoggerSampleRate]; ok && v != "" {
		rate, err = strconv.ParseFloat(v, 64)
		if err != nil || rate < 0 || rate > 1 {
			return nil, fmt.Errorf("annotation %s: %q is not a fraction between 0 and 1", AnnotationLoggerSampleRate, v)
		}
	}
	errorsOnly := false
	if v, ok := cfg.annotations[AnnotationLoggerErrorsOnly]; ok && v != "" {
		errorsOnly, err = strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %q is not true or false", AnnotationLoggerErrorsOnly, v)
		}
	}
	workers := cfg.loggerWorkers
	if workers <= 0 {
		workers = DefaultLoggerWorkers
	}
	source := cfg.loggerSource
	if source == "" {
		source = DefaultLoggerSource
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: loggerEventsMetric,
		Help: "Payload-log CloudEvents by outcome: sent (receiver answered 2xx), failed (error or non-2xx answer), " +
			"dropped (the queue was full, " + AnnotationLoggerQueueSize + " or " + AnnotationLoggerQueueBytes + ").",
	}, []string{"outcome"})
	if err := reg.Register(events); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pl := &payloadLogger{
		queue: make(chan *logEvent, size), size: size, maxBytes: maxBytes, timeout: timeout, maxBody: cfg.maxBody,
		sampleRate: rate, errorsOnly: errorsOnly, random: cfg.random, log: cfg.log.WithName("payload-logger"),
		client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: workers, IdleConnTimeout: 90 * time.Second},
			// An event goes where it was sent, or fails.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		source: []string{source}, deployment: []string{cfg.deployment},
		namespace: []string{cfg.namespace}, endpoint: []string{predictorName},
		sent: events.WithLabelValues("sent"), dropped: events.WithLabelValues("dropped"),
		failed: events.WithLabelValues("failed"), ctx: ctx, cancel: cancel,
	}
	pl.wg.Add(workers)
	for range workers {
		go pl.work()
	}
	return pl, nil
}

// resolveNodeLogger is the node's logger, or nil when it logs nothing:
// no logger, a mode other than request, response and all (as upstream), or
// no URL at all.
func resolveNodeLogger(l *v1.Logger, field, name, defaultURL, protocol string) (*nodeLogger, error) {
	if l == nil {
		return nil, nil
	}
	nl := &nodeLogger{url: defaultURL, modelID: name, ceModelID: []string{name}, ceProto: []string{protocol}}
	if l.URL != nil && *l.URL != "" {
		nl.url = *l.URL
	}
	switch l.Mode {
	case v1.LogAll:
		nl.request, nl.response = true, true
	case v1.LogRequest:
		nl.request = true
	case v1.LogResponse:
		nl.response = true
	}
	if nl.url == "" || !nl.request && !nl.response {
		return nil, nil
	}
	if u, err := url.Parse(nl.url); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s.logger.url: %q is not an http(s) URL; set it, or %s, to where CloudEvents should go (for example http://broker.ns:8080)",
			field, nl.url, EnvLoggerDefaultEndpoint)
	}
	return nl, nil
}

// skipLogging reads Seldon-Skip-Logging (true, on or 1, any case).
func skipLogging(v string) bool {
	return strings.EqualFold(v, "true") || strings.EqualFold(v, "on") || v == "1"
}

// logThisRequest decides, once per request, whether its events are logged
// (skip header, sample rate).
func (e *Executor) logThisRequest(skipHeader []string) bool {
	pl := e.plog
	if pl == nil || len(skipHeader) > 0 && skipLogging(skipHeader[0]) {
		return false
	}
	return pl.sampleRate >= 1 || pl.random() < pl.sampleRate
}

// logCall is the hook every protocol's codec calls after a component call
// of node n: reqType and respType are the CloudEvents types (CETypeRequest
// and CETypeResponse), reqBody and
// respBody the raw bytes sent and received (respBody may be nil when the
// call failed without an answer), status the answer's HTTP status (0 when
// there was none). It never blocks: events go to the bounded queue or are
// dropped.
func (e *Executor) logCall(st *walkState, n *node, reqType, respType, contentType string, reqBody []byte, respContentType string, respBody []byte, status int) {
	e.logPayloads(st, n, reqType, respType, payload{contentType: contentType, body: reqBody},
		payload{contentType: respContentType, body: respBody}, status)
}

// payload is one logged body and how it is encoded.
type payload struct {
	contentType string
	body        []byte
	gzip        bool
}

// logPayloads is logCall with the bodies' encodings: a gzip body is
// queued as it is and decompressed by the worker that sends it.
func (e *Executor) logPayloads(st *walkState, n *node, reqType, respType string, req, resp payload, status int) {
	nl := n.logger
	if nl == nil || !st.logged {
		return
	}
	pl := e.plog
	if pl.errorsOnly && status >= 200 && status <= 299 {
		return
	}
	if nl.request {
		pl.offer(&logEvent{nl: nl, ceType: reqType, puid: st.puid, contentType: req.contentType, body: req.body, gzip: req.gzip})
	}
	if nl.response && respType != "" && resp.body != nil {
		pl.offer(&logEvent{nl: nl, ceType: respType, puid: st.puid, contentType: resp.contentType, body: resp.body, gzip: resp.gzip})
	}
}

// offer queues ev unless size events are already held or its payload
// would take the bytes held above maxBytes; it never waits.
func (pl *payloadLogger) offer(ev *logEvent) {
	held, size := pl.held.Add(1), pl.heldBytes.Add(int64(len(ev.body)))
	if held > pl.size || size > pl.maxBytes {
		pl.release(ev)
		pl.dropped.Inc()
		return
	}
	// held <= size = cap(queue): the send finds room.
	pl.queue <- ev
}

// release gives back what an event held, once it is sent or dropped.
func (pl *payloadLogger) release(ev *logEvent) {
	pl.held.Add(-1)
	pl.heldBytes.Add(-int64(len(ev.body)))
}

func (pl *payloadLogger) work() {
	defer pl.wg.Done()
	for {
		select {
		case <-pl.ctx.Done():
			return
		case ev := <-pl.queue:
			err := pl.send(ev)
			pl.release(ev)
			if err != nil {
				pl.failed.Inc()
				pl.log.V(1).Info("failed to send payload log event", "url", ev.nl.url, "node", ev.nl.modelID, "error", err.Error())
				continue
			}
			pl.sent.Inc()
		}
	}
}

var (
	ceSpecVersion = []string{"1.0"}
	ceTypes       = map[string][]string{
		CETypeRequest: {CETypeRequest}, CETypeResponse: {CETypeResponse}, CETypeFeedback: {CETypeFeedback},
	}
)

// send posts one event in CloudEvents HTTP binary mode: the attributes as
// Ce-* headers, the payload as the body.
func (pl *payloadLogger) send(ev *logEvent) error {
	ctx := pl.ctx
	if pl.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pl.timeout)
		defer cancel()
	}
	var body io.Reader = bytes.NewReader(ev.body)
	if ev.gzip {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return fmt.Errorf("the payload says it is gzip but is not: %w", err)
		}
		// Streamed: the plain payload is never held whole.
		body = &boundedReader{r: zr, left: pl.maxBody}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ev.nl.url, body)
	if err != nil {
		return err
	}
	ceType, ok := ceTypes[ev.ceType]
	if !ok {
		ceType = []string{ev.ceType}
	}
	ct := ev.contentType
	if ct == "" {
		ct = "application/json"
	}
	h := make(http.Header, 12)
	h["Content-Type"] = []string{ct}
	h["Ce-Specversion"] = ceSpecVersion
	h["Ce-Id"] = []string{newPuid()}
	h["Ce-Type"] = ceType
	h["Ce-Source"] = pl.source
	h["Ce-Time"] = []string{time.Now().UTC().Format(time.RFC3339Nano)}
	h["Ce-Modelid"] = ev.nl.ceModelID
	h["Ce-Requestid"] = []string{ev.puid}
	h["Ce-Protocol"] = ev.nl.ceProto
	// Extensions with no value are left out: CloudEvents has no empty
	// attribute.
	for k, v := range map[string][]string{"Ce-Inferenceservicename": pl.deployment,
		"Ce-Namespace": pl.namespace, "Ce-Endpoint": pl.endpoint} {
		if v[0] != "" {
			h[k] = v
		}
	}
	req.Header = h
	resp, err := pl.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// boundedReader fails once more than left bytes have been read: a gzip
// payload that inflates beyond the body limit is not sent.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more, to tell an exact fit from an overflow.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errors.New("the decompressed payload is larger than the body limit")
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// close stops the workers: events still queued are discarded and sends in
// progress are cancelled.
func (pl *payloadLogger) close() {
	pl.once.Do(func() {
		pl.cancel()
		pl.wg.Wait()
		pl.client.CloseIdleConnections()
	})
}

// logSeldonCall logs one seldon-protocol component call of node n (not
// routers' /route, which upstream does not log either).
func (e *Executor) logSeldonCall(st *walkState, n *node, o op, contentType string, reqBody []byte, respContentType string, respBody []byte, status int) {
	switch o {
	case opRoute, opFeedback: // feedback: see logFeedback
	default:
		e.logCall(st, n, CETypeRequest, CETypeResponse, contentType, reqBody, respContentType, respBody, status)
	}
}

// logFeedback logs a feedback request at a node that logs responses, as
// upstream does: at every such node the feedback walk reaches, before it
// goes on to the children.
func logFeedback(st *walkState, n *node) {
	nl := n.logger
	if !st.logged || !nl.response || st.fbBody == nil || nl.pl.errorsOnly {
		return
	}
	nl.pl.offer(&logEvent{nl: nl, ceType: CETypeFeedback, puid: st.puid, contentType: st.fbType, body: st.fbBody})
}

// protobufContentType is the datacontenttype of gRPC payloads, as upstream.
const protobufContentType = "application/protobuf"

// logGRPCCall logs a gRPC component call: the messages are encoded only
// when the node logs this request.
func (e *Executor) logGRPCCall(st *walkState, n *node, o op, in, out any, status int) {
	if n.logger == nil || !st.logged || o == opRoute {
		return
	}
	reqBody := marshalForLog(in)
	var respBody []byte
	if status == http.StatusOK {
		respBody = marshalForLog(out)
	}
	e.logSeldonCall(st, n, o, protobufContentType, reqBody, protobufContentType, respBody, status)
}

func marshalForLog(m any) []byte {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil
	}
	b, err := proto.Marshal(pm)
	if err != nil {
		return nil
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// logRawCall logs a v2 or tensorflow REST component call of n: what was
// sent (after chaining) and what came back, in their own content types,
// gzip bodies decompressed by the worker. A router's call is not logged,
// as under the seldon protocol. raw is nil when there was no answer.
func (e *Executor) logRawCall(st *walkState, n *node, o op, in *rawMsg, answer http.Header, raw []byte, status int) {
	if n.logger == nil || !st.logged || o == opRoute {
		return
	}
	req := payload{contentType: in.contentType, body: in.body, gzip: isGzip(in.encoding)}
	if req.contentType == "" {
		req.contentType = jsonContentType[0]
	}
	var out payload
	if answer != nil {
		out = payload{contentType: answer.Get("Content-Type"), body: raw, gzip: isGzip(answer.Get("Content-Encoding"))}
	}
	e.logPayloads(st, n, CETypeRequest, CETypeResponse, req, out, status)
}

func isGzip(encoding string) bool { return strings.EqualFold(encoding, "gzip") }

// logTFFeedback logs a tensorflow feedback request, which reaches no
// component (the executor answers it with the request): as upstream's
// walk, it is logged at every node that logs responses, all children
// being visited since there is no routing to follow.
func (e *Executor) logTFFeedback(r *http.Request, body []byte) {
	if e.plog == nil || e.plog.errorsOnly || !e.logThisRequest(r.Header[SkipLoggingHeader]) {
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = jsonContentType[0]
	}
	ev := logEvent{ceType: CETypeFeedback, puid: requestPuid("", r.Header), contentType: ct, body: body,
		gzip: isGzip(r.Header.Get("Content-Encoding"))}
	var walk func(n *node)
	walk = func(n *node) {
		if nl := n.logger; nl != nil && nl.response {
			one := ev
			one.nl = nl
			nl.pl.offer(&one)
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(e.root)
}
