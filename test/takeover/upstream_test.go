package takeover

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// The names the 1.18 operator gives the children of SeldonDeployment
// seldon-model, predictor example, container classifier (the reference's
// autoscaling example): written out here, not derived with sdep's naming,
// so that a change of sdep's rules shows as a failed takeover.
const (
	sdName           = "seldon-model"
	upstreamDep      = "seldon-model-example-0-classifier"
	upstreamPredSvc  = "seldon-model-example"
	upstreamModelSvc = "seldon-model-example-classifier"
	upstreamExecutor = "seldonio/seldon-core-executor:1.18.2"
)

// seldonModel is the SeldonDeployment: one mock classifier with an
// hpaSpec of 1 to maxReplicas at 50% CPU and a pdbSpec of maxUnavailable 1.
func seldonModel(ns string, maxReplicas int32) *sdepv1.SeldonDeployment {
	return &sdepv1.SeldonDeployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sdName},
		Spec: sdepv1.SeldonDeploymentSpec{Predictors: []sdepv1.PredictorSpec{{
			Name: "example",
			ComponentSpecs: []sdepv1.SeldonPodSpec{{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "classifier",
					Image: "seldonio/mock_classifier:1.18.2",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("500m"),
					}},
				}}},
				PdbSpec: &sdepv1.SeldonPdbSpec{MaxUnavailable: new(intstr.FromInt32(1))},
				HpaSpec: &sdepv1.SeldonHpaSpec{
					MinReplicas: new(int32(1)),
					MaxReplicas: maxReplicas,
					MetricsV2: []autoscalingv2.MetricSpec{{
						Type: autoscalingv2.ResourceMetricSourceType,
						Resource: &autoscalingv2.ResourceMetricSource{
							Name:   corev1.ResourceCPU,
							Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))},
						},
					}},
				},
			}},
			Graph: sdepv1.PredictiveUnit{Name: "classifier", Type: sdepv1.Model},
		}}},
	}
}

// upstreamChildren are the Deployment, Services, HPA and PDB as the Seldon
// Core 1.18 operator leaves them for sd, as its documented behaviour
// describes them: its labels and selector, its executor container,
// maxUnavailable 10%, and the replicas its HPA chose.
func upstreamChildren(t *testing.T, sd *sdepv1.SeldonDeployment, replicas int32) []client.Object {
	t.Helper()
	ns := sd.Namespace
	owner := []metav1.OwnerReference{{
		APIVersion: "machinelearning.seldon.io/v1", Kind: "SeldonDeployment", Name: sd.Name, UID: sd.UID,
		Controller: new(true), BlockOwnerDeletion: new(true),
	}}
	meta := func(name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, OwnerReferences: owner}
	}
	selector := map[string]string{
		"seldon-deployment-id":      sdName,
		"seldon-app-svc-classifier": upstreamModelSvc,
		"seldon-app":                upstreamPredSvc,
	}
	podLabels := map[string]string{
		"app":                          upstreamDep,
		"fluentd":                      "true",
		"version":                      "example",
		"seldon.io/model":              "true",
		"app.kubernetes.io/managed-by": "seldon-core",
	}
	for k, v := range selector {
		podLabels[k] = v
	}
	depLabels := map[string]string{"seldon-deployment-contains-svcorch": "true"}
	for k, v := range podLabels {
		depLabels[k] = v
	}

	p := sd.Spec.Predictors[0].DeepCopy()
	p.Replicas = new(int32(0))
	engine, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	podInfo := corev1.VolumeMount{Name: "seldon-podinfo", MountPath: "/etc/podinfo"}
	tcp := func(port string, delay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(port)}},
			InitialDelaySeconds: delay, PeriodSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3, TimeoutSeconds: 1,
		}
	}
	httpGet := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(8000), Scheme: corev1.URISchemeHTTP}},
			InitialDelaySeconds: 20, PeriodSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3, TimeoutSeconds: 60,
		}
	}
	executorResources := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}
	classifier := sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].DeepCopy()
	classifier.Ports = []corev1.ContainerPort{
		{Name: "http", ContainerPort: 9000, Protocol: corev1.ProtocolTCP},
		{Name: "grpc", ContainerPort: 9500, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: 6000, Protocol: corev1.ProtocolTCP},
	}
	classifier.Env = []corev1.EnvVar{
		{Name: "PREDICTIVE_UNIT_SERVICE_PORT", Value: "9000"},
		{Name: "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", Value: "9000"},
		{Name: "MLSERVER_HTTP_PORT", Value: "9000"},
		{Name: "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", Value: "9500"},
		{Name: "MLSERVER_GRPC_PORT", Value: "9500"},
		{Name: "PREDICTIVE_UNIT_ID", Value: "classifier"},
		{Name: "MLSERVER_MODEL_NAME", Value: "classifier"},
		{Name: "PREDICTIVE_UNIT_IMAGE", Value: classifier.Image},
		{Name: "PREDICTOR_ID", Value: "example"},
		{Name: "PREDICTOR_LABELS", Value: `{"version":"example"}`},
		{Name: "SELDON_DEPLOYMENT_ID", Value: sdName},
		{Name: "SELDON_EXECUTOR_ENABLED", Value: "true"},
		{Name: "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", Value: "6000"},
		{Name: "PREDICTIVE_UNIT_METRICS_ENDPOINT", Value: "/prometheus"},
	}
	classifier.ImagePullPolicy = corev1.PullIfNotPresent
	classifier.LivenessProbe, classifier.ReadinessProbe = tcp("http", 60), tcp("http", 20)
	classifier.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "/bin/sleep 10"}}}}
	classifier.VolumeMounts = []corev1.VolumeMount{podInfo}

	executor := corev1.Container{
		Name:  "seldon-container-engine",
		Image: upstreamExecutor,
		Args: []string{"--sdep", sdName, "--namespace", ns, "--predictor", "example", "--http_port", "8000",
			"--grpc_port", "5001", "--protocol", "seldon", "--transport", "rest", "--prometheus_path", "/prometheus",
			"--server_type", "rpc", "--log_work_buffer_size", "10000", "--log_write_timeout_ms", "2000", "--full_health_checks=false"},
		Env: []corev1.EnvVar{
			{Name: "ENGINE_PREDICTOR", Value: base64.StdEncoding.EncodeToString(engine)},
			{Name: "REQUEST_LOGGER_DEFAULT_ENDPOINT", Value: "http://default-broker"},
		},
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP},
			{Name: "grpc", ContainerPort: 5001, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe:  httpGet("/ready"),
		LivenessProbe:   httpGet("/live"),
		Resources:       corev1.ResourceRequirements{Requests: executorResources, Limits: executorResources},
		SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64(8888)), AllowPrivilegeEscalation: new(false)},
		VolumeMounts:    []corev1.VolumeMount{podInfo},
		ImagePullPolicy: corev1.PullIfNotPresent,
	}

	deployment := &appsv1.Deployment{
		ObjectMeta: meta(upstreamDep, depLabels),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: new(intstr.FromString("10%"))},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{"prometheus.io/path": "/prometheus", "prometheus.io/scrape": "true"},
				},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{*classifier, executor},
					TerminationGracePeriodSeconds: new(int64(20)),
					SecurityContext:               &corev1.PodSecurityContext{RunAsUser: new(int64(8888))},
					Volumes: []corev1.Volume{{
						Name: "seldon-podinfo",
						VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
							Items: []corev1.DownwardAPIVolumeFile{{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}}},
						}},
					}},
				},
			},
		},
	}
	svcPorts := func(httpPort, grpcPort int32) []corev1.ServicePort {
		return []corev1.ServicePort{
			{Name: "http", Port: httpPort, TargetPort: intstr.FromInt32(httpPort), Protocol: corev1.ProtocolTCP},
			{Name: "grpc", Port: grpcPort, TargetPort: intstr.FromInt32(grpcPort), Protocol: corev1.ProtocolTCP},
		}
	}
	predictorSvc := &corev1.Service{
		ObjectMeta: meta(upstreamPredSvc, map[string]string{
			"seldon-app": upstreamPredSvc, "seldon-deployment-id": sdName, "app.kubernetes.io/managed-by": "seldon-core",
		}),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"seldon-app": upstreamPredSvc}, Ports: svcPorts(8000, 5001),
			Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	modelSvc := &corev1.Service{
		ObjectMeta: meta(upstreamModelSvc, map[string]string{
			"seldon-app-svc-classifier": upstreamModelSvc, "seldon-deployment-id": sdName, "seldon-app": upstreamPredSvc,
			"seldon.io/model": "true", "app.kubernetes.io/managed-by": "seldon-core",
		}),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"seldon-app-svc-classifier": upstreamModelSvc}, Ports: svcPorts(9000, 9500),
			Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: meta(upstreamDep, map[string]string{"seldon-deployment-id": sdName}),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: upstreamDep},
			MinReplicas:    new(int32(1)),
			MaxReplicas:    sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MaxReplicas,
			Metrics:        sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MetricsV2,
		},
	}
	// Upstream's budget selects every pod of the SeldonDeployment.
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: meta(upstreamDep, map[string]string{"seldon-deployment-id": sdName}),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: new(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"seldon-deployment-id": sdName}},
		},
	}
	return []client.Object{predictorSvc, modelSvc, hpa, pdb, deployment}
}
