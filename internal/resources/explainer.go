package resources

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// Explainer settings (docs/prepackaged.md#explainers).
const (
	// LabelExplainer marks the explainer's Deployment, pods and Service.
	LabelExplainer = "seldon.io/explainer"
	// DefaultExplainerPort is the explainer's port when
	// explainer.endpoint.service_port is not set.
	DefaultExplainerPort int32 = 9000
)

// ExplainerTypes maps an explainer type to the explainer_type MLServer's
// Alibi runtime takes (protocol v2); the seldon and tensorflow images
// take the type itself.
var ExplainerTypes = map[string]string{
	"AnchorTabular":       "anchor_tabular",
	"AnchorImages":        "anchor_image",
	"AnchorText":          "anchor_text",
	"Counterfactuals":     "counterfactuals",
	"Contrastive":         "contrastive",
	"KernelShap":          "kernel_shap",
	"IntegratedGradients": "integrated_gradients",
	"ALE":                 "ALE",
	"TreeShap":            "tree_shap",
}

// ExplainerName names predictor p's explainer Deployment and Service.
func ExplainerName(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) string {
	return naming.Fit(sd.Name + "-" + p.Name + "-explainer")
}

// MakeExplainer builds the Deployment and Service of predictor p's
// explainer, or nils when p has none (no explainer.type).
func MakeExplainer(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, opts Options) (*appsv1.Deployment, *corev1.Service, error) {
	e := p.Explainer
	if e == nil || e.Type == "" {
		return nil, nil, nil
	}
	opts = opts.complete()
	table := opts.Servers.Current()
	name := ExplainerName(sd, p)

	c := corev1.Container{}
	if e.ContainerSpec != nil {
		c = *e.ContainerSpec.DeepCopy()
	}
	if c.Name == "" {
		c.Name = name
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	protocol := sd.Spec.Protocol
	v2 := protocol == sdepv1.ProtocolV2 || protocol == sdepv1.ProtocolKFServing
	if c.Image == "" {
		c.Image = table.Explainer.Image
		if v2 {
			c.Image = table.Explainer.ImageV2
		}
	}
	port := DefaultExplainerPort
	if e.Endpoint != nil && e.Endpoint.ServicePort != 0 {
		port = e.Endpoint.ServicePort
	}
	if named := predictor.NamedPort(c.Ports, predictor.PortNameHTTP); named != 0 {
		port = named // the container's own http port, for the Service too
	} else {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: predictor.PortNameHTTP, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
	grpc := sd.Spec.Transport == sdepv1.TransportGrpc || (e.Endpoint != nil && e.Endpoint.Type == sdepv1.EndpointGRPC)
	predictorPort, scheme := opts.Predictor.ExecutorHTTPPort, "http"
	if grpc {
		predictorPort, scheme = opts.Predictor.ExecutorGRPCPort, "grpc"
	}
	endpoint := naming.PredictorServiceName(sd, p) + "." + sd.Namespace + ":" + strconv.Itoa(int(predictorPort))

	if v2 {
		tag, ok := ExplainerTypes[e.Type]
		if !ok {
			return nil, nil, fmt.Errorf("explainer.type: %s not supported", e.Type)
		}
		extra := `{"explainer_type":` + quote(tag) + `,"infer_uri":` + quote("http://"+endpoint+"/v2/models/"+p.Graph.Name+"/infer")
		if e.InitParameters != "" {
			extra += `,"init_parameters":` + e.InitParameters
		}
		extra += "}"
		c.Env = []corev1.EnvVar{
			{Name: "MLSERVER_HTTP_PORT", Value: strconv.Itoa(int(port))},
			{Name: "MLSERVER_MODEL_IMPLEMENTATION", Value: "mlserver_alibi_explain.AlibiExplainRuntime"},
			{Name: "MLSERVER_MODEL_NAME", Value: c.Name},
			{Name: "MLSERVER_MODEL_URI", Value: ModelMountPath},
			{Name: "MLSERVER_MODEL_EXTRA", Value: extra},
		}
	} else {
		proto := "seldon"
		if protocol == sdepv1.ProtocolTensorflow {
			proto = "tensorflow"
		}
		args := []string{
			"--model_name=" + p.Graph.Name,
			"--predictor_host=" + endpoint,
			"--protocol=" + proto + "." + scheme,
			"--http_port=" + strconv.Itoa(int(port)),
		}
		if e.ModelURI != "" {
			args = append(args, "--storage_uri="+ModelMountPath)
		}
		args = append(args, e.Type)
		if e.Type == "AnchorImages" {
			args = append(args, "--tf_data_type=float32")
		}
		for _, k := range slices.Sorted(maps.Keys(e.Config)) {
			v := e.Config[k]
			if e.ModelURI != "" {
				v = strings.Replace(v, e.ModelURI, ModelMountPath, 1)
			}
			args = append(args, "--"+k+"="+v)
		}
		c.Args = args
	}
	tcp := func(initialDelay, failure int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(predictor.PortNameHTTP)}},
			InitialDelaySeconds: initialDelay, PeriodSeconds: 5, TimeoutSeconds: 1,
			SuccessThreshold: 1, FailureThreshold: failure,
		}
	}
	if c.LivenessProbe == nil {
		c.LivenessProbe = tcp(60, 5)
	}
	if c.ReadinessProbe == nil {
		c.ReadinessProbe = tcp(20, 7)
	}
	if c.Lifecycle == nil {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "/bin/sleep 10"}},
		}}
	}
	if !hasVolumeMount(&c, PodInfoVolume) {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: PodInfoVolume, MountPath: PodInfoMountPath})
	}
	defaultCPURequest(&c)

	pod := &corev1.PodSpec{Containers: []corev1.Container{c}, ServiceAccountName: e.ServiceAccountName}
	if e.ModelURI != "" {
		injectStorageInitializer(pod, c.Name, modelSource{
			uri: e.ModelURI, image: e.StorageInitializerImage, secret: envSecret(e.EnvSecretRefName, opts),
		}, table.StorageInitializer, opts)
	}
	defaultPodSpec(pod)

	labels := merge(p.Labels, baseLabels(sd, p, name), map[string]string{
		naming.LabelSeldonApp: name,
		LabelExplainer:        "true",
	})
	annotations := merge(sd.Spec.Annotations, p.Annotations)
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(sd, name, labels, annotations),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(ExplainerReplicas(sd, p)),
			// sdep's own stable selector: upstream's selects every pod of
			// the SeldonDeployment, model pods included.
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(sd, name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       *pod,
			},
			Strategy:                rollingUpdate(),
			ProgressDeadlineSeconds: copyInt32(p.ProgressDeadlineSeconds),
		},
	}
	svcLabels := map[string]string{
		naming.LabelSeldonID:  naming.SeldonID(sd),
		naming.LabelSeldonApp: naming.PredictorServiceName(sd, p),
		naming.LabelManagedBy: naming.ManagedByValue,
		LabelExplainer:        "true",
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(sd, name, svcLabels, merge(p.Annotations)),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{naming.LabelSeldonApp: name},
			Ports: []corev1.ServicePort{{Name: predictor.PortNameHTTP, Port: port,
				TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}},
		},
	}
	if headless(sd) {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return d, svc, nil
}

// ExplainerReplicas is the explainer Deployment's replicas: 0 when the
// predictor runs none (its replicas, else spec.replicas, is 0), else
// explainer.replicas, else 1.
func ExplainerReplicas(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec) int32 {
	if r := firstSet(p.Replicas, sd.Spec.Replicas); r != nil && *r == 0 {
		return 0
	}
	if p.Explainer.Replicas != nil {
		return *p.Explainer.Replicas
	}
	return 1
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
