package resources

import (
	"encoding/json"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/servers"
)

// Prepackaged-server layout (docs/prepackaged.md).
const (
	// ModelMountPath is where the storage initializer puts the model and
	// where the server reads it.
	ModelMountPath = "/mnt/models"
	// TFServingContainerName is the TF Serving sidecar of the TF proxy.
	TFServingContainerName = "tfserving"
	// TF Serving's ports in the proxy layout (fixed, as upstream).
	TFServingGRPCPort int32 = 2000
	TFServingRESTPort int32 = 2001
	// AnnotationNoStorageInitializer (spec.annotations, Triton only) lets
	// Triton read modelUri itself.
	AnnotationNoStorageInitializer = "seldon.io/no-storage-initializer"
)

// DefaultServerCPURequest is the cpu request a prepackaged server
// container (and the TF Serving sidecar) gets when it names none, so a
// cpu HPA can compute the pod's utilization.
var DefaultServerCPURequest = resource.MustParse("100m")

// mlserverImplementations are MLSERVER_MODEL_IMPLEMENTATION per server;
// a server name of the installation's own gets "".
var mlserverImplementations = map[sdepv1.PredictiveUnitImplementation]string{
	sdepv1.SKLearnServer:     "mlserver_sklearn.SKLearnModel",
	sdepv1.XGBoostServer:     "mlserver_xgboost.XGBoostModel",
	sdepv1.MLFlowServer:      "mlserver_mlflow.MLflowRuntime",
	sdepv1.HuggingFaceServer: "mlserver_huggingface.HuggingFaceRuntime",
	sdepv1.TempoServer:       "tempo.mlserver.InferenceRuntime",
}

// addModelServers lays out, in pod (componentSpec j's, its graph
// containers already defaulted), the prepackaged servers whose containers
// it holds and the storage initializer of every node of the pod with a
// modelUri, in graph order, as Seldon Core does after defaulting
// (docs/prepackaged.md).
func addModelServers(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, pod *corev1.PodSpec, opts Options) error {
	table := opts.Servers.Current()
	var err error
	predictor.Walk(&p.Graph, "", func(_ string, n *sdepv1.PredictiveUnit) {
		if err != nil {
			return
		}
		k := containerIndex(pod, n.Name)
		if k < 0 || n.Name == predictor.ExecutorContainerName {
			return
		}
		if !predictor.IsPrepackaged(n.Implementation) {
			if n.ModelURI != "" {
				injectStorageInitializer(pod, n.Name, modelSource{
					uri: n.ModelURI, image: n.StorageInitializerImage, secret: envSecret(n.EnvSecretRefName, opts),
				}, table.StorageInitializer, opts)
			}
			return
		}
		if n.ServiceAccountName != "" {
			pod.ServiceAccountName = n.ServiceAccountName
		}
		err = layOutServer(sd, pod, k, n, table, opts)
	})
	return err
}

func layOutServer(sd *sdepv1.SeldonDeployment, pod *corev1.PodSpec, k int, n *sdepv1.PredictiveUnit, table *servers.Config, opts Options) error {
	c := &pod.Containers[k]
	entry, _ := table.Lookup(string(n.Implementation)) // Validate refused a missing entry
	protocol := string(sd.Spec.Protocol)
	setImage := func(img string) {
		if c.Image == "" {
			c.Image = img
			setEnv(c, "PREDICTIVE_UNIT_IMAGE", img)
		}
	}
	defaultCPURequest(c)
	target := n.Name
	src := modelSource{uri: n.ModelURI, image: n.StorageInitializerImage, secret: envSecret(n.EnvSecretRefName, opts)}
	v2 := protocol == string(sdepv1.ProtocolV2) || protocol == string(sdepv1.ProtocolKFServing)

	switch {
	case n.Implementation == sdepv1.TensorflowServer && protocol == string(sdepv1.ProtocolTensorflow):
		setImage(entry.Image(servers.ProtocolTensorflow))
		if len(c.Args) == 0 {
			c.Args = tfServingArgs(predictor.NamedPort(c.Ports, predictor.PortNameGRPC),
				predictor.NamedPort(c.Ports, predictor.PortNameHTTP), n.Name)
		}
	case n.Implementation == sdepv1.TensorflowServer:
		setImage(entry.Image(protocol))
		params := append([]sdepv1.Parameter(nil), n.Parameters...)
		if !hasParameter(params, "rest_endpoint") && !hasParameter(params, "grpc_endpoint") {
			params = append(params,
				sdepv1.Parameter{Name: "rest_endpoint", Value: "http://0.0.0.0:" + strconv.Itoa(int(TFServingRESTPort)), Type: sdepv1.ParameterString},
				sdepv1.Parameter{Name: "grpc_endpoint", Value: "0.0.0.0:" + strconv.Itoa(int(TFServingGRPCPort)), Type: sdepv1.ParameterString})
		}
		params = append(params, sdepv1.Parameter{Name: "model_name", Value: n.Name, Type: sdepv1.ParameterString})
		if err := setParameters(c, params); err != nil {
			return err
		}
		addTFServingSidecar(pod, n.Name, entry.Image(servers.ProtocolTensorflow))
		target = TFServingContainerName
	case n.Implementation == sdepv1.TritonServer:
		setImage(entry.Image(protocol))
		noInit := strings.EqualFold(sd.Spec.Annotations[AnnotationNoStorageInitializer], "true")
		if len(c.Args) == 0 {
			c.Args = tritonArgs(c, n, noInit)
		}
		c.Ports = v2Ports(c)
		if noInit {
			if len(c.EnvFrom) == 0 && src.secret != "" {
				c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: src.secret}}}}
			}
			return nil
		}
	case v2:
		setImage(entry.Image(protocol))
		mlserver(sd, c, n)
	default:
		setImage(entry.Image(protocol))
		params := append(append([]sdepv1.Parameter(nil), n.Parameters...),
			sdepv1.Parameter{Name: "model_uri", Value: ModelMountPath, Type: sdepv1.ParameterString})
		if err := setParameters(c, params); err != nil {
			return err
		}
	}
	if n.ModelURI != "" {
		injectStorageInitializer(pod, target, src, table.StorageInitializer, opts)
	}
	return nil
}

func tfServingArgs(grpcPort, restPort int32, model string) []string {
	return []string{
		"--port=" + strconv.Itoa(int(grpcPort)),
		"--rest_api_port=" + strconv.Itoa(int(restPort)),
		"--model_name=" + model,
		"--model_base_path=" + ModelMountPath,
	}
}

// addTFServingSidecar appends the TF Serving container the proxy talks to,
// unless the pod has one (then only its empty image, args and ports are
// filled). Two TF proxies in one pod share it, as upstream.
func addTFServingSidecar(pod *corev1.PodSpec, model, image string) {
	if k := containerIndex(pod, TFServingContainerName); k >= 0 {
		c := &pod.Containers[k]
		if c.Image == "" {
			c.Image = image
		}
		if len(c.Args) == 0 {
			c.Args = tfServingArgs(TFServingGRPCPort, TFServingRESTPort, model)
		}
		if len(c.Ports) == 0 {
			c.Ports = tfServingPorts()
		}
		defaultCPURequest(c)
		return
	}
	c := corev1.Container{
		Name:                     TFServingContainerName,
		Image:                    image,
		Args:                     tfServingArgs(TFServingGRPCPort, TFServingRESTPort, model),
		Ports:                    tfServingPorts(),
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	// Upstream gives the sidecar no resources, which breaks cpu HPAs on the
	// pod (its #1676); sdep gives it the server's default cpu request.
	defaultCPURequest(&c)
	pod.Containers = append(pod.Containers, c)
}

func tfServingPorts() []corev1.ContainerPort {
	return []corev1.ContainerPort{
		{ContainerPort: TFServingGRPCPort, Protocol: corev1.ProtocolTCP},
		{ContainerPort: TFServingRESTPort, Protocol: corev1.ProtocolTCP},
	}
}

func tritonArgs(c *corev1.Container, n *sdepv1.PredictiveUnit, noInit bool) []string {
	args := []string{
		"/opt/tritonserver/bin/tritonserver",
		"--grpc-port=" + strconv.Itoa(int(predictor.NamedPort(c.Ports, predictor.PortNameGRPC))),
		"--http-port=" + strconv.Itoa(int(predictor.NamedPort(c.Ports, predictor.PortNameHTTP))),
	}
	if !noInit {
		return append(args, "--model-repository="+ModelMountPath, "--strict-model-config=false")
	}
	args = append(args, "--model-repository="+n.ModelURI)
	for _, prm := range n.Parameters {
		switch strings.ToLower(prm.Name) {
		case "model_control_mode":
			args = append(args, "--model-control-mode="+prm.Value)
		case "load_model":
			args = append(args, "--load-model="+prm.Value)
		case "strict_model_config":
			args = append(args, "--strict-model-config="+prm.Value)
		}
	}
	return args
}

// v2Ports are the ports of an MLServer or Triton container: grpc and
// http only, as upstream (the metrics port is not declared; MLServer
// still serves metrics on MLSERVER_METRICS_PORT).
func v2Ports(c *corev1.Container) []corev1.ContainerPort {
	return []corev1.ContainerPort{
		{Name: predictor.PortNameGRPC, ContainerPort: predictor.NamedPort(c.Ports, predictor.PortNameGRPC), Protocol: corev1.ProtocolTCP},
		{Name: predictor.PortNameHTTP, ContainerPort: predictor.NamedPort(c.Ports, predictor.PortNameHTTP), Protocol: corev1.ProtocolTCP},
	}
}

// mlserver turns c into an MLServer container: its environment merged
// under MLServer's (a value the container has wins and keeps its place),
// ports grpc and http, and HTTP probes on the V2 health endpoints with the
// timings the container's probes had.
func mlserver(sd *sdepv1.SeldonDeployment, c *corev1.Container, n *sdepv1.PredictiveUnit) {
	httpPort := predictor.NamedPort(c.Ports, predictor.PortNameHTTP)
	grpcPort := predictor.NamedPort(c.Ports, predictor.PortNameGRPC)
	proto := []corev1.EnvVar{
		{Name: "MLSERVER_HTTP_PORT", Value: strconv.Itoa(int(httpPort))},
		{Name: "MLSERVER_GRPC_PORT", Value: strconv.Itoa(int(grpcPort))},
		{Name: "MLSERVER_MODEL_IMPLEMENTATION", Value: mlserverImplementations[n.Implementation]},
		{Name: "MLSERVER_MODEL_NAME", Value: n.Name},
		{Name: "MLSERVER_MODEL_VERSION", Value: "v1"},
		{Name: "MLSERVER_MODEL_URI", Value: ModelMountPath},
		{Name: "TEMPO_RUNTIME_OPTIONS", Value: `{"k8s_options": {"defaultRuntime": "tempo.seldon.SeldonKubernetesRuntime", "namespace": "` + sd.Namespace + `"}}`},
	}
	if n.Implementation == sdepv1.HuggingFaceServer {
		proto = append(proto,
			corev1.EnvVar{Name: "MLSERVER_PARALLEL_WORKERS", Value: "0"},
			corev1.EnvVar{Name: "XDG_CACHE_HOME", Value: "/opt/mlserver"})
	}
	existing := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		existing[e.Name] = e
	}
	env := make([]corev1.EnvVar, 0, len(proto)+len(c.Env))
	inProto := map[string]bool{}
	for _, e := range proto {
		if have, ok := existing[e.Name]; ok {
			e = have
		}
		inProto[e.Name] = true
		env = append(env, e)
	}
	for _, e := range c.Env {
		if !inProto[e.Name] {
			env = append(env, e)
		}
	}
	c.Env = env
	c.Ports = v2Ports(c)
	httpGet := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString(predictor.PortNameHTTP), Scheme: corev1.URISchemeHTTP}}
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.TCPSocket != nil {
		c.ReadinessProbe.ProbeHandler = httpGet("/v2/health/ready")
	}
	if c.LivenessProbe != nil && c.LivenessProbe.TCPSocket != nil {
		c.LivenessProbe.ProbeHandler = httpGet("/v2/health/live")
	}
}

// setParameters replaces PREDICTIVE_UNIT_PARAMETERS with params.
func setParameters(c *corev1.Container, params []sdepv1.Parameter) error {
	data, err := json.Marshal(params)
	if err != nil {
		return err
	}
	setEnv(c, "PREDICTIVE_UNIT_PARAMETERS", string(data))
	return nil
}

// setEnv sets name to value, in place if c has it, else appended.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func hasParameter(params []sdepv1.Parameter, name string) bool {
	for _, p := range params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// defaultCPURequest gives c DefaultServerCPURequest unless it requests cpu.
func defaultCPURequest(c *corev1.Container) {
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		return
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	// A cpu limit alone makes the API server default the request to it.
	if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		c.Resources.Requests[corev1.ResourceCPU] = lim.DeepCopy()
		return
	}
	c.Resources.Requests[corev1.ResourceCPU] = DefaultServerCPURequest.DeepCopy()
}

func containerIndex(pod *corev1.PodSpec, name string) int {
	for k := range pod.Containers {
		if pod.Containers[k].Name == name {
			return k
		}
	}
	return -1
}
