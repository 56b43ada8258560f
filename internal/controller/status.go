package controller

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// The condition types that make up Ready.
var readyParts = []string{
	sdepv1.ConditionDeploymentsReady,
	sdepv1.ConditionServicesReady,
	sdepv1.ConditionHpasReady,
	sdepv1.ConditionPdbsReady,
	sdepv1.ConditionKedaReady,
}

func setCondition(s *sdepv1.SeldonDeploymentStatus, gen int64, t string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen,
	})
}

// setWarnings reports the validator's warnings: fields sdep accepts but
// does not act on, and pods with access to their node.
func setWarnings(s *sdepv1.SeldonDeploymentStatus, gen int64, warnings validation.Problems) {
	if len(warnings) == 0 {
		meta.RemoveStatusCondition(&s.Conditions, sdepv1.ConditionSpecWarnings)
		return
	}
	setCondition(s, gen, sdepv1.ConditionSpecWarnings, true, "FieldsIgnored", warnings.Error())
}

// fail marks the SeldonDeployment Failed with a description a user can act on.
func fail(s *sdepv1.SeldonDeploymentStatus, gen int64, reason, description string) {
	s.State = sdepv1.StateFailed
	s.Description = description
	setCondition(s, gen, sdepv1.ConditionReady, false, reason, description)
}

// observe fills status from the live children.
func (r *Reconciler) observe(sd *sdepv1.SeldonDeployment, want *desiredState, live *liveChildren, s *sdepv1.SeldonDeploymentStatus) {
	gen := sd.Generation
	objs := want.objs
	opts := r.Options.Predictor
	s.Selector = podSelector(sd)

	// Deployments.
	s.DeploymentStatus = map[string]sdepv1.DeploymentStatus{}
	var notReady, failed, atZero, waking []string
	for i, wd := range objs.Deployments {
		d, _ := live.deployments[wd.Name].(*appsv1.Deployment)
		ds := sdepv1.DeploymentStatus{Name: wd.Name, Status: string(sdepv1.StateCreating)}
		toZero := want.replicas[wd.Name].ToZero
		if d != nil {
			ds.Replicas, ds.AvailableReplicas = d.Status.Replicas, d.Status.AvailableReplicas
			switch {
			case toZero:
				observeScaleToZero(d, &ds)
			case deploymentReady(d):
				ds.Status = string(sdepv1.StateAvailable)
			case deploymentStalled(d):
				ds.Status = string(sdepv1.StateFailed)
				ds.Description = "Deployment is no longer progressing and not available."
			}
			if i == 0 {
				s.Replicas = d.Status.Replicas
			}
		}
		switch {
		case ds.Status == string(sdepv1.StateFailed):
			failed = append(failed, wd.Name)
			notReady = append(notReady, wd.Name)
		case ds.Description == descScaledToZero:
			atZero = append(atZero, wd.Name)
		case toZero && d != nil && ds.Status != string(sdepv1.StateAvailable):
			// Starting from zero: the executor holds the requests meanwhile,
			// so the SeldonDeployment still answers.
			waking = append(waking, wd.Name)
		case ds.Status != string(sdepv1.StateAvailable):
			notReady = append(notReady, wd.Name)
		}
		s.DeploymentStatus[wd.Name] = ds
	}
	zeroNote := ""
	if len(atZero) > 0 {
		zeroNote += "; scaled to zero (the first request starts a replica): " + strings.Join(atZero, ", ")
	}
	if len(waking) > 0 {
		zeroNote += "; starting from zero (requests are held until a replica is ready): " + strings.Join(waking, ", ")
	}
	switch {
	case live.errs[deploymentKind.kind] != nil:
		kindFailed(s, gen, sdepv1.ConditionDeploymentsReady, live.errs[deploymentKind.kind])
	case len(notReady) == 0:
		setCondition(s, gen, sdepv1.ConditionDeploymentsReady, true, "DeploymentsReady", "All Deployments are available"+zeroNote)
	default:
		setCondition(s, gen, sdepv1.ConditionDeploymentsReady, false, "DeploymentsNotReady", "Not available: "+strings.Join(notReady, ", "))
	}

	// Services.
	s.ServiceStatus = map[string]sdepv1.ServiceStatus{}
	for _, want := range objs.Services {
		st := sdepv1.ServiceStatus{SvcName: want.Name}
		for _, p := range want.Spec.Ports {
			endpoint := fmt.Sprintf("%s.%s:%d", want.Name, sd.Namespace, p.Port)
			switch p.Name {
			case predictor.PortNameHTTP:
				st.HTTPEndpoint = endpoint
			case predictor.PortNameGRPC:
				st.GRPCEndpoint = endpoint
			}
		}
		s.ServiceStatus[want.Name] = st
	}
	if err := live.errs[serviceKind.kind]; err != nil {
		kindFailed(s, gen, sdepv1.ConditionServicesReady, err)
	} else {
		setCondition(s, gen, sdepv1.ConditionServicesReady, true, "ServicesReady", "All Services created")
	}

	// HPAs: present, and not reporting that they cannot scale.
	switch {
	case live.errs[hpaKind.kind] != nil:
		kindFailed(s, gen, sdepv1.ConditionHpasReady, live.errs[hpaKind.kind])
	case len(objs.HPAs) == 0:
		setCondition(s, gen, sdepv1.ConditionHpasReady, true, "NoHPAs", "No HPAs defined")
	default:
		ok, reason, msg := hpasHealthy(want, live)
		setCondition(s, gen, sdepv1.ConditionHpasReady, ok, reason, msg)
	}

	// PDBs: present, and satisfiable.
	switch {
	case live.errs[pdbKind.kind] != nil:
		kindFailed(s, gen, sdepv1.ConditionPdbsReady, live.errs[pdbKind.kind])
	case len(objs.PDBs) == 0:
		setCondition(s, gen, sdepv1.ConditionPdbsReady, true, "NoPDBs", "No PDBs defined")
	default:
		ok, reason, msg := pdbsHealthy(objs, live)
		setCondition(s, gen, sdepv1.ConditionPdbsReady, ok, reason, msg)
	}

	switch {
	case len(objs.ScaledObjects) == 0:
		setCondition(s, gen, sdepv1.ConditionKedaReady, true, "NoKEDA", "No KEDA resources defined")
	case !r.ScaledObjectsServed:
		setCondition(s, gen, sdepv1.ConditionKedaReady, false, "KEDANotInstalled",
			"kedaSpec needs KEDA: the ScaledObject CRD (keda.sh/v1alpha1) is not installed; the Deployment keeps its current replicas")
	case live.errs[scaledObjectKind.kind] != nil:
		kindFailed(s, gen, sdepv1.ConditionKedaReady, live.errs[scaledObjectKind.kind])
	default:
		setCondition(s, gen, sdepv1.ConditionKedaReady, true, "ScaledObjectsReady", "All ScaledObjects created")
	}

	ready := true
	var pending []string
	for _, t := range readyParts {
		if !meta.IsStatusConditionTrue(s.Conditions, t) {
			ready = false
			pending = append(pending, t)
		}
	}
	switch {
	case len(failed) > 0:
		fail(s, gen, "DeploymentFailed", "Deployment is no longer progressing and not available: "+strings.Join(failed, ", "))
	case ready:
		s.State, s.Description = sdepv1.StateAvailable, ""
		setCondition(s, gen, sdepv1.ConditionReady, true, "Ready", "SeldonDeployment is available"+zeroNote)
	default:
		s.State, s.Description = sdepv1.StateCreating, ""
		setCondition(s, gen, sdepv1.ConditionReady, false, "NotReady", "Waiting for "+strings.Join(pending, ", "))
	}

	if len(sd.Spec.Predictors) > 0 {
		p := &sd.Spec.Predictors[0]
		s.Address = &sdepv1.Addressable{URL: fmt.Sprintf("http://%s.%s.svc.%s:%d%s",
			naming.PredictorServiceName(sd, p), sd.Namespace, opts.ClusterDomain, opts.ExecutorHTTPPort, predictPath(sd))}
	}
}

// podSelector selects every pod of sd, as the scale subresource returns it.
func podSelector(sd *sdepv1.SeldonDeployment) string {
	return metav1.FormatLabelSelector(&metav1.LabelSelector{
		MatchLabels: map[string]string{naming.LabelSeldonID: naming.SeldonID(sd)},
	})
}

func predictPath(sd *sdepv1.SeldonDeployment) string {
	graph := sd.Spec.Predictors[0].Graph.Name
	switch sd.Spec.Protocol {
	case sdepv1.ProtocolTensorflow:
		return "/v1/models/" + graph + ":predict"
	case sdepv1.ProtocolV2, sdepv1.ProtocolKFServing:
		return "/v2/models/" + graph + "/infer"
	}
	return "/api/v1.0/predictions"
}

// hpasHealthy reads the HPAs' own conditions: an HPA that exists but
// cannot scale (for example its target's pods have no cpu request) is not
// ready, and its reason and message are passed on to the user.
func hpasHealthy(ds *desiredState, live *liveChildren) (bool, string, string) {
	var problems, limited []string
	reason := "HPAsNotReady"
	for _, want := range ds.objs.HPAs {
		h, _ := live.hpas[want.Name].(*autoscalingv2.HorizontalPodAutoscaler)
		if h == nil {
			problems = append(problems, want.Name+": not created")
			continue
		}
		toZero := ds.replicas[want.Spec.ScaleTargetRef.Name].ToZero
		for _, c := range h.Status.Conditions {
			switch {
			case toZero && c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionFalse && c.Reason == hpaReasonScalingDisabled:
				// The target is at 0 by design: the HPA resumes at 1.
				limited = append(limited, fmt.Sprintf("%s: scaled to zero, the HPA acts again from 1 replica", want.Name))
			case (c.Type == autoscalingv2.AbleToScale || c.Type == autoscalingv2.ScalingActive) && c.Status == corev1.ConditionFalse:
				problems = append(problems, fmt.Sprintf("%s: %s=False %s: %s", want.Name, c.Type, c.Reason, c.Message))
				reason = c.Reason
			case c.Type == autoscalingv2.ScalingLimited && c.Status == corev1.ConditionTrue:
				limited = append(limited, fmt.Sprintf("%s: ScalingLimited %s: %s", want.Name, c.Reason, c.Message))
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return false, reason, strings.Join(append(problems, limited...), "; ")
	}
	msg := "All HPAs resources ready"
	if len(limited) > 0 {
		msg += "; " + strings.Join(limited, "; ")
	}
	return true, "HPAsReady", msg
}

// kindFailed sets a kind's condition False for the sub-reconciler's
// failures: the reason of the first (CreateFailed, UpdateFailed,
// DeleteFailed, NotControlled, ...) and every message, API errors included.
func kindFailed(s *sdepv1.SeldonDeploymentStatus, gen int64, t string, err error) {
	reason := "ReconcileFailed"
	var ce *childError
	if errors.As(err, &ce) {
		reason = ce.reason()
	}
	setCondition(s, gen, t, false, reason, strings.ReplaceAll(err.Error(), "\n", "; "))
}

// pdbsHealthy reads the PDBs' status, once the disruption controller has
// seen their latest spec: a budget that asks for more healthy pods than its
// selector can ever match blocks every voluntary disruption (node drains
// hang), and a budget the controller could not compute is reported with
// its own reason and message.
func pdbsHealthy(objs *resources.Objects, live *liveChildren) (bool, string, string) {
	var problems []string
	reason := "PDBsNotReady"
	for _, want := range objs.PDBs {
		p, _ := live.pdbs[want.Name].(*policyv1.PodDisruptionBudget)
		if p == nil {
			problems = append(problems, want.Name+": not created")
			continue
		}
		st := p.Status
		if st.ObservedGeneration < p.Generation {
			continue // not computed yet
		}
		if c := meta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason == policyv1.SyncFailedReason {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", want.Name, c.Reason, c.Message))
			reason = c.Reason
			continue
		}
		if st.ExpectedPods > 0 && st.DesiredHealthy > st.ExpectedPods {
			problems = append(problems, fmt.Sprintf("%s: needs %d healthy pods but its selector matches %d: it can never allow a disruption",
				want.Name, st.DesiredHealthy, st.ExpectedPods))
			reason = "PDBUnsatisfiable"
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return false, reason, strings.Join(problems, "; ")
	}
	return true, "PDBsReady", "All PDBs created"
}

// hpaReasonScalingDisabled is the HPA controller's ScalingActive=False
// reason while its target has 0 replicas.
const hpaReasonScalingDisabled = "ScalingDisabled"

// descScaledToZero describes a Deployment that scales to zero and has no pod.
const descScaledToZero = "scaled to zero: no replica until a request arrives (the executor holds it and the first starts a replica)"

// observeScaleToZero fills the status of a Deployment whose componentSpec
// scales to zero. It reads what the Deployment controller observed, not
// spec.replicas: the scaler moves spec.replicas between 0 and 1, and that
// alone changes nothing here. No pod at all is "scaled to zero" and
// Available; a pod available is Available; pods starting are Creating,
// which does not hold the SeldonDeployment back (the executor holds the
// requests meanwhile). It is Failed only when the Deployment controller
// gave up on a rollout that wants pods.
func observeScaleToZero(d *appsv1.Deployment, ds *sdepv1.DeploymentStatus) {
	st := d.Status
	wantsPods := d.Spec.Replicas == nil || *d.Spec.Replicas > 0
	switch {
	case wantsPods && deploymentStalled(d):
		ds.Status = string(sdepv1.StateFailed)
		ds.Description = "Deployment is no longer progressing and not available."
	case st.Replicas == 0 && st.AvailableReplicas == 0:
		ds.Status = string(sdepv1.StateAvailable)
		ds.Description = descScaledToZero
	case st.AvailableReplicas > 0 && st.UnavailableReplicas == 0:
		ds.Status = string(sdepv1.StateAvailable)
	}
}

// deploymentReady: the latest spec is rolled out and every wanted replica is available.
func deploymentReady(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas >= want &&
		st.AvailableReplicas >= want && st.UnavailableReplicas == 0
}

// deploymentStalled: the Deployment controller gave up on the rollout.
func deploymentStalled(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			return true
		}
	}
	return false
}

// statusEqual compares statuses as the API server stores them (times at
// second precision).
func statusEqual(a, b *sdepv1.SeldonDeploymentStatus) bool {
	return equality.Semantic.DeepEqual(normalize(a), normalize(b))
}

func normalize(s *sdepv1.SeldonDeploymentStatus) *sdepv1.SeldonDeploymentStatus {
	out := s.DeepCopy()
	for i := range out.Conditions {
		out.Conditions[i].LastTransitionTime = metav1.NewTime(out.Conditions[i].LastTransitionTime.Rfc3339Copy().Time)
	}
	if len(out.DeploymentStatus) == 0 {
		out.DeploymentStatus = nil
	}
	if len(out.ServiceStatus) == 0 {
		out.ServiceStatus = nil
	}
	return out
}
