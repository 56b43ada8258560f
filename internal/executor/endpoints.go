package executor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sdep-dev/sdep/internal/grpcflow"
)

// Endpoint is one replica of a graph node: a host with the node's REST and
// gRPC ports.
type Endpoint struct {
	Host     string
	HTTPPort int32
	GRPCPort int32
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s (http %d, grpc %d)", e.Host, e.HTTPPort, e.GRPCPort)
}

// ErrNoEndpoint is returned when a node's endpoint set is empty or every
// member is draining.
var ErrNoEndpoint = errors.New("no endpoint available")

// EndpointSet is the replicas serving one graph node. Members can be added and
// removed while requests flow. Each request goes to the member with the fewest
// requests in flight; a removed member gets no new requests and is closed once
// its in-flight requests have finished.
type EndpointSet struct {
	node      string
	transport transportConfig

	mu      sync.Mutex // serialises Add and Remove; guards waitq
	members atomic.Pointer[[]*member]
	next    atomic.Uint32 // rotates the scan start so ties spread evenly

	// How requests that find no member to take them wait (hold.go). Set
	// when the set is made, never changed after.
	hold holdConfig
	// held counts requests waiting in pick or for a refused dial to
	// succeed (at most hold.queue).
	held atomic.Int64
	// waitq is the requests waiting in pick, oldest first: each is woken
	// by a token on its channel (see wait).
	waitq []chan struct{}
}

// transportConfig is what every member's connections are built from.
type transportConfig struct {
	maxIdleConnsPerHost int
	grpcMaxMessageSize  int
}

func newEndpointSet(node string, cfg transportConfig) *EndpointSet {
	return newHoldingEndpointSet(node, cfg, holdConfig{})
}

// newHoldingEndpointSet is a set whose requests wait for a member as hold
// says (the zero holdConfig: they never wait, as newEndpointSet).
func newHoldingEndpointSet(node string, cfg transportConfig, hold holdConfig) *EndpointSet {
	s := &EndpointSet{node: node, transport: cfg, hold: hold}
	s.members.Store(&[]*member{})
	return s
}

// member is one endpoint with its own connection pools, so removing it closes
// exactly its connections.
type member struct {
	ep       Endpoint
	httpBase string // "http://host:port", paths are appended per call
	http     *http.Client
	httpTr   *http.Transport // status and metadata calls
	rest     *restClient     // prediction calls (hclient.go)

	grpcOnce sync.Once
	grpcConn *grpc.ClientConn
	grpcErr  error
	grpcMax  int

	inflight atomic.Int64
	// limit is the set's per-member concurrency limit (0: none); when a
	// release takes inflight below it, a waiter of set is woken.
	limit    int64
	set      *EndpointSet
	draining atomic.Bool
	doneOnce sync.Once
	done     chan struct{}
}

func newMember(ep Endpoint, cfg transportConfig, set *EndpointSet) *member {
	tr := &http.Transport{
		Proxy: nil, // graph components are addressed directly, never through a proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        0, // no global cap; the per-host cap below applies
		MaxIdleConnsPerHost: cfg.maxIdleConnsPerHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// Components speak HTTP/1.1; h2c is not negotiated.
		ForceAttemptHTTP2: false,
	}
	client := &http.Client{Transport: tr,
		// A redirect is a component error: following it could send the
		// request (with its headers) anywhere, even back to the executor.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.HTTPPort)))
	return &member{
		ep:       ep,
		httpBase: "http://" + addr,
		rest:     newRESTClient(addr, cfg.maxIdleConnsPerHost),
		http:     client,
		httpTr:   tr,
		grpcMax:  cfg.grpcMaxMessageSize,
		limit:    set.hold.limit,
		set:      set,
		done:     make(chan struct{}),
	}
}

// reconnectParams make a component's gRPC connection come back quickly
// after an outage: calls fail fast while it is down, and a reconnect is
// tried at least every 500 ms, so calls succeed again well within a second
// of the component returning (gRPC's default backoff grows to 120 s).
var reconnectParams = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   500 * time.Millisecond,
	},
	MinConnectTimeout: 5 * time.Second,
}

// grpcClient dials lazily: a graph served only over REST never opens gRPC
// connections.
func (m *member) grpcClient() (*grpc.ClientConn, error) {
	m.grpcOnce.Do(func() {
		target := net.JoinHostPort(m.ep.Host, strconv.Itoa(int(m.ep.GRPCPort)))
		// Fixed flow-control windows (grpcflow): no PING per call.
		opts := append(grpcflow.DialOptions(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(reconnectParams),
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(m.grpcMax),
				grpc.MaxCallSendMsgSize(m.grpcMax),
			),
		)
		m.grpcConn, m.grpcErr = grpc.NewClient("passthrough:///"+target, opts...)
	})
	return m.grpcConn, m.grpcErr
}

func (m *member) release() {
	n := m.inflight.Add(-1)
	if n == 0 && m.draining.Load() {
		m.finish()
	}
	if m.limit > 0 && n < m.limit && m.set.held.Load() > 0 {
		// A slot is free: the oldest waiter may take it.
		m.set.wakeOne()
	}
}

// finish runs once the member is draining and idle.
func (m *member) finish() {
	m.doneOnce.Do(func() {
		m.httpTr.CloseIdleConnections()
		m.rest.closeIdle()
		m.grpcOnce.Do(func() {}) // no dial after this point
		if m.grpcConn != nil {
			_ = m.grpcConn.Close()
		}
		close(m.done)
	})
}

// Add puts an endpoint into the set. Adding an endpoint that is already a
// member (and not draining) is an error.
func (s *EndpointSet) Add(ep Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.members.Load()
	for _, m := range old {
		if m.ep == ep {
			return fmt.Errorf("node %q: endpoint %s is already in the set", s.node, ep)
		}
	}
	next := make([]*member, len(old), len(old)+1)
	copy(next, old)
	next = append(next, newMember(ep, s.transport, s))
	s.members.Store(&next)
	// Requests held for a member try again (under mu, after the store,
	// so none misses it: see wait).
	s.wakeAllLocked()
	return nil
}

// Remove takes an endpoint out of the set: it gets no new requests, and the
// returned channel is closed once its in-flight requests have finished and
// its connections are closed.
func (s *EndpointSet) Remove(ep Endpoint) (drained <-chan struct{}, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.members.Load()
	for i, m := range old {
		if m.ep != ep {
			continue
		}
		next := make([]*member, 0, len(old)-1)
		next = append(next, old[:i]...)
		next = append(next, old[i+1:]...)
		s.members.Store(&next)
		// Order matters: pick increments inflight before it checks draining,
		// so either it sees draining and backs off, or we see its request.
		m.draining.Store(true)
		if m.inflight.Load() == 0 {
			m.finish()
		}
		// Waiters for a slot look again: a set that does not hold fails
		// them once it is empty.
		s.wakeAllLocked()
		return m.done, nil
	}
	return nil, fmt.Errorf("node %q: endpoint %s is not in the set", s.node, ep)
}

// Endpoints lists the current members (draining ones excluded).
func (s *EndpointSet) Endpoints() []Endpoint {
	ms := *s.members.Load()
	out := make([]Endpoint, len(ms))
	for i, m := range ms {
		out[i] = m.ep
	}
	return out
}

// InFlight reports the requests in flight to each current member, in the
// order of Endpoints.
func (s *EndpointSet) InFlight() []int64 {
	ms := *s.members.Load()
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.inflight.Load()
	}
	return out
}

// pick reserves the member with the fewest requests in flight. The caller
// must call release on it when the request is done. When no member can
// take the request (the set is empty, or every member is at the
// concurrency limit), a set that holds waits for one (see wait), telling
// h (may be nil) while it waits; otherwise it fails with ErrNoEndpoint.
func (s *EndpointSet) pick(ctx context.Context, h holder) (*member, error) {
	if m := s.tryPick(); m != nil {
		return m, nil
	}
	return s.wait(ctx, h)
}

// tryPick is pick's fast path: the least loaded member, or nil when the
// set is empty or (with a concurrency limit) the least loaded member is
// full. Without a limit it costs an atomic load, the scan and an atomic
// add.
func (s *EndpointSet) tryPick() *member {
	for {
		ms := *s.members.Load()
		n := len(ms)
		if n == 0 {
			return nil
		}
		best := ms[0]
		if n > 1 {
			start := int(s.next.Add(1) % uint32(n))
			least := int64(math.MaxInt64)
			for i := range n {
				m := ms[(start+i)%n]
				if v := m.inflight.Load(); v < least {
					least, best = v, m
				}
			}
		}
		if s.hold.limit > 0 {
			if !best.reserveBelow(s.hold.limit) {
				return nil
			}
		} else {
			best.inflight.Add(1)
		}
		if !best.draining.Load() {
			return best
		}
		// Removed between the snapshot and the reservation: try again on
		// the new member list.
		best.release()
	}
}

// reserveBelow takes one of the member's limit slots, or reports that all
// are in use.
func (m *member) reserveBelow(limit int64) bool {
	for {
		v := m.inflight.Load()
		if v >= limit {
			return false
		}
		if m.inflight.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// pickNow is pick for status and metadata calls: it never waits and
// ignores the concurrency limit (such calls are cheap, and should say at
// once that no replica is there).
func (s *EndpointSet) pickNow() (*member, error) {
	for {
		ms := *s.members.Load()
		if len(ms) == 0 {
			return nil, ErrNoEndpoint
		}
		best := ms[0]
		for _, m := range ms[1:] {
			if m.inflight.Load() < best.inflight.Load() {
				best = m
			}
		}
		best.inflight.Add(1)
		if !best.draining.Load() {
			return best, nil
		}
		best.release()
	}
}

// closeAll drains nothing: it closes every member's connections at once.
func (s *EndpointSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range *s.members.Load() {
		m.draining.Store(true)
		m.finish()
	}
	s.members.Store(&[]*member{})
}
