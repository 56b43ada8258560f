package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// Holding (activation): a component that may have no replica (hpaSpec
// minReplicas 0) gets its requests held until a replica is ready, so that
// the in-flight figure the scaler reads (GET /load, counted before an
// endpoint is picked) can wake it. A per-replica concurrency limit
// (seldon.io/container-concurrency) queues requests the same way.

// Annotations for holding.
const (
	// AnnotationActivationTimeout (predictor) is how long a request waits
	// for a replica of a holding node (a Go duration). Set, it makes every
	// node hold.
	AnnotationActivationTimeout = "seldon.io/activation-timeout"
	// AnnotationActivationQueue (predictor) bounds the requests waiting
	// per node; more are answered 503 at once.
	AnnotationActivationQueue = "seldon.io/activation-queue"
	// AnnotationContainerConcurrency (componentSpec metadata) is the most
	// requests sent at once to one member of each node of the
	// componentSpec; 0 or absent: no limit.
	AnnotationContainerConcurrency = "seldon.io/container-concurrency"
)

// Defaults for holding.
const (
	DefaultActivationTimeout = 60 * time.Second
	DefaultActivationQueue   = 1000
)

// holdConfig is how one endpoint set's requests wait. The zero value never
// waits: an empty set fails at once.
type holdConfig struct {
	// hold: wait for a member when the set is empty, and retry refused
	// dials (REST) or wait for the connection (gRPC).
	hold bool
	// limit is the per-member concurrency limit (0: none).
	limit int64
	// timeout bounds one wait; queue bounds the waiting requests.
	timeout time.Duration
	queue   int64
}

// waits reports whether requests may ever wait.
func (h holdConfig) waits() bool { return h.hold || h.limit > 0 }

// holder is told when a request starts and stops waiting for a replica:
// the walk's state, which keeps a waiting request out of the executor's
// in-flight cap (see walkState.holdStart).
type holder interface {
	holdStart()
	holdEnd()
}

var (
	errHoldTimeout   = errors.New("no replica became ready within the activation timeout")
	errLimitTimeout  = errors.New("no replica was below its concurrency limit within the activation timeout")
	errHoldQueueFull = errors.New("the activation queue is full")
)

// holdRules is what New reads from the predictor for holding.
type holdRules struct {
	timeout  time.Duration
	explicit bool // the timeout annotation is set: every node holds
	queue    int64
	// per container name: its componentSpec scales to zero / its limit.
	toZero map[string]bool
	limit  map[string]int64
}

func parseHoldRules(pred *v1.PredictorSpec, annotations map[string]string) (holdRules, error) {
	r := holdRules{timeout: DefaultActivationTimeout, queue: DefaultActivationQueue,
		toZero: map[string]bool{}, limit: map[string]int64{}}
	if v, ok := annotations[AnnotationActivationTimeout]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return r, fmt.Errorf("annotation %s: %q is not a positive duration; write it like \"30s\" or \"2m\"", AnnotationActivationTimeout, v)
		}
		r.timeout, r.explicit = d, true
	}
	if v, ok := annotations[AnnotationActivationQueue]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return r, fmt.Errorf("annotation %s: %q is not a positive number of requests; write it like \"1000\"", AnnotationActivationQueue, v)
		}
		r.queue = n
	}
	for j := range pred.ComponentSpecs {
		cs := &pred.ComponentSpecs[j]
		limit := int64(0)
		if v, ok := cs.Metadata.Annotations[AnnotationContainerConcurrency]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<31-1 {
				return r, fmt.Errorf("componentSpecs[%d].metadata.annotations[%s]: %q is not a number of requests ≥ 0; write it like \"4\" (0: no limit)", j, AnnotationContainerConcurrency, v)
			}
			limit = n
		}
		// The operator's rule for a componentSpec that may have no replica
		// (its hpaSpec or legacy hpaSpecs entry allows 0).
		toZero := predictor.ScalesToZero(pred, j)
		for _, c := range cs.Spec.Containers {
			if toZero {
				r.toZero[c.Name] = true
			}
			if limit > 0 {
				r.limit[c.Name] = limit
			}
		}
	}
	return r, nil
}

// forNode is the holdConfig of the node calling the named container.
func (r holdRules) forNode(name string) holdConfig {
	h := holdConfig{hold: r.explicit || r.toZero[name], limit: r.limit[name]}
	if h.waits() {
		h.timeout, h.queue = r.timeout, r.queue
	}
	return h
}

// enterHold counts a request that starts waiting, or refuses it when the
// queue is full.
func (s *EndpointSet) enterHold(h holder) error {
	if s.held.Add(1) > s.hold.queue {
		s.held.Add(-1)
		return errHoldQueueFull
	}
	if h != nil {
		h.holdStart()
	}
	return nil
}

func (s *EndpointSet) leaveHold(h holder) {
	if h != nil {
		h.holdEnd()
	}
	s.held.Add(-1)
}

// Held is the number of requests waiting for a member of the set.
func (s *EndpointSet) Held() int64 { return s.held.Load() }

// wait is pick's slow path. Waiting does not poll: the request queues a
// channel and sleeps until Add (a new member: every waiter looks again) or
// a release below the concurrency limit (the oldest waiter looks again)
// sends it a token, or until its context or the activation timeout ends.
//
// No wake-up is lost: a waiter queues itself (under mu) before it looks at
// the members again, and Add stores the new member before it wakes the
// queue (under mu), a release lowers inflight before it reads held. A
// waiter that was woken but leaves without a member passes the token on.
func (s *EndpointSet) wait(ctx context.Context, h holder) (*member, error) {
	if !s.hold.waits() || !s.hold.hold && len(*s.members.Load()) == 0 {
		return nil, ErrNoEndpoint
	}
	if err := s.enterHold(h); err != nil {
		return nil, err
	}
	defer s.leaveHold(h)
	ch := make(chan struct{}, 1)
	timer := time.NewTimer(s.hold.timeout)
	defer timer.Stop()
	front := false
	for {
		s.mu.Lock()
		if front {
			// Woken but beaten to the slot: keep its place in the line.
			s.waitq = append(s.waitq, nil)
			copy(s.waitq[1:], s.waitq)
			s.waitq[0] = ch
		} else {
			s.waitq = append(s.waitq, ch)
		}
		s.mu.Unlock()
		if m := s.tryPick(); m != nil {
			s.dequeue(ch)
			return m, nil
		}
		if !s.hold.hold && len(*s.members.Load()) == 0 {
			s.dequeue(ch)
			return nil, ErrNoEndpoint
		}
		select {
		case <-ch:
			front = true
		case <-ctx.Done():
			s.dequeue(ch)
			return nil, ctx.Err()
		case <-timer.C:
			s.dequeue(ch)
			if s.hold.limit > 0 && len(*s.members.Load()) > 0 {
				return nil, errLimitTimeout
			}
			return nil, errHoldTimeout
		}
	}
}

// dequeue takes a leaving waiter out of the queue. One that is no longer
// there was woken: its token goes to the next waiter.
func (s *EndpointSet) dequeue(ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.waitq {
		if c == ch {
			s.waitq = append(s.waitq[:i], s.waitq[i+1:]...)
			return
		}
	}
	s.wakeOneLocked()
}

func (s *EndpointSet) wakeOne() {
	s.mu.Lock()
	s.wakeOneLocked()
	s.mu.Unlock()
}

func (s *EndpointSet) wakeOneLocked() {
	if len(s.waitq) == 0 {
		return
	}
	ch := s.waitq[0]
	s.waitq[0] = nil
	s.waitq = s.waitq[1:]
	if len(s.waitq) == 0 {
		s.waitq = nil
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *EndpointSet) wakeAllLocked() {
	for _, ch := range s.waitq {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.waitq = nil
}

// holdStart takes a request that waits for a replica out of the executor's
// in-flight cap (seldon.io/executor-max-inflight): the cap bounds the work
// the executor does at once, and a held request does none, while the
// activation queue bounds how many may wait. The request gives its
// admission slot back while it waits and takes it again, unconditionally
// (it was admitted once), when it stops. held counts the request's calls
// that wait, since a combiner's children are called at once: the slot is
// given back by the first and taken by the last.
func (st *walkState) holdStart() {
	if st.held.Add(1) == 1 && st.admit != nil {
		st.admit.leave()
	}
}

func (st *walkState) holdEnd() {
	if st.held.Add(-1) == 0 && st.admit != nil {
		st.admit.inflight.Add(1)
	}
}

// pickFailed is what a client is told when pick found no member.
func pickFailed(n *node, err error) *Error {
	h := n.endpoints.hold
	switch {
	case errors.Is(err, errHoldTimeout):
		return activationTimedOut(n)
	case errors.Is(err, errLimitTimeout):
		return &Error{HTTPStatus: http.StatusServiceUnavailable, GRPCCode: codes.Unavailable, Reason: reasonActivationTimeout,
			Message: fmt.Sprintf("node %q: no replica could take the request within %s (%s): every replica has %d requests in flight, its limit (%s)",
				n.name, seconds(h.timeout), AnnotationActivationTimeout, h.limit, AnnotationContainerConcurrency)}
	case errors.Is(err, errHoldQueueFull):
		return &Error{HTTPStatus: http.StatusServiceUnavailable, GRPCCode: codes.Unavailable, Reason: reasonActivationQueueFull,
			Message: fmt.Sprintf("node %q: %d requests are already waiting for a replica, the limit (%s); retry later or raise the annotation",
				n.name, h.queue, AnnotationActivationQueue)}
	case errors.Is(err, ErrNoEndpoint):
		return noEndpoint(n)
	}
	return transportError(n, "waiting for a replica", err)
}

// isHoldError reports whether err ended a wait for a replica (rather than
// a call).
func isHoldError(err error) bool {
	return errors.Is(err, errHoldTimeout) || errors.Is(err, errHoldQueueFull)
}

// Reasons of activation failures.
const (
	reasonActivationTimeout   = "ACTIVATION_TIMEOUT"
	reasonActivationQueueFull = "ACTIVATION_QUEUE_FULL"
)

// activationTimedOut is the error of a holding node whose component was
// reachable through no connection within the activation timeout.
func activationTimedOut(n *node) *Error {
	return &Error{HTTPStatus: http.StatusServiceUnavailable, GRPCCode: codes.Unavailable, Reason: reasonActivationTimeout,
		Message: fmt.Sprintf("node %q: no replica became ready within %s (%s); the component has no ready replica",
			n.name, seconds(n.endpoints.hold.timeout), AnnotationActivationTimeout)}
}

// seconds writes a whole number of seconds as "60s" (time.Duration's
// String says "1m0s"), anything else as String does.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// dialRefused reports whether a REST call failed because its connection
// was refused: the request was not sent, so sending it again is safe.
func dialRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNREFUSED)
}

// Backoff between dials of a holding node whose connection is refused (in
// a cluster: its Service has no ready pod yet).
const (
	redialFirst = 50 * time.Millisecond
	redialMax   = 500 * time.Millisecond
)

// redial calls try again, after a growing pause, while its dial is
// refused, for at most the activation timeout (counted as held). try
// makes one whole call (its own component timeout included) and returns
// its error.
func (s *EndpointSet) redial(parent context.Context, h holder, try func() error) error {
	if err := s.enterHold(h); err != nil {
		return err
	}
	defer s.leaveHold(h)
	deadline := time.NewTimer(s.hold.timeout)
	defer deadline.Stop()
	pause := redialFirst
	for {
		t := time.NewTimer(pause)
		select {
		case <-parent.Done():
			t.Stop()
			return parent.Err()
		case <-deadline.C:
			t.Stop()
			return errHoldTimeout
		case <-t.C:
		}
		pause = min(2*pause, redialMax)
		if err := try(); err == nil || !dialRefused(err) {
			return err
		}
	}
}

// waitForReady makes a holding node's gRPC calls wait for the connection
// rather than fail while it is down.
var waitForReady = []grpc.CallOption{grpc.WaitForReady(true)}

// awaitConn waits, for at most the activation timeout (counted as held),
// until a holding node's gRPC connection is ready.
func (s *EndpointSet) awaitConn(ctx context.Context, conn *grpc.ClientConn, h holder) error {
	state := conn.GetState()
	if state == connectivity.Ready {
		return nil
	}
	if err := s.enterHold(h); err != nil {
		return err
	}
	defer s.leaveHold(h)
	actx, cancel := context.WithTimeout(ctx, s.hold.timeout)
	defer cancel()
	for state != connectivity.Ready {
		switch state {
		case connectivity.Idle:
			conn.Connect()
		case connectivity.Shutdown:
			return ErrNoEndpoint // the member was removed
		}
		if !conn.WaitForStateChange(actx, state) {
			if err := ctx.Err(); err != nil {
				return err
			}
			return errHoldTimeout
		}
		state = conn.GetState()
	}
	return nil
}
