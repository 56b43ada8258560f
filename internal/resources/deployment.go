package resources

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// MakeDeployment builds the Deployment of componentSpecs[j] of predictor p:
// the componentSpec's pod with graph containers filled in (docs/compatibility.md#model-containers)
// and, in the componentSpec predictor.ExecutorComponent names, the
// executor container appended (docs/compatibility.md#executor-container).
func MakeDeployment(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, j int, opts Options) (*appsv1.Deployment, error) {
	opts = opts.complete()
	cs := &p.ComponentSpecs[j]
	name := naming.DeploymentName(sd, p, j)
	hostsExecutor := j == predictor.ExecutorComponent(sd, p)

	pod := cs.Spec.DeepCopy()
	nodes := graphNodes(p)
	podLabels := map[string]string{}
	for k := range pod.Containers {
		c := &pod.Containers[k]
		n, inGraph := nodes[c.Name]
		if !inGraph || c.Name == validation.ExecutorContainerName {
			continue
		}
		if err := defaultGraphContainer(sd, p, n, c, predictor.ScalesToZero(p, j)); err != nil {
			return nil, err
		}
		podLabels[ContainerServiceLabel(c.Name)] = naming.ContainerServiceName(sd, p, c.Name)
		if key, ok := nodeTypeLabels[n.Type]; ok {
			podLabels[key] = "true"
		}
	}
	// Prepackaged servers and storage initializers, before the executor
	// so it stays the last container (docs/prepackaged.md).
	if err := addModelServers(sd, p, pod, opts); err != nil {
		return nil, err
	}
	if hostsExecutor && !hasContainer(pod, validation.ExecutorContainerName) {
		executor, err := MakeExecutorContainer(sd, p, opts)
		if err != nil {
			return nil, err
		}
		pod.Containers = append(pod.Containers, executor)
		podLabels[naming.LabelSeldonApp] = naming.PredictorServiceName(sd, p)
	}
	defaultPodSpec(pod)

	// User labels first: sdep's own labels carry the selector and the
	// Service wiring, so they must win.
	podLabels = merge(p.Labels, cs.Metadata.Labels, podLabels, baseLabels(sd, p, name))
	deploymentLabels := podLabels
	if hostsExecutor {
		deploymentLabels = merge(podLabels, map[string]string{naming.LabelContainsSvcOrch: "true"})
	}
	annotations := merge(sd.Spec.Annotations, p.Annotations, cs.Metadata.Annotations)

	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(sd, name, deploymentLabels, annotations),
		Spec: appsv1.DeploymentSpec{
			Replicas: ComponentReplicaPolicy(sd, p, j).Replicas(),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(sd, name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations(annotations)},
				Spec:       *pod,
			},
			Strategy:                rollingUpdate(),
			ProgressDeadlineSeconds: copyInt32(p.ProgressDeadlineSeconds),
		},
	}, nil
}

// ExecutorDeploymentName names the Deployment that runs only the executor
// (predictor.ExecutorComponent is -1): <sdep>-<predictor>-svc-orch, hashed
// when longer than 63 characters.
func ExecutorDeploymentName(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) string {
	return naming.Fit(sd.Name + "-" + p.Name + "-svc-orch")
}

// MakeExecutorDeployment builds the Deployment <sdep>-<predictor>-svc-orch
// whose pods run the executor alone, for a predictor where
// predictor.ExecutorComponent is -1: one whose graph has only built-in nodes
// (no componentSpecs), one with seldon.io/engine-separate-pod, or one with
// a componentSpec that scales to zero. Its pods carry seldon-app, so the
// predictor Service selects them; the graph's components are reached through
// their Services. ExecutorReplicaPolicy decides its replicas; nothing
// autoscales it.
func MakeExecutorDeployment(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, opts Options) (*appsv1.Deployment, error) {
	opts = opts.complete()
	name := ExecutorDeploymentName(sd, p)
	executor, err := MakeExecutorContainer(sd, p, opts)
	if err != nil {
		return nil, err
	}
	pod := &corev1.PodSpec{Containers: []corev1.Container{executor}}
	defaultPodSpec(pod)
	podLabels := merge(p.Labels, baseLabels(sd, p, name),
		map[string]string{naming.LabelSeldonApp: naming.PredictorServiceName(sd, p)})
	annotations := merge(sd.Spec.Annotations, p.Annotations)
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(sd, name,
			merge(podLabels, map[string]string{naming.LabelContainsSvcOrch: "true"}), annotations),
		Spec: appsv1.DeploymentSpec{
			Replicas: ExecutorReplicaPolicy(sd, p).Replicas(),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(sd, name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations(annotations)},
				Spec:       *pod,
			},
			Strategy:                rollingUpdate(),
			ProgressDeadlineSeconds: copyInt32(p.ProgressDeadlineSeconds),
		},
	}, nil
}

// ReplicaPolicy says who sets a Deployment's spec.replicas. It is the one
// place that decides it: the builders write it into the Deployment, the
// operator never writes spec.replicas of an autoscaled Deployment, and the
// local runtime starts that many replicas.
type ReplicaPolicy struct {
	// AutoscaledBy is the kind that owns the count (KindHPA or
	// KindScaledObject), or "" when the document fixes it.
	AutoscaledBy string
	// Fixed is the count when nothing autoscales the Deployment: the first
	// set of the componentSpec's, the predictor's and the SeldonDeployment's
	// replicas, else 1.
	Fixed int32
	// Min and Max are the hpaSpec's bounds (Min defaults to 1, as the API
	// server's; 0 means ToZero, and the HPA itself is rendered with 1, see
	// HPAMinReplicas). A KEDA ScaledObject's bounds are KEDA's business: 0
	// and 0.
	Min, Max int32
	// ToZero is set for an hpaSpec with minReplicas 0 (predictor.ScalesToZero).
	// The HPA keeps 1..Max; the Deployment is created with no replica, and
	// a scaler outside the operator moves it 0->1 when the executor holds a
	// request for it and 1->0 after an idle window. The operator never
	// writes its count after creating it.
	ToZero bool
}

// Kinds that can own a Deployment's replicas.
const (
	KindHPA = "HorizontalPodAutoscaler"
)

// Autoscaled reports whether an autoscaler owns the count.
func (rp ReplicaPolicy) Autoscaled() bool { return rp.AutoscaledBy != "" }

// Replicas is spec.replicas of the Deployment as built: nil when
// autoscaled (the autoscaler owns the field and no write of sdep's carries
// it), 0 when it scales to zero (the count it is created with: no pod
// until its first request; see Updated), else the fixed count.
func (rp ReplicaPolicy) Replicas() *int32 {
	if rp.ToZero {
		return new(int32(0))
	}
	if rp.Autoscaled() {
		return nil
	}
	return new(rp.Fixed)
}

// Updated is spec.replicas in a write to an existing Deployment: nil
// whenever something autoscales it (the HPA, KEDA or the scale-to-zero
// scaler set it, and the operator never does), else the fixed count.
func (rp ReplicaPolicy) Updated() *int32 {
	if rp.Autoscaled() {
		return nil
	}
	return new(rp.Fixed)
}

// Initial is how many replicas a new Deployment runs before any
// autoscaler acts: the fixed count, 0 when it scales to zero, an HPA's
// minReplicas (what its first sync sets), or 1 under KEDA.
func (rp ReplicaPolicy) Initial() int32 {
	switch {
	case rp.ToZero:
		return 0
	case rp.AutoscaledBy == "":
		return rp.Fixed
	case rp.AutoscaledBy == KindHPA:
		return rp.Min
	}
	return 1
}

// ComponentReplicaPolicy decides the replicas of componentSpecs[j]'s
// Deployment: a kedaSpec or hpaSpec autoscales it (KEDA wins, as in Seldon
// Core), else the replicas fields fix it. An hpaSpec with minReplicas 0
// gives Min 0 and ToZero (the HPA is rendered with 1, see MakeHPA).
func ComponentReplicaPolicy(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, j int) ReplicaPolicy {
	cs := &p.ComponentSpecs[j]
	switch {
	case cs.KedaSpec != nil:
		return ReplicaPolicy{AutoscaledBy: KindScaledObject}
	case cs.HpaSpec != nil:
		rp := ReplicaPolicy{AutoscaledBy: KindHPA, Min: 1, Max: cs.HpaSpec.MaxReplicas}
		if cs.HpaSpec.MinReplicas != nil {
			rp.Min = *cs.HpaSpec.MinReplicas
		}
		rp.ToZero = predictor.ScalesToZero(p, j)
		return rp
	}
	return fixedReplicas(cs.Replicas, p.Replicas, sd.Spec.Replicas)
}

// ExecutorReplicaPolicy decides the replicas of the executor's own
// Deployment (<sdep>-<predictor>-svc-orch): svcOrchSpec.replicas, then the
// predictor's, then spec.replicas, else 1. No HPA is made for it.
func ExecutorReplicaPolicy(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) ReplicaPolicy {
	var own *int32
	if p.SvcOrchSpec != nil {
		own = p.SvcOrchSpec.Replicas
	}
	return fixedReplicas(own, p.Replicas, sd.Spec.Replicas)
}

func fixedReplicas(vs ...*int32) ReplicaPolicy {
	rp := ReplicaPolicy{Fixed: 1}
	if v := firstSet(vs...); v != nil {
		rp.Fixed = *v
	}
	return rp
}

// baseLabels are the labels every pod of predictor p carries.
func baseLabels(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, deployment string) map[string]string {
	l := map[string]string{
		naming.LabelSeldonID:  naming.SeldonID(sd),
		naming.LabelApp:       deployment,
		naming.LabelFluentd:   "true",
		naming.LabelManagedBy: naming.ManagedByValue,
	}
	if p.Shadow {
		l[LabelShadow] = "true"
	}
	return l
}

// podAnnotations adds the Prometheus scrape annotations unless the user set them.
func podAnnotations(annotations map[string]string) map[string]string {
	return merge(map[string]string{
		AnnotationPrometheusPath:   MetricsPath,
		AnnotationPrometheusScrape: "true",
	}, annotations)
}

// defaultPodSpec adds the pod-info volume and a termination grace period.
func defaultPodSpec(pod *corev1.PodSpec) {
	if pod.TerminationGracePeriodSeconds == nil {
		pod.TerminationGracePeriodSeconds = new(DefaultTerminationGracePeriod)
	}
	for _, v := range pod.Volumes {
		if v.Name == PodInfoVolume {
			return
		}
	}
	pod.Volumes = append(pod.Volumes, corev1.Volume{
		Name: PodInfoVolume,
		VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "annotations",
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"},
			}},
		}},
	})
}

// rollingUpdate replaces at most a tenth of the pods at a time.
func rollingUpdate() appsv1.DeploymentStrategy {
	return appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: new(intstr.FromString("10%"))},
	}
}

// TakeoverStrategy is the rollout of a Deployment sdep adopted from Seldon
// Core 1.x: no pod of the old ReplicaSet goes before its replacement is
// available (maxUnavailable 0), one or a quarter more pods at a time
// (maxSurge 25%, rounded up). Replacing the executor container rolls every
// adopted Deployment once; the strategy stays on it afterwards.
func TakeoverStrategy() appsv1.DeploymentStrategy {
	return appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: new(intstr.FromInt32(0)),
			MaxSurge:       new(intstr.FromString("25%")),
		},
	}
}

func hasContainer(pod *corev1.PodSpec, name string) bool {
	for _, c := range pod.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func firstSet(vs ...*int32) *int32 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func copyInt32(v *int32) *int32 {
	if v == nil {
		return nil
	}
	return new(*v)
}
