package resources

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// Executor and pod settings shared by every runtime.
const (
	// EnvEnginePredictor carries the executor's predictor: base64 of its JSON.
	EnvEnginePredictor = "ENGINE_PREDICTOR"
	// MetricsPath is where the executor and graph containers serve Prometheus metrics.
	MetricsPath = "/prometheus"
	// PodInfoVolume is the downward-API volume that exposes a pod's
	// annotations (seldon.io/rest-timeout, ...) at PodInfoMountPath.
	PodInfoVolume    = "seldon-podinfo"
	PodInfoMountPath = "/etc/podinfo"
	// DefaultTerminationGracePeriod applies when a componentSpec sets none.
	DefaultTerminationGracePeriod int64 = 20
	// EnvLoggerDefaultEndpoint tells the executor where nodes whose
	// graph.logger has no url send payload-log events.
	EnvLoggerDefaultEndpoint = "REQUEST_LOGGER_DEFAULT_ENDPOINT"
	// DefaultLoggerEndpoint is upstream's default for it.
	DefaultLoggerEndpoint = "http://default-broker"
	// engineAnnotationPrefix marks spec.annotations that become executor
	// environment variables (seldon.io/engine-log-level -> LOG_LEVEL).
	engineAnnotationPrefix = "seldon.io/engine-"
)

// MakeExecutorContainer builds the seldon-container-engine container that
// runs `sdep executor` for predictor p.
func MakeExecutorContainer(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, opts Options) (corev1.Container, error) {
	opts = opts.complete()
	engine, err := EnginePredictor(p)
	if err != nil {
		return corev1.Container{}, err
	}
	httpPort, grpcPort := opts.Predictor.ExecutorHTTPPort, opts.Predictor.ExecutorGRPCPort
	protocol := sd.Spec.Protocol
	if protocol == "" {
		protocol = sdepv1.ProtocolSeldon
	}
	transport := sd.Spec.Transport
	if transport == "" {
		transport = sdepv1.TransportRest
	}
	env := []corev1.EnvVar{{Name: EnvEnginePredictor, Value: engine}}
	if p.SvcOrchSpec != nil {
		env = appendMissingEnv(env, p.SvcOrchSpec.Env...)
	}
	if graphLogs(&p.Graph) {
		// Only graphs that log read it (upstream sets it on every
		// executor); svcOrchSpec.env may set it too, and wins.
		env = appendMissingEnv(env, corev1.EnvVar{Name: EnvLoggerDefaultEndpoint, Value: opts.LoggerDefaultEndpoint})
	}
	env = appendMissingEnv(env, engineAnnotationEnv(sd.Spec.Annotations)...)
	// A GOMEMLIMIT the user set in svcOrchSpec.env comes first and wins.
	env = appendMissingEnv(env, goMemLimitEnv())
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(httpPort), Scheme: corev1.URISchemeHTTP,
			}},
			InitialDelaySeconds: 20, PeriodSeconds: 5, TimeoutSeconds: 60,
			SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	return corev1.Container{
		Name:            validation.ExecutorContainerName,
		Image:           opts.ExecutorImage,
		ImagePullPolicy: opts.ExecutorPullPolicy,
		Command:         []string{"sdep", "executor"},
		Args: []string{
			"--sdep=" + sd.Name,
			"--namespace=" + sd.Namespace,
			"--predictor=" + p.Name,
			"--http-port=" + strconv.Itoa(int(httpPort)),
			"--grpc-port=" + strconv.Itoa(int(grpcPort)),
			"--metrics-path=" + MetricsPath,
			"--protocol=" + string(protocol),
			"--transport=" + string(transport),
		},
		// Upstream also declared a port "metrics" on the http port. The same
		// containerPort twice is a duplicate the API server warns about and
		// server-side apply rejects (container ports are a map keyed by
		// containerPort and protocol), so metrics are served on "http" at
		// MetricsPath, which the pod's prometheus.io annotations point at.
		Ports: []corev1.ContainerPort{
			{Name: predictor.PortNameHTTP, ContainerPort: httpPort, Protocol: corev1.ProtocolTCP},
			{Name: predictor.PortNameGRPC, ContainerPort: grpcPort, Protocol: corev1.ProtocolTCP},
		},
		Env:             env,
		Resources:       predictor.ExecutorResourcesOr(p, *opts.ExecutorResources),
		ReadinessProbe:  probe("/ready"),
		LivenessProbe:   probe("/live"),
		VolumeMounts:    []corev1.VolumeMount{{Name: PodInfoVolume, MountPath: PodInfoMountPath}},
		SecurityContext: executorSecurityContext(),
	}, nil
}

// EnvGoMemLimit is the Go runtime's soft memory limit.
const EnvGoMemLimit = "GOMEMLIMIT"

// goMemLimitEnv sets the executor's GOMEMLIMIT to its container's memory
// limit (512Mi unless svcOrchSpec.resources changes it), so the garbage
// collector works harder before the kernel kills the container. The
// downward API gives the limit as a plain number of bytes, and Go reads a
// GOMEMLIMIT without a unit suffix as bytes. A container without a memory
// limit gets the node's allocatable memory instead, which is acceptable: the
// runtime then only tightens up close to what the node has.
func goMemLimitEnv() corev1.EnvVar {
	return corev1.EnvVar{Name: EnvGoMemLimit, ValueFrom: &corev1.EnvVarSource{
		ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: validation.ExecutorContainerName,
			Resource:      "limits.memory",
			Divisor:       resource.MustParse("1"),
		},
	}}
}

// ExecutorUID is the user the executor container runs as.
const ExecutorUID int64 = 8888

// executorSecurityContext is the executor container's securityContext: it
// meets the Pod Security "restricted" profile on its own, whatever the pod
// sets (non-root user, no privilege escalation, every capability dropped,
// the runtime's default seccomp profile), and mounts the root filesystem
// read-only: the executor writes no files (it keeps no temporary files, logs
// go to stdout). svcOrchSpec has no securityContext field, so it cannot be
// overridden per deployment.
func executorSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                new(ExecutorUID),
		RunAsNonRoot:             new(true),
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// EnginePredictor returns the value of the executor's ENGINE_PREDICTOR:
// base64 of the JSON of p without the fields that say how many pods run or
// how traffic reaches them (replicas at every level, hpaSpec, hpaSpecs,
// kedaSpec, pdbSpec, traffic) and without the explainer. The executor never
// needs them, and leaving them out means editing them never changes the pod
// template, so the Deployment never rolls its pods for an autoscaling change.
// One fact stays: a componentSpec that scales to zero (predictor.ScalesToZero)
// keeps an hpaSpec of only `minReplicas: 0`, for the executor holds requests
// for such a component while it has no replica. Its other hpaSpec fields
// are left out as for any other.
func EnginePredictor(p *sdepv1.PredictorSpec) (string, error) {
	data, err := json.Marshal(enginePredictorSpec(p))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(data), nil
}

func enginePredictorSpec(p *sdepv1.PredictorSpec) *sdepv1.PredictorSpec {
	e := p.DeepCopy()
	e.Replicas = nil
	e.Traffic = 0
	e.Explainer = nil
	e.HpaSpecs = nil
	if e.SvcOrchSpec != nil {
		e.SvcOrchSpec.Replicas = nil
		// An svcOrchSpec left empty must vanish, or adding svcOrchSpec.replicas
		// would add "svcOrchSpec":{} to the JSON.
		if e.SvcOrchSpec.Resources == nil && len(e.SvcOrchSpec.Env) == 0 {
			e.SvcOrchSpec = nil
		}
	}
	for j := range e.ComponentSpecs {
		cs := &e.ComponentSpecs[j]
		cs.HpaSpec = nil
		if predictor.ScalesToZero(p, j) {
			cs.HpaSpec = &sdepv1.SeldonHpaSpec{MinReplicas: new(int32(0))}
		}
		cs.KedaSpec = nil
		cs.PdbSpec = nil
		cs.Replicas = nil
	}
	return e
}

// defaultGraphContainer fills in, in place, what a container running graph
// node n needs and the user left out (docs/compatibility.md#model-containers): pull policy, the
// pod-info mount, the PREDICTIVE_UNIT_* / MLSERVER_* environment, TCP
// probes on its serving port and a preStop pause. Its ports were assigned
// by validation.Default.
func defaultGraphContainer(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, n *sdepv1.PredictiveUnit, c *corev1.Container, toZero bool) error {
	httpPort := predictor.NamedPort(c.Ports, predictor.PortNameHTTP)
	grpcPort := predictor.NamedPort(c.Ports, predictor.PortNameGRPC)
	metricsPort := predictor.NamedPort(c.Ports, predictor.PortNameMetrics)
	grpc := sd.Spec.Transport == sdepv1.TransportGrpc || (n.Endpoint != nil && n.Endpoint.Type == sdepv1.EndpointGRPC)
	servicePort, servicePortName := httpPort, predictor.PortNameHTTP
	if grpc {
		servicePort, servicePortName = grpcPort, predictor.PortNameGRPC
	}

	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if !hasVolumeMount(c, PodInfoVolume) {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: PodInfoVolume, MountPath: PodInfoMountPath})
	}

	labels, err := json.Marshal(p.Labels) // map keys are sorted: deterministic
	if err != nil {
		return err
	}
	port := func(v int32) string { return strconv.Itoa(int(v)) }
	env := []corev1.EnvVar{
		{Name: "PREDICTIVE_UNIT_SERVICE_PORT", Value: port(servicePort)},
		{Name: "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", Value: port(httpPort)},
		{Name: "MLSERVER_HTTP_PORT", Value: port(httpPort)},
		{Name: "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", Value: port(grpcPort)},
		{Name: "MLSERVER_GRPC_PORT", Value: port(grpcPort)},
	}
	if len(n.Parameters) > 0 {
		params, err := json.Marshal(n.Parameters)
		if err != nil {
			return err
		}
		env = append(env, corev1.EnvVar{Name: "PREDICTIVE_UNIT_PARAMETERS", Value: string(params)})
	}
	if n.ModelURI != "" {
		env = append(env, corev1.EnvVar{Name: "MLSERVER_MODEL_URI", Value: "/mnt/models"})
	}
	env = append(env,
		corev1.EnvVar{Name: "PREDICTIVE_UNIT_ID", Value: c.Name},
		corev1.EnvVar{Name: "MLSERVER_MODEL_NAME", Value: c.Name},
		corev1.EnvVar{Name: "PREDICTIVE_UNIT_IMAGE", Value: c.Image},
		corev1.EnvVar{Name: "PREDICTOR_ID", Value: p.Name},
		corev1.EnvVar{Name: "PREDICTOR_LABELS", Value: string(labels)},
		corev1.EnvVar{Name: "SELDON_DEPLOYMENT_ID", Value: sd.Name},
		corev1.EnvVar{Name: "SELDON_EXECUTOR_ENABLED", Value: "true"},
		corev1.EnvVar{Name: "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", Value: port(metricsPort)},
		corev1.EnvVar{Name: "MLSERVER_METRICS_PORT", Value: port(metricsPort)},
		corev1.EnvVar{Name: "PREDICTIVE_UNIT_METRICS_ENDPOINT", Value: MetricsPath},
		corev1.EnvVar{Name: "MLSERVER_METRICS_ENDPOINT", Value: MetricsPath},
	)
	c.Env = appendMissingEnv(c.Env, env...)

	tcpProbe := func(initialDelay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(servicePortName)}},
			InitialDelaySeconds: initialDelay, PeriodSeconds: 5, TimeoutSeconds: 1,
			SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	if c.LivenessProbe == nil {
		c.LivenessProbe = tcpProbe(60)
	}
	if c.ReadinessProbe == nil {
		c.ReadinessProbe = tcpProbe(20)
		if toZero {
			// A component that scales to zero is woken by a request that
			// waits for this probe: upstream's 20 s initial delay would be
			// most of every cold start (22 s on the real node, 1.8 s with
			// this probe). Probe from the start, every second.
			c.ReadinessProbe.InitialDelaySeconds, c.ReadinessProbe.PeriodSeconds = 0, 1
		}
	}
	if c.Lifecycle == nil {
		// Give the executor and Services time to stop sending requests
		// before the container is told to stop.
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "/bin/sleep 10"}},
		}}
	}
	return nil
}

// appendMissingEnv appends each variable whose name env does not have yet.
// Duplicate names would break server-side apply, which keys env by name.
func appendMissingEnv(env []corev1.EnvVar, add ...corev1.EnvVar) []corev1.EnvVar {
	have := map[string]bool{}
	for _, e := range env {
		have[e.Name] = true
	}
	for _, e := range add {
		if !have[e.Name] {
			env = append(env, *e.DeepCopy())
			have[e.Name] = true
		}
	}
	return env
}

func hasVolumeMount(c *corev1.Container, name string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return true
		}
	}
	return false
}

// graphLogs reports whether any node of the graph has a logger.
func graphLogs(u *sdepv1.PredictiveUnit) bool {
	if u.Logger != nil {
		return true
	}
	for i := range u.Children {
		if graphLogs(&u.Children[i]) {
			return true
		}
	}
	return false
}

// engineAnnotationEnv turns spec.annotations seldon.io/engine-<x> (but
// engine-separate-pod) into executor env vars <X> (upper case, '-' to
// '_'), sorted by name, as upstream's operator does.
func engineAnnotationEnv(annotations map[string]string) []corev1.EnvVar {
	var env []corev1.EnvVar
	for k, v := range annotations {
		name, ok := strings.CutPrefix(k, engineAnnotationPrefix)
		if !ok || name == "" || name == "separate-pod" {
			continue
		}
		name = strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !validEnvName(name) {
			continue
		}
		env = append(env, corev1.EnvVar{Name: name, Value: v})
	}
	sort.Slice(env, func(i, j int) bool { return env[i].Name < env[j].Name })
	return env
}

// validEnvName is a C identifier, what a shell can export; other names are
// left out rather than rendered into a container the API server refuses.
func validEnvName(s string) bool {
	for i, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}
