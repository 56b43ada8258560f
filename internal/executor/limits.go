package executor

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits that protect the executor (and the pod's memory) from hostile
// clients and broken components. Each can be changed with an option, an
// annotation or a flag of `sdep executor`.
const (
	// DefaultMaxInFlight is how many requests (REST and gRPC together) the
	// executor serves at once; more are answered 503 / Unavailable.
	DefaultMaxInFlight = 1024
	// DefaultReadTimeout bounds reading one request body (and, capped at
	// 10 s, its headers).
	DefaultReadTimeout = 30 * time.Second
	// DefaultComponentTimeout bounds each component call unless
	// seldon.io/rest-timeout or seldon.io/grpc-timeout say otherwise.
	DefaultComponentTimeout = 60 * time.Second
	// inFlightBodyHeadroom is added to the body limit for the default body
	// memory budget.
	inFlightBodyHeadroom = 4 << 20
	// DefaultGRPCMaxReceive bounds a gRPC message received from a client
	// unless seldon.io/grpc-max-message-size is set (it is gRPC's own
	// default). REST bodies may be larger because they are read in pieces
	// under the body memory budget; gRPC receives a whole message, and
	// decodes it (two more copies), before the executor sees it, so the
	// budget cannot stop it in time: four concurrent 60 MiB messages under
	// a 64 MiB receive limit took the executor 472 MB above idle. A message
	// over this limit is refused from its length prefix, before it is read.
	DefaultGRPCMaxReceive = 4 << 20
	// maxHeaderTimeout caps the time a client may take to send its headers.
	maxHeaderTimeout = 10 * time.Second
)

// Annotations for the limits.
const (
	// AnnotationMaxInFlight caps concurrent requests.
	AnnotationMaxInFlight = "seldon.io/executor-max-inflight"
	// AnnotationMaxInFlightBody caps the request body bytes held at once by
	// all requests together (REST bodies as they are read, gRPC requests by
	// their size once received).
	AnnotationMaxInFlightBody = "seldon.io/executor-max-inflight-body-bytes"
	// AnnotationForwardHeaders lists inbound headers (comma-separated) sent to
	// components in addition to the default allow-list, for example
	// Authorization.
	AnnotationForwardHeaders = "seldon.io/executor-forward-headers"
)

// WithMaxInFlight caps the requests served at once (REST and gRPC).
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithMaxInFlightBodyBytes caps the request body bytes that all requests
// together may hold (default: the larger of the body and gRPC message
// limits plus inFlightBodyHeadroom, so one request of the largest size and
// many small ones fit at once).
func WithMaxInFlightBodyBytes(n int64) Option { return func(c *config) { c.maxInFlightBody = n } }

// WithReadTimeout bounds how long a client may take to send a request body.
func WithReadTimeout(d time.Duration) Option { return func(c *config) { c.readTimeout = d } }

// WithComponentTimeout is the per-call timeout used when neither
// seldon.io/rest-timeout nor seldon.io/grpc-timeout is set (0: none).
func WithComponentTimeout(d time.Duration) Option {
	return func(c *config) { c.componentTimeout = d }
}

// admission counts requests in flight and the body bytes they hold, and
// turns requests away beyond the caps.
type admission struct {
	maxInFlight int64
	maxBody     int64
	inflight    atomic.Int64
	bodyBytes   atomic.Int64

	busyREST, busyGRPC, memoryREST, memoryGRPC prometheus.Counter
}

// Rejection reasons in the rejected-requests metric.
const (
	rejectInFlight = "inflight"
	rejectMemory   = "body_memory"
)

func newAdmission(maxInFlight, maxBody int64, rejected *prometheus.CounterVec) *admission {
	return &admission{maxInFlight: maxInFlight, maxBody: maxBody,
		busyREST:   rejected.WithLabelValues("rest", rejectInFlight),
		busyGRPC:   rejected.WithLabelValues("grpc", rejectInFlight),
		memoryREST: rejected.WithLabelValues("rest", rejectMemory),
		memoryGRPC: rejected.WithLabelValues("grpc", rejectMemory),
	}
}

func (a *admission) enter() bool {
	if a.inflight.Add(1) > a.maxInFlight {
		a.inflight.Add(-1)
		return false
	}
	return true
}

func (a *admission) leave() { a.inflight.Add(-1) }

// reserve takes n bytes of the body budget, or reports that it is spent.
func (a *admission) reserve(n int64) bool {
	if a.bodyBytes.Add(n) > a.maxBody {
		a.bodyBytes.Add(-n)
		return false
	}
	return true
}

func (a *admission) release(n int64) { a.bodyBytes.Add(-n) }

// retryAfter is what a turned-away client is told to wait (seconds).
var retryAfter = []string{"1"}

const reasonBusy = "EXECUTOR_BUSY"

func writeBusy(w http.ResponseWriter, what string) {
	w.Header()["Retry-After"] = retryAfter
	writeStatus(w, &Error{HTTPStatus: http.StatusServiceUnavailable, Reason: reasonBusy,
		Message: "executor is at its limit of " + what + "; retry later"}, "")
}

// Body reading: bodies are read in fixed-size pooled chunks, so memory
// follows the bytes that arrived rather than what Content-Length promised,
// and an oversized body costs at most the limit before it is refused.

const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

var (
	errTooLarge = errors.New("body too large")
	errBusy     = errors.New("body memory budget spent")
)

// readBody reads r, refusing bodies over limit (at once when contentLength
// says so). reserve, when set, is asked for memory before each chunk;
// reserved is what it granted and the caller must give back.
func readBody(r io.Reader, contentLength, limit int64, reserve func(int64) bool) (body []byte, reserved int64, err error) {
	if contentLength > limit {
		return nil, 0, errTooLarge
	}
	if contentLength >= 0 && contentLength <= chunkSize {
		// Small and announced: read it in place.
		if reserve != nil {
			if !reserve(contentLength) {
				return nil, 0, errBusy
			}
			reserved = contentLength
		}
		body = make([]byte, contentLength)
		n, _, err := fill(r, body)
		return body[:n], reserved, err
	}
	var (
		chunks [8]*[chunkSize]byte
		list   = chunks[:0]
		total  int64
		last   int
	)
	defer func() {
		for _, c := range list {
			chunkPool.Put(c)
		}
	}()
	// The body reader enforces Content-Length: reading stops at it.
	for contentLength < 0 || total < contentLength {
		want := min(chunkSize, limit+1-total)
		if contentLength >= 0 {
			want = min(want, contentLength-total)
		}
		if reserve != nil {
			if !reserve(want) {
				return nil, reserved, errBusy
			}
			reserved += want
		}
		c := chunkPool.Get().(*[chunkSize]byte)
		list = append(list, c)
		n, eof, rerr := fill(r, c[:want])
		total += int64(n)
		last = n
		if rerr != nil {
			return nil, reserved, rerr
		}
		if total > limit {
			return nil, reserved, errTooLarge
		}
		if eof {
			break
		}
	}
	body = make([]byte, 0, total)
	for i, c := range list {
		if i == len(list)-1 {
			body = append(body, c[:last]...)
		} else {
			body = append(body, c[:chunkSize]...)
		}
	}
	return body, reserved, nil
}

// fill reads into p until it is full or r ends (eof); an error other than
// io.EOF (a truncated body, a timeout) is returned as is.
func fill(r io.Reader, p []byte) (n int, eof bool, err error) {
	for n < len(p) {
		k, err := r.Read(p[n:])
		n += k
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

func maxInt32(n int64) int {
	if n > 1<<31-1 {
		return 1<<31 - 1
	}
	return int(n)
}

func positiveInt(a map[string]string, key string) (int64, bool, error) {
	v, ok := a[key]
	if !ok || v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, errors.New("annotation " + key + ": " + strconv.Quote(v) + " is not a positive number")
	}
	return n, true, nil
}
