package predictor

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// ExecutorContainerName is the name of the container sdep injects to run the
// executor; no user container may take it.
const ExecutorContainerName = "seldon-container-engine"

// AnnotationEngineSeparatePod, "true" in spec.annotations or a predictor's
// annotations, gives the predictor's executor a Deployment of its own.
const AnnotationEngineSeparatePod = "seldon.io/engine-separate-pod"

// ExecutorComponent is the index of the componentSpec whose pods run the
// executor container: the first, as in Seldon Core. It is -1 when the
// executor gets a Deployment of its own (<sdep>-<predictor>-svc-orch):
//
//   - the predictor has no componentSpecs (a graph of built-in nodes);
//   - seldon.io/engine-separate-pod is "true" in spec.annotations or in
//     the predictor's annotations;
//   - a componentSpec can scale to zero (ScalesToZero): the executor must
//     keep running, and hold requests, while that component has no pod.
//
// sd may be nil (only the predictor's own annotation is read then).
func ExecutorComponent(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) int {
	if len(p.ComponentSpecs) == 0 || SeparateExecutor(sd, p) {
		return -1
	}
	return 0
}

// SeparateExecutor reports whether predictor p's executor runs in its own
// Deployment although p has componentSpecs (see ExecutorComponent).
func SeparateExecutor(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) bool {
	if p.Annotations[AnnotationEngineSeparatePod] == "true" {
		return true
	}
	if sd != nil && sd.Spec.Annotations[AnnotationEngineSeparatePod] == "true" {
		return true
	}
	for j := range p.ComponentSpecs {
		if ScalesToZero(p, j) {
			return true
		}
	}
	for _, h := range p.HpaSpecs {
		if isZero(h.MinReplicas) {
			return true // one that names no componentSpec is refused by validation
		}
	}
	return false
}

// ScalesToZero reports whether componentSpecs[j] of p may have no replica:
// its hpaSpec, or a legacy predictor-level hpaSpecs entry whose
// scaleTargetRef names it (by metadata.name), has minReplicas 0. A kedaSpec
// does not count: KEDA scales to zero on its own terms.
func ScalesToZero(p *sdepv1.PredictorSpec, j int) bool {
	cs := &p.ComponentSpecs[j]
	if cs.KedaSpec != nil {
		return false
	}
	if cs.HpaSpec != nil {
		return isZero(cs.HpaSpec.MinReplicas)
	}
	for _, h := range p.HpaSpecs {
		if h.ScaleTargetRef.Name != "" && h.ScaleTargetRef.Name == cs.Metadata.Name {
			return isZero(h.MinReplicas)
		}
	}
	return false
}

func isZero(v *int32) bool { return v != nil && *v == 0 }

// ExecutorResources returns the executor container's resources:
// svcOrchSpec.resources, else the 0.x engineResources, else
// DefaultExecutorResources.
func ExecutorResources(p *sdepv1.PredictorSpec) corev1.ResourceRequirements {
	return ExecutorResourcesOr(p, DefaultExecutorResources())
}

// ExecutorResourcesOr is ExecutorResources with def (an installation's
// setting) in place of DefaultExecutorResources.
func ExecutorResourcesOr(p *sdepv1.PredictorSpec, def corev1.ResourceRequirements) corev1.ResourceRequirements {
	if p.SvcOrchSpec != nil && p.SvcOrchSpec.Resources != nil {
		return *p.SvcOrchSpec.Resources.DeepCopy()
	}
	if p.EngineResources != nil {
		return *p.EngineResources.DeepCopy()
	}
	return *def.DeepCopy()
}

// DefaultExecutorResources are requests of 0.5 cpu and 512Mi memory and a
// memory limit of 512Mi, no cpu limit, so the executor is never throttled.
// Both requests are present so cpu and memory HPAs work on its pod.
func DefaultExecutorResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
	}
}
