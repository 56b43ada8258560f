package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// The operator renders prepackaged servers from the seldon-config
// ConfigMap of its own namespace, and renders them again when it changes.
func TestServerTableFromConfigMap(t *testing.T) {
	cfg, k8s := startAPIServer(t)
	ctx := context.Background()
	createNamespace(t, k8s, "sdep-system")
	createNamespace(t, k8s, "models")
	table := func(version string) map[string]string {
		return map[string]string{
			"predictor_servers": `{"SKLEARN_SERVER": {"protocols": {"seldon": {"image": "example/sklearn", "defaultImageVersion": "` + version + `"}}},
				"LIGHTGBM_SERVER": {"protocols": {"seldon": {"image": "example/lightgbm", "defaultImageVersion": "` + version + `"}}}}`,
			"storageInitializer": `{"image": "example/init:` + version + `"}`,
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seldon-config", Namespace: "sdep-system"}, Data: table("1")}
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	startManager(t, cfg, operator.Options{
		Resources: testenv.BuilderOptions("sdep:test"), Namespace: "sdep-system", MetricsAddr: "0", HealthAddr: "0",
	})

	docs, err := decode.Documents("gbm.yaml", []byte(`
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: gbm, namespace: models}
spec:
  predictors:
  - name: default
    graph:
      name: booster
      implementation: LIGHTGBM_SERVER
      modelUri: s3://bucket/model
`))
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0].Object
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: "models", Name: "gbm-default-0-booster"}
	images := func(want string) func() error {
		return func() error {
			d := &appsv1.Deployment{}
			if err := k8s.Get(ctx, key, d); err != nil {
				return err
			}
			pod := d.Spec.Template.Spec
			if len(pod.Containers) == 0 || pod.Containers[0].Name != "booster" || pod.Containers[0].Image != "example/lightgbm:"+want {
				return fmt.Errorf("containers %v: want booster with example/lightgbm:%s first", names(pod.Containers), want)
			}
			if len(pod.InitContainers) != 1 || pod.InitContainers[0].Image != "example/init:"+want {
				return fmt.Errorf("init containers %v: want the initializer example/init:%s", pod.InitContainers, want)
			}
			return nil
		}
	}
	testenv.WaitFor(t, 30*time.Second, "the Deployment "+key.String()+" rendered from the ConfigMap", images("1"))

	cm.Data = table("2")
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the Deployment "+key.String()+" rendered again from the changed ConfigMap", images("2"))

	// A ConfigMap that no longer has the server: the table changes, the
	// document is now invalid, and the Deployment is left as it was.
	cm.Data = map[string]string{"predictor_servers": `{}`}
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the SeldonDeployment failed for the missing table entry", func() error {
		got := &sdepv1.SeldonDeployment{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(sd), got); err != nil {
			return err
		}
		if got.Status.State != sdepv1.StateFailed {
			return fmt.Errorf("state %q (%s)", got.Status.State, got.Status.Description)
		}
		return nil
	})
	if err := images("2")(); err != nil {
		t.Errorf("after the entry went, the Deployment changed: %v", err)
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
