package operator

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
)

const (
	// seriesWindow is how long an event is remembered: the same event
	// again within it (same object, related object, type, reason and
	// action) counts in the first one's series instead of making another.
	seriesWindow = 6 * time.Minute
	// maxPendingEvents bounds the events waiting to be written (the API
	// rate limit lets about 100 a second through); past it an event is
	// dropped and logged.
	maxPendingEvents = 10_000
)

// eventRecorder writes the reconciler's events to the events.k8s.io API
// with what client-go's recorder writes (the same fields, the same name
// form, a repeat within seriesWindow counted in a series), at a fraction
// of its memory: client-go keeps a full copy of every event it sent for
// at least six minutes, keyed by two whole object references, plus a
// goroutine and two more copies per event on its way. Converging 1,000
// SeldonDeployments sends about 4,000 events, and those copies were about
// 5 MB of the operator's live heap. This one keeps, per event sent, a
// 16-byte digest of what makes events the same and the event's name and
// count, and writes from one goroutine in the order the events came.
type eventRecorder struct {
	client             eventsv1client.EventsGetter
	scheme             *runtime.Scheme
	controller, holder string
	log                logr.Logger
	now                func() time.Time

	mu      sync.Mutex
	pending []pendingEvent
	wake    chan struct{}
	sent    map[eventKey]*sentEvent
	dropped int
	// lastStamp is the time stamp of the newest event's name: two events
	// in the same nanosecond (or a clock that went back) still get
	// different names.
	lastStamp int64
}

// pendingEvent is an event to create, or (series set) a repeat of a sent one.
type pendingEvent struct {
	event  *eventsv1.Event
	series *sentEvent
}

// sentEvent is what is remembered of an event that was sent.
type sentEvent struct {
	namespace, name string
	// count is how many times it happened, told how many the API server
	// was told of; last when it last happened.
	count, told int32
	last        time.Time
}

var _ events.EventRecorder = (*eventRecorder)(nil)

func newEventRecorder(client eventsv1client.EventsGetter, scheme *runtime.Scheme, controller string, log logr.Logger) *eventRecorder {
	host, _ := os.Hostname()
	return &eventRecorder{
		client: client, scheme: scheme, controller: controller, holder: controller + "-" + host,
		log: log, now: time.Now, wake: make(chan struct{}, 1), sent: map[eventKey]*sentEvent{},
	}
}

// Eventf records an event about regarding (related: the child it concerns,
// or nil). It does not block: the event is written by Start's goroutine.
func (r *eventRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		r.log.Error(nil, "event not recorded: its type must be Normal or Warning", "type", eventtype, "reason", reason)
		return
	}
	reg, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.log.Error(err, "event not recorded: no reference to its object", "reason", reason)
		return
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if rel, err = reference.GetReference(r.scheme, related); err != nil {
			rel = nil // the event is still worth having without it
		}
	}
	now := r.now()
	key := keyOf(eventtype, reason, action, reg, rel)

	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sent[key]; ok && now.Sub(s.last) < seriesWindow {
		s.count++
		s.last = now
		r.enqueueLocked(pendingEvent{series: s})
		return
	}
	ns := reg.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	stamp := max(now.UnixNano(), r.lastStamp+1)
	r.lastStamp = stamp
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", reg.Name, stamp), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.holder,
		Action:              action,
		Reason:              reason,
		Regarding:           *reg,
		Related:             rel,
		Note:                fmt.Sprintf(note, args...),
		Type:                eventtype,
	}
	s := &sentEvent{namespace: ns, name: ev.Name, count: 1, told: 1, last: now}
	r.sent[key] = s
	r.enqueueLocked(pendingEvent{event: ev, series: s})
}

func (r *eventRecorder) enqueueLocked(p pendingEvent) {
	if len(r.pending) >= maxPendingEvents {
		r.dropped++
		if r.dropped == 1 || r.dropped%1000 == 0 {
			r.log.Error(nil, "events dropped: too many waiting to be written", "dropped", r.dropped)
		}
		return
	}
	r.pending = append(r.pending, p)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// eventKey says which events are the same event: client-go's rule (the
// type, reason, action and both references, resourceVersion included),
// kept as a digest of them (16 bytes instead of the hundreds the strings
// take; a collision of two different events is far less likely than a
// lost request).
type eventKey [16]byte

func keyOf(eventtype, reason, action string, reg, rel *corev1.ObjectReference) eventKey {
	h := sha256.New()
	write := func(s string) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	for _, s := range []string{eventtype, reason, action} {
		write(s)
	}
	for _, ref := range []*corev1.ObjectReference{reg, rel} {
		if ref == nil {
			write("\x01")
			continue
		}
		for _, s := range []string{ref.APIVersion, ref.Kind, ref.Namespace, ref.Name, string(ref.UID), ref.ResourceVersion, ref.FieldPath} {
			write(s)
		}
	}
	var k eventKey
	copy(k[:], h.Sum(nil))
	return k
}

// Start writes the events until ctx ends; it is the manager's runnable.
func (r *eventRecorder) Start(ctx context.Context) error {
	forget := time.NewTicker(seriesWindow / 6)
	defer forget.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-forget.C:
			r.forgetOld()
		case <-r.wake:
		}
		for {
			p, ok := r.next()
			if !ok {
				break
			}
			r.write(ctx, p)
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

func (r *eventRecorder) next() (pendingEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		r.pending = nil // let a burst's backing array go
		return pendingEvent{}, false
	}
	p := r.pending[0]
	r.pending[0] = pendingEvent{}
	r.pending = r.pending[1:]
	return p, true
}

// forgetOld drops the events whose last repeat is older than seriesWindow.
func (r *eventRecorder) forgetOld() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := r.now().Add(-seriesWindow)
	for k, s := range r.sent {
		if s.last.Before(cutoff) {
			delete(r.sent, k)
		}
	}
}

// write creates an event, or brings a sent event's series up to date (a
// few repeats waiting together make one write with the latest count).
// One goroutine writes, in order, so a repeat is written after its event.
func (r *eventRecorder) write(ctx context.Context, p pendingEvent) {
	if p.event != nil {
		_, err := r.client.Events(p.event.Namespace).Create(ctx, p.event, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			r.log.Error(err, "writing an event", "reason", p.event.Reason, "regarding", p.event.Regarding.Name)
		}
		return
	}
	s := p.series
	r.mu.Lock()
	count, last := s.count, s.last
	if count == s.told {
		r.mu.Unlock()
		return // an earlier write told this count already
	}
	s.told = count
	r.mu.Unlock()
	patch, err := json.Marshal(map[string]any{"series": eventsv1.EventSeries{Count: count, LastObservedTime: metav1.NewMicroTime(last)}})
	if err != nil {
		return
	}
	_, err = r.client.Events(s.namespace).Patch(ctx, s.name, types.MergePatchType, patch, metav1.PatchOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// The event expired (the API server keeps events an hour by
		// default) or was deleted: forgotten, so the next repeat makes a
		// new event.
		r.mu.Lock()
		for k, v := range r.sent {
			if v == s {
				delete(r.sent, k)
			}
		}
		r.mu.Unlock()
	case err != nil:
		r.log.Error(err, "writing an event's series", "event", s.name)
	}
}
