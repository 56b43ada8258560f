package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/executor"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// ScalerFieldManager is the field manager of the scaler's writes to a
// Deployment's spec.replicas (through the scale subresource).
const ScalerFieldManager = "sdep-scale-to-zero"

// Event reasons the scaler records on the SeldonDeployment.
const (
	ReasonScaledFromZero = "ScaledFromZero"
	ReasonScaledToZero   = "ScaledToZero"
)

// Defaults of the scaler's flags.
const (
	DefaultScaleToZeroIdle = 5 * time.Minute
	DefaultScaleToZeroPoll = 500 * time.Millisecond
)

// maxScalerWorkers bounds the components handled at once in one poll.
const maxScalerWorkers = 8

// Scaler moves the Deployments of components with minReplicas 0 between 0
// and 1 replica; the HPA (minReplicas 1) does 1↔N. It reads the
// Deployments and HPAs through Reader (in Run: an informer cache), so a
// poll that moves nothing sends no request to the API server, and writes
// spec.replicas (through the scale subresource, with the resourceVersion
// of the Deployment it read) in two cases only:
//
//   - 0→1: the Deployment has 0 replicas and the component has requests
//     in flight (the executors hold them while no replica exists);
//   - 1→0: the Deployment has 1 replica, its HPA (same name) wants at most
//     1 (status.desiredReplicas), and every poll over the last Idle saw
//     every executor answer with 0 in flight and 0 requests per second.
//
// An executor that does not answer, no executor at all, or a component the
// executors do not report makes the component not idle.
type Scaler struct {
	// Provider finds a predictor's executors and polls their /load.
	Provider *Provider
	// SeldonDeployments lists the SeldonDeployments (in Run: an informer's
	// cache).
	SeldonDeployments client.Reader
	// Reader reads the components' Deployments (spec.replicas and
	// resourceVersion) and their HPAs (status.desiredReplicas). In Run it
	// is an informer cache that holds only sdep's own objects (those with
	// the seldon-deployment-id label): a Deployment or HPA without the
	// label is not seen.
	Reader client.Reader
	// Client writes the scale subresource: the only request the scaler
	// sends to the API server, and only when a move is due.
	Client client.Client
	// Events records ScaledFromZero and ScaledToZero on the
	// SeldonDeployment (nil: none).
	Events events.EventRecorder
	// Idle is how long a component must be idle before 1→0; Poll how often
	// the components are looked at.
	Idle, Poll time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	idleSince map[client.ObjectKey]time.Time // Deployment → first idle poll of the current idle run
	// Deployment → the resourceVersion the scaler's last write succeeded
	// against: while Reader still shows it, Reader has not seen the write
	// yet and the component is left alone (a write would only conflict).
	written map[client.ObjectKey]string
}

// scaleTarget is one component with minReplicas 0.
type scaleTarget struct {
	sd    *sdepv1.SeldonDeployment
	pred  *sdepv1.PredictorSpec
	dep   client.ObjectKey
	nodes map[string]bool
}

// CheckScalerFlags reports a bad --scale-to-zero-* value.
func CheckScalerFlags(idle, poll time.Duration) error {
	var errs []error
	if idle <= 0 {
		errs = append(errs, fmt.Errorf("--scale-to-zero-idle=%s: want a duration above 0 (default %s)", idle, DefaultScaleToZeroIdle))
	}
	if poll <= 0 {
		errs = append(errs, fmt.Errorf("--scale-to-zero-poll=%s: want a duration above 0 (default %s)", poll, DefaultScaleToZeroPoll))
	}
	return errors.Join(errs...)
}

// Run looks at every component with minReplicas 0 every Poll until ctx
// ends.
func (s *Scaler) Run(ctx context.Context) error {
	if err := CheckScalerFlags(s.Idle, s.Poll); err != nil {
		return err
	}
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "scale to zero: listing SeldonDeployments")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Step is one poll: every component with minReplicas 0, at most
// maxScalerWorkers at once.
func (s *Scaler) Step(ctx context.Context) error {
	targets, err := s.targets(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	s.forgetOthers(targets)
	sem := make(chan struct{}, maxScalerWorkers)
	var wg sync.WaitGroup
	for _, tg := range targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.scale(ctx, tg, now); err != nil && ctx.Err() == nil {
				klog.ErrorS(err, "scale to zero", "deployment", tg.dep)
			}
		})
	}
	wg.Wait()
	return nil
}

// targets are the components whose hpaSpec (or legacy hpaSpecs entry,
// which validation.Default moves onto the componentSpec) has minReplicas 0.
func (s *Scaler) targets(ctx context.Context) ([]scaleTarget, error) {
	var list sdepv1.SeldonDeploymentList
	if err := s.SeldonDeployments.List(ctx, &list); err != nil {
		return nil, err
	}
	var out []scaleTarget
	for i := range list.Items {
		sd := list.Items[i].DeepCopy()
		if sd.DeletionTimestamp != nil {
			continue
		}
		validation.Default(sd, predictor.DefaultOptions())
		for k := range sd.Spec.Predictors {
			pr := &sd.Spec.Predictors[k]
			for j := range pr.ComponentSpecs {
				if !predictor.ScalesToZero(pr, j) {
					continue
				}
				out = append(out, scaleTarget{
					sd: sd, pred: pr,
					dep:   client.ObjectKey{Namespace: sd.Namespace, Name: naming.DeploymentName(sd, pr, j)},
					nodes: componentNodes(&pr.ComponentSpecs[j]),
				})
			}
		}
	}
	return out, nil
}

// scale handles one component.
func (s *Scaler) scale(ctx context.Context, tg scaleTarget, now time.Time) error {
	var cur appsv1.Deployment
	if err := s.Reader.Get(ctx, tg.dep, &cur); err != nil {
		s.setIdle(tg.dep, now, false)
		if apierrors.IsNotFound(err) {
			return nil // not created yet
		}
		return fmt.Errorf("reading the Deployment: %w", err)
	}
	if s.unseenWrite(tg.dep, cur.ResourceVersion) {
		return nil // Reader is behind the last write: look at the next poll
	}
	replicas := int32(1) // the API server's default
	if cur.Spec.Replicas != nil {
		replicas = *cur.Spec.Replicas
	}
	inFlight, idle, err := s.load(ctx, tg)
	s.setIdle(tg.dep, now, idle)
	switch replicas {
	case 0:
		if inFlight == 0 {
			return err
		}
		return s.write(ctx, tg, &cur, 1, ReasonScaledFromZero,
			fmt.Sprintf("Deployment %s scaled from 0 to 1 replica: %d request(s) in flight", tg.dep.Name, inFlight))
	case 1:
		if err != nil || !idle {
			return err
		}
		since := s.idleStart(tg.dep)
		if now.Sub(since) < s.Idle {
			return nil
		}
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := s.Reader.Get(ctx, tg.dep, &hpa); err != nil {
			if apierrors.IsNotFound(err) {
				return nil // no HPA: nothing would scale it back beyond 1; leave it
			}
			return fmt.Errorf("reading the HPA: %w", err)
		}
		if hpa.Status.DesiredReplicas > 1 {
			return nil
		}
		return s.write(ctx, tg, &cur, 0, ReasonScaledToZero,
			fmt.Sprintf("Deployment %s scaled from 1 to 0 replicas: no request for %s", tg.dep.Name, now.Sub(since).Round(time.Second)))
	}
	return err
}

// load polls the component's executors: its requests in flight (held ones
// included) over those that answered, and whether it is idle (every
// executor answered, and the component has 0 in flight and 0 per second).
func (s *Scaler) load(ctx context.Context, tg scaleTarget) (inFlight int64, idle bool, err error) {
	addrs, err := s.Provider.executors(ctx, tg.sd, tg.pred)
	if err != nil {
		return 0, false, fmt.Errorf("listing the executors: %w", err)
	}
	loads := s.Provider.poll(ctx, addrs)
	inFlight, rps, ok := executor.ComponentLoad(loads, tg.pred.Name, tg.nodes)
	complete := len(addrs) > 0 && len(loads) == len(addrs) && ok
	return inFlight, complete && inFlight == 0 && rps == 0, nil
}

// write sets the scale's replicas with the resourceVersion the Deployment
// cur was read at (a Deployment's scale has the Deployment's): a
// concurrent write (the HPA's) wins, and so does any change Reader had not
// seen yet; the next poll reads again.
func (s *Scaler) write(ctx context.Context, tg scaleTarget, cur *appsv1.Deployment, replicas int32, reason, msg string) error {
	from := int32(1)
	if cur.Spec.Replicas != nil {
		from = *cur.Spec.Replicas
	}
	readAt := cur.ResourceVersion
	sc := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Namespace: cur.Namespace, Name: cur.Name, UID: cur.UID, ResourceVersion: readAt},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	}
	err := s.Client.SubResource("scale").Update(ctx, cur, client.WithSubResourceBody(sc), client.FieldOwner(ScalerFieldManager))
	if apierrors.IsConflict(err) {
		klog.V(2).InfoS("scale to zero: the scale changed meanwhile; read again at the next poll", "deployment", tg.dep)
		return nil
	}
	if err != nil {
		return fmt.Errorf("setting %d replica(s): %w", replicas, err)
	}
	s.forget(tg.dep)
	s.wrote(tg.dep, readAt)
	klog.InfoS("scale to zero", "deployment", tg.dep, "from", from, "to", replicas, "reason", reason)
	if s.Events != nil {
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: tg.dep.Namespace, Name: tg.dep.Name}}
		s.Events.Eventf(tg.sd, dep, corev1.EventTypeNormal, reason, "Scale", "%s", msg)
	}
	return nil
}

// wrote remembers that a write against resourceVersion rv succeeded.
func (s *Scaler) wrote(k client.ObjectKey, rv string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = map[client.ObjectKey]string{}
	}
	s.written[k] = rv
}

// unseenWrite reports whether Reader's Deployment, at resourceVersion rv,
// is still the one the last successful write was made against; once it is
// not, the write is forgotten.
func (s *Scaler) unseenWrite(k client.ObjectKey, rv string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.written[k]
	if !ok {
		return false
	}
	if old == rv {
		return true
	}
	delete(s.written, k)
	return false
}

func (s *Scaler) setIdle(k client.ObjectKey, now time.Time, idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idleSince == nil {
		s.idleSince = map[client.ObjectKey]time.Time{}
	}
	if !idle {
		delete(s.idleSince, k)
	} else if _, ok := s.idleSince[k]; !ok {
		s.idleSince[k] = now
	}
}

func (s *Scaler) idleStart(k client.ObjectKey) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idleSince[k]
}

func (s *Scaler) forget(k client.ObjectKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.idleSince, k)
}

// forgetOthers drops the idle runs of components that are gone.
func (s *Scaler) forgetOthers(targets []scaleTarget) {
	keep := make(map[client.ObjectKey]bool, len(targets))
	for _, t := range targets {
		keep[t.dep] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.idleSince {
		if !keep[k] {
			delete(s.idleSince, k)
		}
	}
	for k := range s.written {
		if !keep[k] {
			delete(s.written, k)
		}
	}
}

func (s *Scaler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
