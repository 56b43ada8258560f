package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/local"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/resources"
)

// scaling is one Deployment's replica decision as a consumer of Build sees it.
type scaling struct {
	// Replicas is spec.replicas ("-" when the field is absent); for sdep
	// serve, the replicas it starts.
	Replicas string
	// HPA is "min-max" of the HorizontalPodAutoscaler aimed at it, or "".
	HPA string
}

// TestRenderOperatorAndServeAgree checks that the three consumers of the
// builders' decision — `sdep render` (the binary), the operator's
// reconciler (against a fake API server) and `sdep serve`'s plan — give
// every Deployment of the seed and of every golden document the same
// replica decision and HPA bounds.
func TestRenderOperatorAndServeAgree(t *testing.T) {
	inputs := []string{filepath.Join("examples", "seed-hpaspecs.json"), filepath.Join("examples", "seed-v1.yaml")}
	golden, err := filepath.Glob(filepath.Join("..", "..", "internal", "resources", "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		inputs = append(inputs, filepath.Join("internal", "resources", "testdata", filepath.Base(g)))
	}
	if len(inputs) < 9 {
		t.Fatalf("only %d inputs: golden documents missing?", len(inputs))
	}
	for _, input := range inputs {
		t.Run(filepath.Base(input), func(t *testing.T) {
			stdout, stderr, code := run(t, "", "render", "-f", input, "--executor-image", "sdep:test")
			if code != 0 {
				t.Fatalf("sdep render exit %d: %s", code, stderr)
			}
			rendered := renderedScaling(t, stdout)
			data, err := os.ReadFile(filepath.Join("..", "..", input))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := decode.Documents(input, data)
			if err != nil {
				t.Fatal(err)
			}
			operated, served := map[string]scaling{}, map[string]scaling{}
			for _, d := range docs {
				for k, v := range operatorScaling(t, d.Object) {
					operated[k] = v
				}
				for k, v := range serveScaling(t, d.Object) {
					served[k] = v
				}
			}
			if diff := cmp.Diff(rendered, operated); diff != "" {
				t.Errorf("sdep render and the operator differ (-render +operator):\n%s", diff)
			}
			// sdep serve runs the executor itself: Deployments of the executor
			// alone have no replicas of their own there. It runs no explainers.
			want := map[string]scaling{}
			for name, s := range rendered {
				if strings.HasSuffix(name, "-explainer") {
					continue
				}
				if _, ok := served[name]; ok || !executorOnly(t, stdout, name) {
					if s.Replicas == "-" {
						s.Replicas = startsAt(s.HPA)
					}
					want[name] = s
				}
			}
			if diff := cmp.Diff(want, served); diff != "" {
				t.Errorf("sdep render and sdep serve differ (-render +serve):\n%s", diff)
			}
		})
	}
}

// startsAt is what an autoscaled Deployment runs before its autoscaler
// acts: an HPA's minReplicas, else 1 (KEDA).
func startsAt(hpa string) string {
	var lo, hi int
	if _, err := fmt.Sscanf(hpa, "%d-%d", &lo, &hi); err == nil {
		return fmt.Sprint(lo)
	}
	return "1"
}

type renderedObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas       *int32 `yaml:"replicas"`
		MinReplicas    *int32 `yaml:"minReplicas"`
		MaxReplicas    int32  `yaml:"maxReplicas"`
		ScaleTargetRef struct {
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		Template struct {
			Spec struct {
				Containers []struct {
					Name string `yaml:"name"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func renderedObjects(t *testing.T, stream string) []renderedObject {
	t.Helper()
	var out []renderedObject
	dec := yaml.NewDecoder(bytes.NewBufferString(stream))
	for {
		var o renderedObject
		if err := dec.Decode(&o); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("reading sdep render's output: %v", err)
		}
		out = append(out, o)
	}
}

func renderedScaling(t *testing.T, stream string) map[string]scaling {
	t.Helper()
	out := map[string]scaling{}
	var hpas []renderedObject
	for _, o := range renderedObjects(t, stream) {
		switch o.Kind {
		case "Deployment":
			out[o.Metadata.Name] = scaling{Replicas: count(o.Spec.Replicas)}
		case "HorizontalPodAutoscaler":
			hpas = append(hpas, o)
		}
	}
	for _, h := range hpas {
		s := out[h.Spec.ScaleTargetRef.Name]
		s.HPA = bounds(h.Spec.MinReplicas, h.Spec.MaxReplicas)
		out[h.Spec.ScaleTargetRef.Name] = s
	}
	return out
}

// executorOnly reports whether the rendered Deployment runs only the executor.
func executorOnly(t *testing.T, stream, name string) bool {
	for _, o := range renderedObjects(t, stream) {
		if o.Kind == "Deployment" && o.Metadata.Name == name {
			cs := o.Spec.Template.Spec.Containers
			return len(cs) == 1 && cs[0].Name == predictor.ExecutorContainerName
		}
	}
	return false
}

func count(n *int32) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func bounds(minReplicas *int32, maxReplicas int32) string {
	lo := int32(1)
	if minReplicas != nil {
		lo = *minReplicas
	}
	return fmt.Sprintf("%d-%d", lo, maxReplicas)
}

// operatorScaling reconciles sd once against a fake API server and reads
// back the Deployments and HPAs the operator created.
func operatorScaling(t *testing.T, in *sdepv1.SeldonDeployment) map[string]scaling {
	t.Helper()
	sd := in.DeepCopy()
	if sd.Namespace == "" {
		sd.Namespace = "default"
	}
	sd.UID = types.UID("uid-" + sd.Name)
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(sdepv1.AddToScheme(scheme))
	uids := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(sd).
		WithStatusSubresource(&sdepv1.SeldonDeployment{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			uids++ // the fake client gives objects no UID; the API server does
			obj.SetUID(types.UID(fmt.Sprint("child-", uids)))
			return c.Create(ctx, obj, opts...)
		}}).Build()
	opts := resources.DefaultOptions()
	opts.ExecutorImage = "sdep:test"
	r := &controller.Reconciler{Client: c, Options: opts}
	ctx := context.Background()
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sd)}); err != nil {
		t.Fatalf("reconcile %s: %v", sd.Name, err)
	}
	var deployments appsv1.DeploymentList
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := c.List(ctx, &deployments, client.InNamespace(sd.Namespace)); err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &hpas, client.InNamespace(sd.Namespace)); err != nil {
		t.Fatal(err)
	}
	out := map[string]scaling{}
	for _, d := range deployments.Items {
		out[d.Name] = scaling{Replicas: count(d.Spec.Replicas)}
	}
	for _, h := range hpas.Items {
		s := out[h.Spec.ScaleTargetRef.Name]
		s.HPA = bounds(h.Spec.MinReplicas, h.Spec.MaxReplicas)
		out[h.Spec.ScaleTargetRef.Name] = s
	}
	if len(out) == 0 {
		t.Fatalf("the operator created no Deployment for %s", sd.Name)
	}
	return out
}

// serveScaling plans sd as sdep serve does, every container pointed at an
// endpoint so no image needs to be runnable here.
func serveScaling(t *testing.T, sd *sdepv1.SeldonDeployment) map[string]scaling {
	t.Helper()
	m := local.Mappings{Self: "sdep", Endpoints: map[string]string{}}
	// Every container of the built pods, prepackaged servers and their
	// sidecars included, goes to an endpoint.
	built, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, bc := range built.Components {
		if bc.ComponentSpec < 0 {
			continue // the executor alone or the explainer: sdep serve runs neither as a component
		}
		for _, c := range bc.Deployment.Spec.Template.Spec.Containers {
			if c.Name != predictor.ExecutorContainerName {
				m.Endpoints[c.Name] = "127.0.0.1:1"
			}
		}
	}
	plan, err := local.NewPlan(sd, m)
	if err != nil {
		t.Fatalf("plan %s: %v", sd.Name, err)
	}
	out := map[string]scaling{}
	for _, p := range plan.Predictors {
		for _, c := range p.Components {
			s := scaling{Replicas: fmt.Sprint(c.Replicas)}
			if c.HPA != nil {
				s.HPA = bounds(c.HPA.MinReplicas, c.HPA.MaxReplicas)
			}
			out[c.Deployment] = s
		}
	}
	return out
}
