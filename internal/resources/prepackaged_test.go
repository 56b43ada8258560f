package resources

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/sdep-dev/sdep/internal/servers"
	"github.com/sdep-dev/sdep/internal/validation"
)

// The sklearn iris shape renders as upstream: the server container named
// after the node, the initializer with [modelUri, /mnt/models], the shared
// volume read-only at /mnt/models, and a cpu request on every container.
func TestSklearnIrisPod(t *testing.T) {
	sd := decodeFile(t, "testdata/prepackaged-sklearn.yaml")[0]
	if err := validation.Validate(sd).Err(); err != nil {
		t.Fatal(err)
	}
	res := mustBuild(t, sd)
	if len(res.Deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(res.Deployments))
	}
	pod := res.Deployments[0].Spec.Template.Spec
	var names []string
	for _, c := range pod.Containers {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"classifier", validation.ExecutorContainerName}, names); diff != "" {
		t.Fatalf("containers (-want +got):\n%s", diff)
	}
	server := pod.Containers[0]
	if server.Image != "seldonio/sklearnserver:1.18.2" {
		t.Errorf("server image %q", server.Image)
	}
	if len(pod.InitContainers) != 1 {
		t.Fatalf("%d init containers, want 1", len(pod.InitContainers))
	}
	init := pod.InitContainers[0]
	if init.Name != "classifier-model-initializer" {
		t.Errorf("init container %q", init.Name)
	}
	if diff := cmp.Diff([]string{"gs://example-models/sklearn/iris", "/mnt/models"}, init.Args); diff != "" {
		t.Errorf("init args (-want +got):\n%s", diff)
	}
	vol := mountOf(server, "/mnt/models")
	if vol == nil || !vol.ReadOnly {
		t.Fatalf("server mounts %v: want a read-only mount at /mnt/models", server.VolumeMounts)
	}
	if m := mountOf(init, "/mnt/models"); m == nil || m.Name != vol.Name || m.ReadOnly {
		t.Errorf("init mounts %v: want %s read-write at /mnt/models", init.VolumeMounts, vol.Name)
	}
	found := false
	for _, v := range pod.Volumes {
		if v.Name == vol.Name && v.EmptyDir != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("no emptyDir volume %s in %v", vol.Name, pod.Volumes)
	}
	for _, c := range append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...) {
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok || q.IsZero() {
			t.Errorf("container %s has no cpu request", c.Name)
		}
	}
	want := `[{"name":"method","value":"predict","type":"STRING"},{"name":"model_uri","value":"/mnt/models","type":"STRING"}]`
	if got := envValue(server, "PREDICTIVE_UNIT_PARAMETERS"); got != want {
		t.Errorf("PREDICTIVE_UNIT_PARAMETERS = %s, want %s", got, want)
	}
}

// An installation's own server name, its images and initializer come from
// the table the options name; RELATED_IMAGE_* replace entries.
func TestCustomServerTable(t *testing.T) {
	table, err := servers.ParseDocument([]byte(`
apiVersion: v1
kind: ConfigMap
metadata: {name: seldon-config}
data:
  predictor_servers: '{"LIGHTGBM_SERVER": {"protocols": {"kfserving": {"image": "example/lightgbm", "defaultImageVersion": "0.3"}}},
    "SKLEARN_SERVER": {"protocols": {"seldon": {"image": "example/sklearn", "defaultImageVersion": "9"}}}}'
  storageInitializer: '{"kind": "sdep", "cpuRequest": "50m"}'
`))
	if err != nil {
		t.Fatal(err)
	}
	table = table.WithRelatedImages(func(k string) string {
		if k == "RELATED_IMAGE_SKLEARNSERVER" {
			return "mirror.example/sklearn@sha256:abc"
		}
		return ""
	})
	src := servers.NewSource(table)
	sd := parse(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: gbm}
spec:
  protocol: v2
  predictors:
  - name: default
    graph:
      name: booster
      implementation: LIGHTGBM_SERVER
      modelUri: s3://bucket/lgbm
`)
	if err := validation.Validate(sd).Err(); err == nil || !strings.Contains(err.Error(), "No entry in predictors map for LIGHTGBM_SERVER") {
		t.Fatalf("with the default table: %v, want no entry", err)
	}
	if err := validation.ValidateWith(sd, validation.Policy{Servers: src}).Err(); err != nil {
		t.Fatalf("with the custom table: %v", err)
	}
	opts := testOptions()
	opts.Servers = src
	res, err := Build(sd, opts)
	if err != nil {
		t.Fatal(err)
	}
	pod := res.Deployments[0].Spec.Template.Spec
	if c := pod.Containers[0]; c.Image != "example/lightgbm:0.3" || envValue(c, "MLSERVER_MODEL_IMPLEMENTATION") != "" {
		t.Errorf("server %s image %q implementation %q", c.Name, c.Image, envValue(c, "MLSERVER_MODEL_IMPLEMENTATION"))
	}
	init := pod.InitContainers[0]
	if init.Image != "sdep:test" || !cmp.Equal(init.Command, []string{"sdep", "storage-initializer"}) {
		t.Errorf("sdep initializer: image %q command %v", init.Image, init.Command)
	}
	if q := init.Resources.Requests[corev1.ResourceCPU]; q.String() != "50m" {
		t.Errorf("init cpu request %s, want 50m", q.String())
	}
	if got := table.Image("SKLEARN_SERVER", ""); got != "mirror.example/sklearn@sha256:abc" {
		t.Errorf("RELATED_IMAGE_SKLEARNSERVER: image %q", got)
	}
}

// The TF proxy keeps the user's rest_endpoint and shares one sidecar and
// one initializer between two proxies in one pod.
func TestTFProxySharedSidecar(t *testing.T) {
	sd := parse(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: tf}
spec:
  predictors:
  - name: default
    graph:
      name: first
      implementation: TENSORFLOW_SERVER
      modelUri: gs://m/first
      parameters: [{name: rest_endpoint, type: STRING, value: "http://0.0.0.0:2001"}]
      children:
      - name: second
        implementation: TENSORFLOW_SERVER
        modelUri: gs://m/second
`)
	if err := validation.Validate(sd).Err(); err != nil {
		t.Fatal(err)
	}
	pod := mustBuild(t, sd).Deployments[0].Spec.Template.Spec
	var names []string
	for _, c := range pod.Containers {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"first", "second", TFServingContainerName, validation.ExecutorContainerName}, names); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Args[0] != "gs://m/first" {
		t.Errorf("init containers %v: want one, for the first model", pod.InitContainers)
	}
	if p := envValue(pod.Containers[0], "PREDICTIVE_UNIT_PARAMETERS"); strings.Contains(p, "grpc_endpoint") {
		t.Errorf("first proxy got grpc_endpoint although it set rest_endpoint: %s", p)
	}
}

func mountOf(c corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// Two models of one pod on different claims each read their own claim
// (upstream mounted one volume name for both, so the second model came
// from the first claim).
func TestTwoClaimsInOnePod(t *testing.T) {
	doc := `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: claims
spec:
  predictors:
  - name: default
    graph:
      name: first
      implementation: SKLEARN_SERVER
      modelUri: pvc://claim-a/iris
      children:
      - name: second
        implementation: SKLEARN_SERVER
        modelUri: pvc://claim-b/wine
`
	path := t.TempDir() + "/claims.yaml"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	sd := decodeFile(t, path)[0]
	if err := validation.Validate(sd).Err(); err != nil {
		t.Fatal(err)
	}
	res := mustBuild(t, sd)
	claimOf := map[string]string{}
	for _, d := range res.Deployments {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				claimOf[v.Name] = v.PersistentVolumeClaim.ClaimName
			}
		}
	}
	for _, d := range res.Deployments {
		pod := d.Spec.Template.Spec
		for _, ic := range pod.InitContainers {
			var want string
			switch {
			case strings.HasPrefix(ic.Name, "first"):
				want = "claim-a"
			case strings.HasPrefix(ic.Name, "second"):
				want = "claim-b"
			default:
				continue
			}
			read := false
			for _, m := range ic.VolumeMounts {
				if c, ok := claimOf[m.Name]; ok && strings.HasPrefix(ic.Args[0], m.MountPath+"/") {
					read = true
					if c != want {
						t.Errorf("%s reads %s from claim %s, want %s", ic.Name, ic.Args[0], c, want)
					}
				}
			}
			if !read {
				t.Errorf("%s (args %v) reads from no claim mount %v", ic.Name, ic.Args, ic.VolumeMounts)
			}
		}
	}
	if len(claimOf) != 2 {
		t.Errorf("claim volumes %v, want one per claim", claimOf)
	}
}
