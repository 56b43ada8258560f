package predictor

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// ExecutorContainerName is the name of the container sdep injects to run the
// executor; no user container may take it.
const ExecutorContainerName = "seldon-container-engine"

// ExecutorComponent is the index of the componentSpec whose pods run the
// executor container: the first, as in Seldon Core. It is -1 when the
// predictor has no componentSpecs (the executor then gets a Deployment of
// its own).
func ExecutorComponent(p *sdepv1.PredictorSpec) int {
	if len(p.ComponentSpecs) == 0 {
		return -1
	}
	return 0
}

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
