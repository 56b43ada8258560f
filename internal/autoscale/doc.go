// Package autoscale is the Kubernetes HorizontalPodAutoscaler (autoscaling/v2)
// algorithm as a pure function, for running sdep's components locally with
// the same autoscaling a cluster would give them.
//
// Decide takes the HPA spec (the very HorizontalPodAutoscalerSpec sdep
// builds for a cluster), the State left by the previous decision, an
// Observation (the target's replica count and a sample per replica) and the
// current time, and returns a Decision and the next State. It does no I/O,
// reads no clock and keeps no globals: the caller samples its replicas,
// calls Decide every sync period (kube-controller-manager uses 15 s) and
// applies Decision.DesiredReplicas.
//
// # What it mirrors
//
// The decision follows kube-controller-manager's HPA controller
// (pkg/controller/podautoscaler: horizontal.go, replica_calculator.go,
// metrics/utilization.go) and the API server's defaulting
// (pkg/apis/autoscaling/v2/defaults.go):
//
//   - Per metric, the usage ratio is current over target; no change while
//     it is within the tolerance (Config.Tolerance, default 0.1, or the
//     behavior's per-direction scaleUp/scaleDown tolerance); otherwise
//     ceil(ratio × replicas with a usable sample). Utilization is the
//     integer percentage of summed usage over summed requests, and the ratio
//     is taken from that truncated percentage, as upstream.
//   - Replicas are grouped as upstream: terminating ones are left out;
//     pending ones are not ready; ones without a sample are missing; for
//     CPU only, a replica is also not ready if it has no start time or Ready
//     condition, or, within Config.CPUInitializationPeriod of starting, if
//     it is not ready or its sample was taken less than a sample window
//     after it became ready, or, later, if it is not ready and has never
//     been ready (turned not-ready within Config.InitialReadinessDelay of
//     starting). Other resources and Pods metrics use samples of not-ready
//     running replicas as if they were ready, as upstream.
//   - When replicas are missing, or not ready on a scale-up, the average is
//     recomputed conservatively: on a scale-down a missing replica counts
//     as using its whole request (or the target utilization, when that is
//     above 100%) for utilization targets, and exactly the target for
//     average-value targets; on a scale-up missing and not-ready replicas
//     count as 0. If the recomputed ratio is within tolerance or reverses
//     the direction, nothing changes. The status reports the original
//     average. (The Kubernetes documentation says missing replicas count as
//     "100% of the desired value" on a scale-down; the controller's code,
//     followed here, uses 100% of the request for utilization targets.)
//   - Across metrics the highest proposal wins. If every metric fails, or
//     some fail and the rest propose fewer replicas than now, nothing
//     changes; a scale-up still happens when some metrics fail.
//   - Object and External metrics with a Value target scale the ready
//     replica count by the ratio; with an AverageValue target the proposal
//     is ceil(value / target). A Pods metric must have an AverageValue
//     target.
//   - A spec without behavior uses the controller's built-in rules: the
//     highest recommendation within Config.DownscaleStabilizationWindow
//     (the --horizontal-pod-autoscaler-downscale-stabilization flag,
//     default 5 minutes, a recommendation exactly as old as the window
//     still counting), then a scale-up limit of max(2 × current, 4)
//     replicas per decision and the [minReplicas, maxReplicas] clamp. So
//     with one replica the first scale-up goes to 4, then 8, 16. The
//     highest recommendation applies in both directions: a scale-up held
//     back by the rate limit is carried on by later decisions while it is
//     in the window, even once the metrics are within tolerance.
//   - A spec with a behavior, even an empty one, gets the API server's
//     defaults for what it leaves unset (scaleUp: stabilization 0,
//     policies Pods 4/15s and Percent 100/15s, selectPolicy Max;
//     scaleDown: stabilization Config.DownscaleStabilizationWindow, policy
//     Percent 100/15s, selectPolicy Max), see EffectiveBehavior. The
//     recommendation is kept between the lowest recommendation within the
//     scale-up window and the highest within the scale-down window (a
//     recommendation exactly as old as a window no longer counts). Then the
//     rate policies apply, measured from the replica count at the start of
//     each policy's period (current minus replicas added plus replicas
//     removed by scale events within the period): a Pods policy allows
//     start ± value; a Percent policy allows ceil(start × (1 + value/100))
//     on a scale-up and trunc(start × (1 − value/100)) on a scale-down (the
//     share removed rounds up: 10% of 72 removes 8). selectPolicy Max takes
//     the policy allowing the biggest change, Min the smallest, Disabled
//     forbids scaling in that direction. Finally the result is clamped to
//     [minReplicas, maxReplicas]. So with one replica the first scale-up
//     goes to 5 (Pods 4 beats Percent 100), then 10 after 15 s.
//   - Scale events are only recorded when the spec has a behavior, and both
//     histories reuse slots of entries that can no longer count, as
//     upstream, so State stays small.
//   - The first decision records the current replica count as a
//     recommendation, so a freshly started autoscaler does not scale down
//     before a full stabilization window has passed.
//   - A count above maxReplicas, or above 0 and below minReplicas, is
//     brought into range without looking at metrics.
//   - Scale to zero is Kubernetes 1.37's HPAScaleToZero feature
//     (Config.ScaleToZero, on in DefaultConfig as in kube-controller-manager
//     1.37). minReplicas may then be 0 if an Object or External metric is
//     among the metrics; without one the spec is refused in the API
//     server's words. When every metric asks for 0 (and the windows and
//     policies allow it: a scale-down policy works on the way to 0 as on
//     any scale-down) the target goes to 0 and the decision sets the
//     ScaledToZero condition (True, reason ScaledToZero); State.ScaledToZero
//     remembers it. Every later change of the count sets the condition
//     again (False, NotScaledToZero, unless it is another move to 0);
//     decisions that change nothing leave it as it was.
//   - A target at 0 replicas is autoscaled only if State.ScaledToZero is
//     set and the spec has an Object or External metric (or minReplicas has
//     since been raised above 0, in which case the target goes back to at
//     least minReplicas). Otherwise it is in maintenance mode: scaling is
//     disabled (ScalingActive=False, ScalingDisabled, "scaling is disabled
//     since the replica count of the target is zero") until someone scales
//     it up again. So a target someone else scaled to 0 is left alone.
//   - At 0 replicas Resource, ContainerResource and Pods metrics cannot be
//     read and fail; as with any failed metric, that blocks only a
//     scale-down, and there is none from 0, so the Object and External
//     metrics decide. With no live replica an AverageValue target's ratio
//     is a division by zero upstream (never within tolerance), so the
//     proposal is ceil(value / target); a Value target proposes
//     ceil(value / target) too, without the ready-replica count.
//   - From 0 the rate limits work as on any scale-up: without behavior up
//     to max(2 × 0, 4) = 4 replicas; with behavior each policy starts from
//     the count at the start of its period, so a Pods policy allows its
//     value while a Percent policy allows ceil(0 × (1 + p)) = 0 once the
//     scale-down to 0 is older than its period: with only Percent scale-up
//     policies the target then stays at 0 (ScalingLimited ScaleUpLimit),
//     exactly as upstream.
//   - An empty metrics list means average CPU utilization of 80%, and an
//     unset minReplicas means 1.
//   - Decision.Conditions carry the AbleToScale, ScalingActive and
//     ScalingLimited conditions with upstream's reasons and messages.
//
// # Where it differs
//
//   - Nothing is fetched: metrics are given per replica (Container.Usage
//     for resources, Replica.Custom for Pods metrics, Observation.Values for
//     Object and External metrics, keyed by MetricKey). Metric selectors are
//     part of the key but are not evaluated. A metric whose samples are
//     absent fails the way a failed metrics API call does, with upstream's
//     condition reason, rather than being skipped silently.
//   - Specs the API server would reject (minReplicas above maxReplicas or
//     negative, minReplicas 0 without an Object or External metric or with
//     Config.ScaleToZero off, bad policies) give a LimitInvalidSpec decision
//     with ScalingActive=False, reason InvalidSpec, instead of being
//     impossible; MinReplicasProblem and BehaviorProblems give the rules to
//     a validator.
//   - The ScaledToZero condition lives in State, not in an HPA's status:
//     a caller that keeps State across restarts keeps the condition, as an
//     HPA object would. With an AverageValue target and no live replica,
//     the reported usage is the whole value (upstream's status divides by
//     zero there).
//   - Pod-level resource requests are not modelled; a replica's request is
//     the sum of its containers' requests (list long-running sidecars as
//     containers). Terminating replicas never count as ready, also for
//     Object and External Value targets (upstream counts running, ready
//     pods even while they are being deleted).
//   - The per-direction tolerance of a behavior is always honoured
//     (upstream it is behind the HPAConfigurableTolerance feature gate).
//   - Decide assumes its decision is applied: the returned State records
//     the scale event and the ScaledToZero condition. Upstream records
//     them only after the scale update succeeded; a caller that fails to
//     apply a decision should keep the previous State's ScaleUpEvents,
//     ScaleDownEvents and ScaledToZero. Conditions that upstream sets when
//     writing the scale (SucceededRescale, FailedUpdateScale) are the
//     caller's to add; ScaledToZero, which upstream sets at the same
//     moment, is in Decision.Conditions.
//   - Histories are pruned against the spec in force at each decision; a
//     stabilization window or policy period lengthened later does not bring
//     back entries already reused (upstream may still hold some of them).
//
// # CPU utilisation of local processes
//
// A replica's CPU utilisation is its process CPU over its container's CPU
// request. CPUUsage turns the CPU seconds a process used between two
// samples (its /proc utime+stime delta) and the wall-clock seconds between
// them into a usage quantity for Container.Usage; CPUUtilization gives the
// same as a percentage of a request.
package autoscale
