package differential

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sdep-dev/sdep/internal/autoscale"
)

// modelConfig is the kube-controller-manager flags of kcmHPAFlags as an
// autoscale.Config.
func modelConfig() autoscale.Config {
	return autoscale.Config{
		Tolerance:                    tolerance,
		DownscaleStabilizationWindow: downscaleStabilization,
		CPUInitializationPeriod:      cpuInitializationPeriod,
		InitialReadinessDelay:        initialReadinessDelay,
		ScaleToZero:                  scaleToZero,
	}
}

// model plays a trace through autoscale.Decide on a simulated clock.
//
// How it models the pods: every replica is Running and Ready, started (and
// ready since) the decision that created it, with a sample taken at the
// decision time over the fake metrics API's 1 s window, and the trace's
// per-pod usage in its one container. A replica is always at least one sync
// period old when it is first observed, far beyond the 1 ms CPU
// initialization period both sides use, so its sample always counts. The
// real side matches this when new pods are Running by the HPA controller's
// next sync (kwok makes them Running well within a second); a pod still
// Pending there would count as not ready, which the traces are chosen to
// make irrelevant (see the package doc).
//
// Decisions are exactly syncPeriod apart. The real controller's are a few
// milliseconds more apart (it requeues an HPA one period after it is done
// with it), which can move a stabilization-window boundary by one decision
// but not change which counts are passed through.
type model struct {
	cfg    autoscale.Config
	tc     traceCase
	now    time.Time
	state  autoscale.State
	starts []time.Time // per replica
}

func newModel(cfg autoscale.Config, tc traceCase) *model {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &model{cfg: cfg, tc: tc, now: start, starts: []time.Time{start.Add(-time.Minute)}}
}

func (m *model) observe(perPod resource.Quantity) autoscale.Observation {
	obs := autoscale.Observation{CurrentReplicas: int32(len(m.starts))}
	if m.tc.object {
		obs.Values = map[string]resource.Quantity{objectKey: perPod}
		perPod = resource.MustParse("0")
	}
	for i, started := range m.starts {
		obs.Replicas = append(obs.Replicas, autoscale.Replica{
			Name:         fmt.Sprintf("%s-%d", workload, i),
			Ready:        true,
			StartTime:    started,
			ReadySince:   started,
			SampleTime:   m.now,
			SampleWindow: metricsWindow,
			Containers: []autoscale.Container{{
				Name:     "app",
				Requests: corev1.ResourceList{corev1.ResourceCPU: cpuRequest},
				Usage:    corev1.ResourceList{corev1.ResourceCPU: perPod},
			}},
		})
	}
	return obs
}

// step sets the usage and decides once a sync period until the count has
// not changed for quietPeriod, as the real side waits. It returns every
// count passed through, starting with the current one, and the decisions'
// reasons for the log.
func (m *model) step(perPod resource.Quantity) (counts []int32, reasons []string, err error) {
	counts = []int32{int32(len(m.starts))}
	quietDecisions := int(quietPeriod / syncPeriod)
	unchanged := 0
	for range maxModelDecisions {
		m.now = m.now.Add(syncPeriod)
		d, next := m.cfg.Decide(m.tc.spec(), m.state, m.observe(perPod), m.now)
		m.state = next
		if !d.Changed() {
			if unchanged++; unchanged >= quietDecisions {
				return slices.Clip(counts), reasons, nil
			}
			continue
		}
		unchanged = 0
		reasons = append(reasons, fmt.Sprintf("%d→%d: %s", d.CurrentReplicas, d.DesiredReplicas, d.Reason))
		counts = append(counts, d.DesiredReplicas)
		if n := int(d.DesiredReplicas); n > len(m.starts) {
			for len(m.starts) < n {
				m.starts = append(m.starts, m.now)
			}
		} else {
			m.starts = m.starts[:n]
		}
	}
	return counts, reasons, fmt.Errorf("the model did not settle within %d decisions: counts %v", maxModelDecisions, counts)
}

// scaleByHand sets the replica count as someone other than the autoscaler
// would: new replicas start now.
func (m *model) scaleByHand(n int32) {
	for int32(len(m.starts)) < n {
		m.starts = append(m.starts, m.now)
	}
	m.starts = m.starts[:n]
}

const maxModelDecisions = 300
