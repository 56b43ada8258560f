package resources

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// defaulted parses a document and applies validation.Default, as Build
// does before calling the Make* functions.
func defaulted(t testing.TB, doc string) *sdepv1.SeldonDeployment {
	t.Helper()
	sd := parse(t, doc)
	validation.Default(sd, predictor.DefaultOptions())
	return sd
}

const twoComponents = `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd, namespace: ns}
spec:
  replicas: 4
  annotations: {level: spec, seldon.io/rest-timeout: "100"}
  predictors:
  - name: p
    replicas: 3
    annotations: {level: predictor}
    labels: {team: ml, app: user-app}
    componentSpecs:
    - metadata:
        labels: {seldon-deployment-id: hijack, tier: front}
        annotations: {level: component}
      spec:
        containers:
        - {name: router, image: "router:1"}
    - replicas: 2
      spec:
        containers:
        - {name: model, image: "model:1"}
        - {name: helper, image: "helper:1"}
    graph:
      name: router
      type: ROUTER
      children: [{name: model}]
`

func TestMakeDeploymentMetadata(t *testing.T) {
	sd := defaulted(t, twoComponents)
	p := &sd.Spec.Predictors[0]
	tests := []struct {
		name            string
		j               int
		wantName        string
		wantLabels      map[string]string
		wantPodLabels   map[string]string
		wantAnnotations map[string]string
		wantReplicas    *int32
		wantContainers  []string
	}{{
		name:     "componentSpec 0 hosts the executor",
		j:        0,
		wantName: "sd-p-0-router",
		wantLabels: map[string]string{
			"seldon-deployment-id": "sd", "app": "sd-p-0-router", "fluentd": "true", "version": "p",
			"app.kubernetes.io/managed-by": "seldon-core", "team": "ml", "tier": "front",
			"seldon-app-svc-router": "sd-p-router", "seldon.io/router": "true",
			"seldon-app": "sd-p", "seldon-deployment-contains-svcorch": "true",
		},
		wantPodLabels: map[string]string{
			"seldon-deployment-id": "sd", "app": "sd-p-0-router", "fluentd": "true", "version": "p",
			"app.kubernetes.io/managed-by": "seldon-core", "team": "ml", "tier": "front",
			"seldon-app-svc-router": "sd-p-router", "seldon.io/router": "true", "seldon-app": "sd-p",
		},
		wantAnnotations: map[string]string{"level": "component", "seldon.io/rest-timeout": "100"},
		wantReplicas:    new(int32(3)),
		wantContainers:  []string{"router", validation.ExecutorContainerName},
	}, {
		name:     "componentSpec 1: no executor, its own replicas, non-graph container unlabelled",
		j:        1,
		wantName: "sd-p-1-model-helper",
		wantLabels: map[string]string{
			"seldon-deployment-id": "sd", "app": "sd-p-1-model-helper", "fluentd": "true", "version": "p",
			"app.kubernetes.io/managed-by": "seldon-core", "team": "ml",
			"seldon-app-svc-model": "sd-p-model", "seldon.io/model": "true",
		},
		wantAnnotations: map[string]string{"level": "predictor", "seldon.io/rest-timeout": "100"},
		wantReplicas:    new(int32(2)),
		wantContainers:  []string{"model", "helper"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := MakeDeployment(sd, p, tt.j, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != tt.wantName || d.Namespace != "ns" {
				t.Errorf("Deployment %s/%s, want ns/%s", d.Namespace, d.Name, tt.wantName)
			}
			if diff := cmp.Diff(tt.wantLabels, d.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			wantPodLabels := tt.wantPodLabels
			if wantPodLabels == nil {
				wantPodLabels = tt.wantLabels
			}
			if diff := cmp.Diff(wantPodLabels, d.Spec.Template.Labels); diff != "" {
				t.Errorf("pod labels (-want +got):\n%s", diff)
			}
			wantSelector := map[string]string{"seldon-deployment-id": "sd", "app": tt.wantName}
			if diff := cmp.Diff(wantSelector, d.Spec.Selector.MatchLabels); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			for k, v := range d.Spec.Selector.MatchLabels {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("selector %s=%s does not match the pod labels", k, v)
				}
			}
			if diff := cmp.Diff(tt.wantAnnotations, d.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			wantPodAnnotations := merge(tt.wantAnnotations, map[string]string{"prometheus.io/path": "/prometheus", "prometheus.io/scrape": "true"})
			if diff := cmp.Diff(wantPodAnnotations, d.Spec.Template.Annotations); diff != "" {
				t.Errorf("pod annotations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantReplicas, d.Spec.Replicas); diff != "" {
				t.Errorf("replicas (-want +got):\n%s", diff)
			}
			var names []string
			for _, c := range d.Spec.Template.Spec.Containers {
				names = append(names, c.Name)
			}
			if diff := cmp.Diff(tt.wantContainers, names); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			if got := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 20 {
				t.Errorf("terminationGracePeriodSeconds = %d, want the default 20", got)
			}
			if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "10%" {
				t.Errorf("strategy = %+v, want RollingUpdate with maxUnavailable 10%%", d.Spec.Strategy)
			}
		})
	}
}

func TestComponentReplicaPolicy(t *testing.T) {
	r := func(v int32) *int32 { return new(v) }
	tests := []struct {
		name                     string
		spec, predictor, compont *int32
		hpaMin                   *int32
		hpa, keda                bool
		want                     ReplicaPolicy
		replicas                 *int32
		initial                  int32
	}{
		{name: "none set: 1, explicitly", want: ReplicaPolicy{Fixed: 1}, replicas: r(1), initial: 1},
		{name: "spec", spec: r(4), want: ReplicaPolicy{Fixed: 4}, replicas: r(4), initial: 4},
		{name: "predictor over spec", spec: r(4), predictor: r(3), want: ReplicaPolicy{Fixed: 3}, replicas: r(3), initial: 3},
		{name: "componentSpec over predictor", spec: r(4), predictor: r(3), compont: r(2), want: ReplicaPolicy{Fixed: 2}, replicas: r(2), initial: 2},
		{name: "zero is a value", predictor: r(3), compont: r(0), want: ReplicaPolicy{Fixed: 0}, replicas: r(0), initial: 0},
		{name: "hpaSpec: unset whatever is set", spec: r(4), predictor: r(3), compont: r(2), hpa: true,
			want: ReplicaPolicy{AutoscaledBy: KindHPA, Min: 1, Max: 3}, replicas: nil, initial: 1},
		{name: "hpaSpec minReplicas is where it starts", hpa: true, hpaMin: r(2),
			want: ReplicaPolicy{AutoscaledBy: KindHPA, Min: 2, Max: 3}, replicas: nil, initial: 2},
		{name: "kedaSpec: unset whatever is set", spec: r(4), compont: r(2), keda: true,
			want: ReplicaPolicy{AutoscaledBy: KindScaledObject}, replicas: nil, initial: 1},
		{name: "kedaSpec wins over hpaSpec", keda: true, hpa: true,
			want: ReplicaPolicy{AutoscaledBy: KindScaledObject}, replicas: nil, initial: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := sdepv1.SeldonPodSpec{Replicas: tt.compont}
			if tt.hpa {
				cs.HpaSpec = &sdepv1.SeldonHpaSpec{MinReplicas: tt.hpaMin, MaxReplicas: 3}
			}
			if tt.keda {
				cs.KedaSpec = &sdepv1.SeldonScaledObjectSpec{}
			}
			sd := &sdepv1.SeldonDeployment{Spec: sdepv1.SeldonDeploymentSpec{
				Replicas:   tt.spec,
				Predictors: []sdepv1.PredictorSpec{{Replicas: tt.predictor, ComponentSpecs: []sdepv1.SeldonPodSpec{cs}}},
			}}
			got := ComponentReplicaPolicy(sd, &sd.Spec.Predictors[0], 0)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ComponentReplicaPolicy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.replicas, got.Replicas()); diff != "" {
				t.Errorf("Replicas() (-want +got):\n%s", diff)
			}
			if got.Initial() != tt.initial {
				t.Errorf("Initial() = %d, want %d", got.Initial(), tt.initial)
			}
			if p := got.Replicas(); p != nil && (p == tt.compont || p == tt.predictor || p == tt.spec) {
				t.Error("Replicas() returned a pointer into the SeldonDeployment")
			}
		})
	}
}

func TestMakeExecutorContainer(t *testing.T) {
	sd := defaulted(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd, namespace: ns}
spec:
  transport: grpc
  predictors:
  - name: p
    svcOrchSpec:
      env:
      - {name: LOG_LEVEL, value: debug}
      - {name: ENGINE_PREDICTOR, value: from-user}
    componentSpecs:
    - spec:
        containers: [{name: model, image: "model:1"}]
    graph: {name: model}
`)
	p := &sd.Spec.Predictors[0]
	engine, err := EnginePredictor(p)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{ExecutorImage: "registry.example.com/sdep:9", ExecutorPullPolicy: corev1.PullAlways}
	got, err := MakeExecutorContainer(sd, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(8000), Scheme: "HTTP"}},
			InitialDelaySeconds: 20, PeriodSeconds: 5, TimeoutSeconds: 60, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	want := corev1.Container{
		Name:            "seldon-container-engine",
		Image:           "registry.example.com/sdep:9",
		ImagePullPolicy: corev1.PullAlways,
		Command:         []string{"sdep", "executor"},
		Args: []string{"--sdep=sd", "--namespace=ns", "--predictor=p", "--http-port=8000", "--grpc-port=5001",
			"--metrics-path=/prometheus", "--protocol=seldon", "--transport=grpc"},
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8000, Protocol: "TCP"},
			{Name: "grpc", ContainerPort: 5001, Protocol: "TCP"},
		},
		Env: []corev1.EnvVar{
			{Name: "ENGINE_PREDICTOR", Value: engine}, {Name: "LOG_LEVEL", Value: "debug"},
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
				ContainerName: "seldon-container-engine", Resource: "limits.memory", Divisor: resource.MustParse("1"),
			}}},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("512Mi")},
			Limits:   corev1.ResourceList{"memory": resource.MustParse("512Mi")},
		},
		ReadinessProbe: probe("/ready"),
		LivenessProbe:  probe("/live"),
		VolumeMounts:   []corev1.VolumeMount{{Name: "seldon-podinfo", MountPath: "/etc/podinfo"}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: new(int64(8888)), RunAsNonRoot: new(true),
			AllowPrivilegeEscalation: new(false), ReadOnlyRootFilesystem: new(true),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MakeExecutorContainer (-want +got):\n%s", diff)
	}
}

// The executor's GOMEMLIMIT follows its container's memory limit through
// the downward API, unless svcOrchSpec.env sets it.
func TestExecutorGoMemLimit(t *testing.T) {
	tests := []struct {
		name, svcOrch string
		want          corev1.EnvVar
	}{
		{"default limit", `{}`, corev1.EnvVar{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
			ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "seldon-container-engine", Resource: "limits.memory", Divisor: resource.MustParse("1")},
		}}},
		{"user limit", `{resources: {limits: {memory: 1Gi}}}`, corev1.EnvVar{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
			ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "seldon-container-engine", Resource: "limits.memory", Divisor: resource.MustParse("1")},
		}}},
		{"user GOMEMLIMIT", `{env: [{name: GOMEMLIMIT, value: 300MiB}]}`, corev1.EnvVar{Name: "GOMEMLIMIT", Value: "300MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := defaulted(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd, namespace: ns}
spec:
  predictors:
  - name: p
    svcOrchSpec: `+tt.svcOrch+`
    componentSpecs:
    - spec:
        containers: [{name: model, image: "model:1"}]
    graph: {name: model}
`)
			c, err := MakeExecutorContainer(sd, &sd.Spec.Predictors[0], Options{ExecutorImage: "sdep:test"})
			if err != nil {
				t.Fatal(err)
			}
			var found []corev1.EnvVar
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					found = append(found, e)
				}
			}
			if diff := cmp.Diff([]corev1.EnvVar{tt.want}, found); diff != "" {
				t.Errorf("GOMEMLIMIT (-want +got):\n%s", diff)
			}
			// The variable must name the container it is set on, and that
			// container must have the memory limit it reads.
			if ref := found[0].ValueFrom; ref != nil {
				if ref.ResourceFieldRef.ContainerName != c.Name {
					t.Errorf("resourceFieldRef names %q, the container is %q", ref.ResourceFieldRef.ContainerName, c.Name)
				}
				if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
					t.Errorf("executor container has no memory limit: %v", c.Resources)
				}
			}
		})
	}
}

func TestEnginePredictor(t *testing.T) {
	full := defaulted(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  predictors:
  - name: p
    replicas: 2
    traffic: 100
    explainer: {type: AnchorTabular}
    svcOrchSpec: {replicas: 3}
    hpaSpecs:
    - scaleTargetRef: {kind: Deployment, name: missing}
      maxReplicas: 2
    componentSpecs:
    - metadata: {name: c}
      replicas: 1
      hpaSpec: {maxReplicas: 4}
      pdbSpec: {minAvailable: 1}
      spec:
        containers: [{name: model, image: "model:1"}]
    - kedaSpec: {triggers: [{type: cpu, metadata: {value: "50"}}]}
      spec:
        containers: [{name: other, image: "other:1"}]
    graph: {name: model, children: [{name: other}]}
`).Spec.Predictors[0]

	want := full.DeepCopy()
	want.Replicas, want.Traffic, want.Explainer, want.SvcOrchSpec, want.HpaSpecs = nil, 0, nil, nil, nil
	for j := range want.ComponentSpecs {
		cs := &want.ComponentSpecs[j]
		cs.Replicas, cs.HpaSpec, cs.KedaSpec, cs.PdbSpec = nil, nil, nil, nil
	}

	encoded, err := EnginePredictor(&full)
	if err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("not base64: %v", err)
	}
	var got sdepv1.PredictorSpec
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("not a PredictorSpec: %v", err)
	}
	if diff := cmp.Diff(*want, got); diff != "" {
		t.Errorf("ENGINE_PREDICTOR (-want +got):\n%s", diff)
	}
	if len(got.ComponentSpecs) != 2 || got.Graph.Endpoint == nil || got.Graph.Endpoint.ServiceHost != "localhost" {
		t.Errorf("ENGINE_PREDICTOR lost the graph or componentSpecs: %+v", got)
	}
	if full.Replicas == nil || full.ComponentSpecs[0].HpaSpec == nil {
		t.Error("EnginePredictor changed its argument")
	}
}

func TestDefaultGraphContainer(t *testing.T) {
	tcp := func(port string, delay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(port)}},
			InitialDelaySeconds: delay, PeriodSeconds: 5, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	userProbe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, c corev1.Container)
	}{{
		name: "rest: probes on http, parameters and modelUri env",
		doc: `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  predictors:
  - name: p
    componentSpecs: [{spec: {containers: [{name: model, image: "model:1"}]}}]
    graph:
      name: model
      modelUri: s3://bucket/model
      parameters: [{name: intValue, value: "2", type: INT}]
`,
		check: func(t *testing.T, c corev1.Container) {
			if diff := cmp.Diff(tcp("http", 60), c.LivenessProbe); diff != "" {
				t.Errorf("liveness (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tcp("http", 20), c.ReadinessProbe); diff != "" {
				t.Errorf("readiness (-want +got):\n%s", diff)
			}
			env := envMap(c)
			for name, want := range map[string]string{
				"PREDICTIVE_UNIT_SERVICE_PORT": "9000", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "9000",
				"PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "9500", "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": "6000",
				"PREDICTIVE_UNIT_PARAMETERS": `[{"name":"intValue","value":"2","type":"INT"}]`,
				"MLSERVER_MODEL_URI":         "/mnt/models", "PREDICTIVE_UNIT_ID": "model", "PREDICTIVE_UNIT_IMAGE": "model:1",
				"PREDICTOR_ID": "p", "PREDICTOR_LABELS": `{"version":"p"}`, "SELDON_DEPLOYMENT_ID": "sd",
				"PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus", "SELDON_EXECUTOR_ENABLED": "true",
			} {
				if env[name] != want {
					t.Errorf("env %s = %q, want %q", name, env[name], want)
				}
			}
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("imagePullPolicy = %q, want IfNotPresent", c.ImagePullPolicy)
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
				t.Errorf("no preStop hook: %+v", c.Lifecycle)
			}
		},
	}, {
		name: "grpc endpoint: probes and service port on grpc; user settings kept",
		doc: `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  predictors:
  - name: p
    componentSpecs:
    - spec:
        containers:
        - name: model
          image: "model:1"
          imagePullPolicy: Always
          env: [{name: PREDICTOR_ID, value: mine}]
          livenessProbe: {exec: {command: ["true"]}}
          lifecycle: {postStart: {exec: {command: ["true"]}}}
          volumeMounts: [{name: seldon-podinfo, mountPath: /custom}]
    graph: {name: model, endpoint: {type: GRPC}}
`,
		check: func(t *testing.T, c corev1.Container) {
			if diff := cmp.Diff(userProbe, c.LivenessProbe); diff != "" {
				t.Errorf("the user's liveness probe was replaced (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tcp("grpc", 20), c.ReadinessProbe); diff != "" {
				t.Errorf("readiness (-want +got):\n%s", diff)
			}
			env := envMap(c)
			if env["PREDICTOR_ID"] != "mine" || env["PREDICTIVE_UNIT_SERVICE_PORT"] != "9500" {
				t.Errorf("PREDICTOR_ID = %q, PREDICTIVE_UNIT_SERVICE_PORT = %q, want mine and 9500", env["PREDICTOR_ID"], env["PREDICTIVE_UNIT_SERVICE_PORT"])
			}
			if n := countEnv(c, "PREDICTOR_ID"); n != 1 {
				t.Errorf("PREDICTOR_ID appears %d times, want once", n)
			}
			if _, ok := env["PREDICTIVE_UNIT_PARAMETERS"]; ok {
				t.Error("PREDICTIVE_UNIT_PARAMETERS set for a node without parameters")
			}
			if c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("imagePullPolicy = %q, want the user's Always", c.ImagePullPolicy)
			}
			if c.Lifecycle.PreStop != nil {
				t.Error("a preStop hook was added to the user's lifecycle")
			}
			if diff := cmp.Diff([]corev1.VolumeMount{{Name: "seldon-podinfo", MountPath: "/custom"}}, c.VolumeMounts); diff != "" {
				t.Errorf("volume mounts (-want +got):\n%s", diff)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := defaulted(t, tt.doc)
			d, err := MakeDeployment(sd, &sd.Spec.Predictors[0], 0, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			c := findContainer(d, "model")
			if c == nil {
				t.Fatal("no model container")
			}
			tt.check(t, *c)
		})
	}
}

// TestMakeDeploymentKeepsUserPodSettings: a volume named seldon-podinfo or
// a grace period the user set is not replaced or duplicated.
func TestMakeDeploymentKeepsUserPodSettings(t *testing.T) {
	sd := defaulted(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  predictors:
  - name: p
    componentSpecs:
    - spec:
        terminationGracePeriodSeconds: 3
        volumes: [{name: seldon-podinfo, emptyDir: {}}]
        containers: [{name: model, image: "model:1"}]
    graph: {name: model}
`)
	d, err := MakeDeployment(sd, &sd.Spec.Predictors[0], 0, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	if *pod.TerminationGracePeriodSeconds != 3 {
		t.Errorf("terminationGracePeriodSeconds = %d, want the user's 3", *pod.TerminationGracePeriodSeconds)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].EmptyDir == nil {
		t.Errorf("volumes = %+v, want only the user's seldon-podinfo", pod.Volumes)
	}
	if sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].Env != nil {
		t.Error("MakeDeployment changed the SeldonDeployment's containers")
	}
}

func TestMakeExecutorDeployment(t *testing.T) {
	sd := defaulted(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  replicas: 5
  predictors:
  - name: p
    svcOrchSpec: {replicas: 2}
    graph: {name: m, implementation: SIMPLE_MODEL}
`)
	d, err := MakeExecutorDeployment(sd, &sd.Spec.Predictors[0], testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "sd-p-svc-orch" {
		t.Errorf("name = %q, want sd-p-svc-orch", d.Name)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want svcOrchSpec's 2", d.Spec.Replicas)
	}
	if cs := d.Spec.Template.Spec.Containers; len(cs) != 1 || cs[0].Name != validation.ExecutorContainerName {
		t.Errorf("containers = %+v, want the executor alone", cs)
	}
	want := map[string]string{"seldon-deployment-id": "sd", "app": "sd-p-svc-orch"}
	if diff := cmp.Diff(want, d.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("selector (-want +got):\n%s", diff)
	}
	if d.Spec.Template.Labels["seldon-app"] != "sd-p" || d.Labels["seldon-deployment-contains-svcorch"] != "true" {
		t.Errorf("labels %v / pod labels %v lack the predictor Service wiring", d.Labels, d.Spec.Template.Labels)
	}
}

func envMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func countEnv(c corev1.Container, name string) int {
	n := 0
	for _, e := range c.Env {
		if e.Name == name {
			n++
		}
	}
	return n
}
