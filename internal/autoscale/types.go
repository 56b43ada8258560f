package autoscale

import (
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Config holds the controller-wide settings that kube-controller-manager
// takes as flags. Use DefaultConfig and change what you need: the zero
// Config is valid but means a tolerance of 0 and no stabilization.
type Config struct {
	// Tolerance is --horizontal-pod-autoscaler-tolerance: no scaling while
	// the usage ratio is within [1-Tolerance, 1+Tolerance]. A behavior's
	// per-direction tolerance overrides it.
	Tolerance float64
	// DownscaleStabilizationWindow is
	// --horizontal-pod-autoscaler-downscale-stabilization. It is the
	// scale-down window when the HPA has no behavior, or when its scaleDown
	// rules leave stabilizationWindowSeconds unset.
	DownscaleStabilizationWindow time.Duration
	// CPUInitializationPeriod is
	// --horizontal-pod-autoscaler-cpu-initialization-period: within it after
	// a replica starts, its CPU sample counts only if the replica is ready
	// and the sample was taken a full window after it became ready.
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay is
	// --horizontal-pod-autoscaler-initial-readiness-delay: after the CPU
	// initialization period, a not-ready replica's CPU sample is set aside
	// only if the replica turned not-ready within this delay of starting
	// (that is, it has never been ready).
	InitialReadinessDelay time.Duration
	// ScaleToZero is kube-controller-manager's HPAScaleToZero feature gate
	// (beta and on by default since Kubernetes 1.37; DefaultConfig turns it
	// on, the zero Config leaves it off). On, minReplicas may be 0 when the
	// spec has an Object or External metric, the autoscaler may scale the
	// target to 0, and it goes on reading metrics at 0 replicas only if it
	// scaled the target there itself (State.ScaledToZero). Off, minReplicas
	// must be at least 1 and a target at 0 replicas is always left alone.
	ScaleToZero bool
}

// DefaultConfig returns kube-controller-manager 1.37's defaults: tolerance
// 0.1, 5 minute downscale stabilization, 5 minute CPU initialization
// period, 30 second initial readiness delay and HPAScaleToZero on.
func DefaultConfig() Config {
	return Config{
		Tolerance:                    0.1,
		DownscaleStabilizationWindow: 5 * time.Minute,
		CPUInitializationPeriod:      5 * time.Minute,
		InitialReadinessDelay:        30 * time.Second,
		ScaleToZero:                  true,
	}
}

// State is the autoscaler's memory between decisions: what the HPA
// controller keeps in memory per HPA. It is a plain value; Decide never
// modifies the State it is given and returns the next one. The zero State
// is the state of a freshly started controller.
type State struct {
	// Started is set by the first decision, which records the current
	// replica count as an initial recommendation (so that a controller that
	// has just started does not scale down before a full stabilization
	// window of recommendations has been seen).
	Started bool
	// Recommendations are the unstabilized recommendations used by the
	// stabilization windows. Entries older than every window are reused for
	// new ones, as upstream does, so the order is not chronological.
	Recommendations []Recommendation
	// ScaleUpEvents and ScaleDownEvents record applied scale changes, used
	// by the rate policies. They are only recorded when the spec has a
	// behavior (as upstream).
	ScaleUpEvents   []ScaleEvent
	ScaleDownEvents []ScaleEvent
	// ScaledToZero is the HPA's ScaledToZero condition being True: the last
	// decision that changed the replica count took the target from above 0
	// to 0 (with minReplicas 0 and an Object or External metric). Every
	// decision that changes the count sets it anew; decisions that do not
	// leave it as it is, as upstream keeps the condition in the HPA's
	// status. Only with it set does a target at 0 replicas get decisions
	// from metrics; a target someone else scaled to 0 stays disabled.
	ScaledToZero bool
}

// Recommendation is one unstabilized recommendation.
type Recommendation struct {
	Time     time.Time
	Replicas int32
}

// ScaleEvent is one applied scale change; Change is the number of replicas
// added (in ScaleUpEvents) or removed (in ScaleDownEvents), always positive.
type ScaleEvent struct {
	Time   time.Time
	Change int32
}

// Observation is what the controller reads at one decision: the target's
// replica count and a sample per replica.
type Observation struct {
	// CurrentReplicas is the scale target's desired replica count (its
	// scale subresource's spec.replicas), not the number of live replicas.
	CurrentReplicas int32
	// Replicas are the target's replicas (pods or local processes),
	// including pending, not-ready and terminating ones.
	Replicas []Replica
	// Values holds the current value of each Object and External metric,
	// keyed by MetricKey of its MetricSpec. A missing key means the metric
	// could not be read.
	Values map[string]resource.Quantity
}

// Replica is one replica's state and latest sample.
type Replica struct {
	Name string
	// Pending means the replica has not started running (pod phase
	// Pending). Pending replicas count as not ready for every metric.
	Pending bool
	// Terminating means the replica is being deleted or has exited; it is
	// left out of every calculation (but its requests must still be known,
	// as upstream requires requests on every pod of the target).
	Terminating bool
	// Ready is the replica's readiness.
	Ready bool
	// StartTime is when the replica started; zero means unknown, which
	// makes its CPU sample count as not ready.
	StartTime time.Time
	// ReadySince is the last transition time of the Ready condition (when
	// it became ready, or not ready). A replica that has never been ready
	// should have ReadySince == StartTime. Zero means no Ready condition,
	// which makes its CPU sample count as not ready.
	ReadySince time.Time
	// SampleTime is when the resource sample was taken (the end of its
	// window); zero means the decision time. SampleWindow is the window the
	// sample covers (metrics-server's window).
	SampleTime   time.Time
	SampleWindow time.Duration
	// Containers lists the replica's containers (include sidecars that run
	// for the replica's whole life, as upstream counts restartable init
	// containers) with their requests and latest usage.
	Containers []Container
	// Custom holds per-replica values of Pods metrics, keyed by MetricKey
	// of the MetricSpec. A missing key means no sample for this replica.
	Custom map[string]resource.Quantity
}

// Container is one container's resource requests and measured usage. A
// nil Usage, or a Usage without the resource, means the sample is missing.
type Container struct {
	Name     string
	Requests corev1.ResourceList
	Usage    corev1.ResourceList
}

// Limit names what shaped a decision's final replica count.
type Limit string

// The limits a decision can report, most specific last.
const (
	// LimitNone: the metrics' recommendation was applied as is.
	LimitNone Limit = ""
	// LimitTolerance: the deciding metric proposed no change because its
	// ratio was within tolerance, or its conservative recomputation was or
	// reversed the scaling direction.
	LimitTolerance Limit = "Tolerance"
	// LimitStabilization: a stabilization window held the recommendation.
	LimitStabilization Limit = "Stabilization"
	// LimitPolicy: a rate policy (or, without behavior, the built-in
	// max(2x, 4) scale-up rate) held the change, or selectPolicy Disabled
	// forbade it.
	LimitPolicy Limit = "Policy"
	// LimitMin and LimitMax: clamped to minReplicas or maxReplicas.
	LimitMin Limit = "MinReplicas"
	LimitMax Limit = "MaxReplicas"
	// LimitScalingDisabled: the target has 0 replicas and the autoscaler
	// did not scale it there (maintenance mode), or scale-to-zero is off.
	LimitScalingDisabled Limit = "ScalingDisabled"
	// LimitMetricsUnavailable: no metric could be computed, or some failed
	// and the rest suggested scaling down.
	LimitMetricsUnavailable Limit = "MetricsUnavailable"
	// LimitInvalidSpec: the spec is one the API server would reject.
	LimitInvalidSpec Limit = "InvalidSpec"
)

// Condition is an HPA status condition without its timestamp.
type Condition struct {
	Type    autoscalingv2.HorizontalPodAutoscalerConditionType
	Status  corev1.ConditionStatus
	Reason  string
	Message string
}

// Decision is the outcome of one Decide call.
type Decision struct {
	Time            time.Time
	CurrentReplicas int32
	// DesiredReplicas is the replica count to set; equal to CurrentReplicas
	// when nothing should change.
	DesiredReplicas int32
	// Recommendation is the maximum across the metrics' proposals before
	// stabilization and limits, or -1 if none was computed.
	Recommendation int32
	// Stabilized is the recommendation after the stabilization windows, or
	// -1 if none was computed.
	Stabilized int32
	// Metrics has one entry per metric of the (defaulted) spec, in order.
	Metrics []MetricResult
	// Limit is what shaped DesiredReplicas last; LimitMessage explains it,
	// e.g. "scale-up limited by policy Pods 4/15s".
	Limit        Limit
	LimitMessage string
	// Reason is a one-line human explanation, e.g.
	// "cpu 38% of request, target 10% (scale-up limited by policy Pods 4/15s)".
	Reason string
	// Conditions are the HPA conditions this decision sets, in the order
	// AbleToScale, ScalingActive, ScalingLimited, then, on a decision that
	// changes the count with Config.ScaleToZero on, ScaledToZero (True,
	// reason ScaledToZero, on a move from above 0 to 0; else False,
	// NotScaledToZero). Conditions upstream leaves untouched in the same
	// situation are absent: merge them into the previous ones.
	// SucceededRescale/FailedUpdateScale are the caller's; with
	// Config.ScaleToZero off upstream removes any ScaledToZero condition
	// (State.ScaledToZero is cleared then).
	Conditions []Condition
}

// Changed reports whether the decision changes the replica count.
func (d Decision) Changed() bool { return d.DesiredReplicas != d.CurrentReplicas }

// MetricResult is one metric's contribution to a decision.
type MetricResult struct {
	Type autoscalingv2.MetricSourceType
	// Name identifies the metric in messages: "cpu", "memory (container
	// app)", "pods metric rps", "object Service/front metric rps",
	// "external metric queue".
	Name string
	// Current and Target are the observed value and the target as shown to
	// humans: "38% of request" and "10%", or "250m per replica" and "200m".
	Current string
	Target  string
	// Ratio is the usage ratio (current over target) before any
	// conservative recomputation, as upstream reports it.
	Ratio float64
	// Proposed is the replica count this metric proposes (CurrentReplicas
	// when within tolerance); meaningless when Err is set.
	Proposed int32
	// WithinTolerance is set when the metric proposed no change because the
	// ratio (or its conservative recomputation) was within tolerance or the
	// recomputation reversed the scaling direction.
	WithinTolerance bool
	// Ready, Unready, Missing and Ignored count the replicas in each group
	// (pods-based metrics only): Ready replicas had a usable sample;
	// Unready ones were set aside as not ready; Missing ones had no sample;
	// Ignored ones were terminating.
	Ready, Unready, Missing, Ignored int
	// Note explains a conservative recomputation, if one happened.
	Note string
	// Reason and Err are set when the metric could not be computed; Reason
	// is the upstream condition reason (e.g. "FailedGetResourceMetric").
	Reason string
	Err    string
	// Status is the metric status the HPA would report.
	Status autoscalingv2.MetricStatus
}
