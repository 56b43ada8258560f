package resources

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

func TestMakePredictorService(t *testing.T) {
	ports := []corev1.ServicePort{
		{Name: "http", Port: 8000, TargetPort: intstr.FromInt32(8000), Protocol: "TCP"},
		{Name: "grpc", Port: 5001, TargetPort: intstr.FromInt32(5001), Protocol: "TCP"},
	}
	tests := []struct {
		name                    string
		specAnn, metaAnn, pAnn  map[string]string
		wantName, wantClusterIP string
	}{
		{name: "ClusterIP by default", wantName: "sd-p"},
		{name: "headless from spec.annotations", specAnn: map[string]string{AnnotationHeadlessService: "true"}, wantName: "sd-p", wantClusterIP: "None"},
		{name: "headless from metadata.annotations", metaAnn: map[string]string{AnnotationHeadlessService: "true"}, wantName: "sd-p", wantClusterIP: "None"},
		{name: "spec.annotations win", specAnn: map[string]string{AnnotationHeadlessService: "false"}, metaAnn: map[string]string{AnnotationHeadlessService: "true"}, wantName: "sd-p"},
		{name: "upstream's default is not sdep's", specAnn: map[string]string{AnnotationHeadlessService: "yes"}, wantName: "sd-p"},
		{name: "seldon.io/svc-name", pAnn: map[string]string{"seldon.io/svc-name": "custom"}, wantName: "custom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := &sdepv1.SeldonDeployment{
				ObjectMeta: metav1.ObjectMeta{Name: "sd", Namespace: "ns", Annotations: tt.metaAnn},
				Spec: sdepv1.SeldonDeploymentSpec{Annotations: tt.specAnn, Predictors: []sdepv1.PredictorSpec{{
					Name: "p", Annotations: tt.pAnn,
				}}},
			}
			got := MakePredictorService(sd, &sd.Spec.Predictors[0], Options{})
			want := &corev1.Service{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{
					Name: tt.wantName, Namespace: "ns",
					Labels:      map[string]string{"seldon-app": tt.wantName, "seldon-deployment-id": "sd", "app.kubernetes.io/managed-by": "seldon-core"},
					Annotations: tt.pAnn,
				},
				Spec: corev1.ServiceSpec{
					Selector:  map[string]string{"seldon-app": tt.wantName},
					Ports:     ports,
					ClusterIP: tt.wantClusterIP,
				},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MakePredictorService (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMakeContainerService(t *testing.T) {
	sd := defaulted(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd, namespace: ns}
spec:
  predictors:
  - name: p
    annotations: {team: ml}
    componentSpecs:
    - spec:
        containers:
        - {name: combiner, image: "c:1"}
        - {name: sidecar, image: "s:1"}
        - {name: a-container-name-that-overflows-the-label-key-limit, image: "m:1"}
    graph:
      name: combiner
      type: COMBINER
      children: [{name: a-container-name-that-overflows-the-label-key-limit}]
`)
	p := &sd.Spec.Predictors[0]
	containers := p.ComponentSpecs[0].Spec.Containers
	t.Run("graph container", func(t *testing.T) {
		want := &corev1.Service{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{
				Name: "sd-p-combiner", Namespace: "ns",
				Labels: map[string]string{
					"seldon-app-svc-combiner": "sd-p-combiner", "seldon-deployment-id": "sd", "seldon-app": "sd-p",
					"app.kubernetes.io/managed-by": "seldon-core", "seldon.io/combiner": "true",
				},
				Annotations: map[string]string{"team": "ml"},
			},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"seldon-app-svc-combiner": "sd-p-combiner"},
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 9000, TargetPort: intstr.FromInt32(9000), Protocol: "TCP"},
					{Name: "grpc", Port: 9500, TargetPort: intstr.FromInt32(9500), Protocol: "TCP"},
				},
			},
		}
		if diff := cmp.Diff(want, MakeContainerService(sd, p, &containers[0])); diff != "" {
			t.Errorf("MakeContainerService (-want +got):\n%s", diff)
		}
	})
	t.Run("container outside the graph", func(t *testing.T) {
		if svc := MakeContainerService(sd, p, &containers[1]); svc != nil {
			t.Errorf("got Service %s for a container outside the graph", svc.Name)
		}
	})
	t.Run("executor", func(t *testing.T) {
		c := corev1.Container{Name: "seldon-container-engine", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}}
		if svc := MakeContainerService(sd, p, &c); svc != nil {
			t.Errorf("got Service %s for the executor", svc.Name)
		}
	})
	t.Run("long container name", func(t *testing.T) {
		svc := MakeContainerService(sd, p, &containers[2])
		if svc == nil {
			t.Fatal("no Service")
		}
		for k := range svc.Spec.Selector {
			if name := strings.TrimPrefix(k, "seldon-app-svc-"); len(name) > 63 || name == k {
				t.Errorf("selector key %q is not a valid seldon-app-svc- label key", k)
			}
		}
	})
}

func TestContainerServiceLabel(t *testing.T) {
	long48 := "model-" + strings.Repeat("x", 42)
	long49 := "model-" + strings.Repeat("x", 43)
	tests := []struct{ container, want string }{
		{"classifier", "seldon-app-svc-classifier"},
		{long48, "seldon-app-svc-" + long48}, // 63 characters: still fits
		{long49, "seldon-app-svc-b12329cbab0817e750c58da419d5b150"},
	}
	for _, tt := range tests {
		if got := ContainerServiceLabel(tt.container); got != tt.want {
			t.Errorf("ContainerServiceLabel(%q) = %q, want %q", tt.container, got, tt.want)
		}
	}
}

func TestMakePDB(t *testing.T) {
	one, half := intstr.FromInt32(1), intstr.FromString("50%")
	tests := []struct {
		name string
		pdb  *sdepv1.SeldonPdbSpec
		want *policyv1.PodDisruptionBudgetSpec
	}{
		{name: "no pdbSpec"},
		{name: "minAvailable", pdb: &sdepv1.SeldonPdbSpec{MinAvailable: &one}, want: &policyv1.PodDisruptionBudgetSpec{MinAvailable: &one}},
		{name: "maxUnavailable", pdb: &sdepv1.SeldonPdbSpec{MaxUnavailable: &half}, want: &policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &half}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd := &sdepv1.SeldonDeployment{
				ObjectMeta: metav1.ObjectMeta{Name: "sd", Namespace: "ns"},
				Spec: sdepv1.SeldonDeploymentSpec{Predictors: []sdepv1.PredictorSpec{{
					Name: "p", ComponentSpecs: []sdepv1.SeldonPodSpec{{
						Spec:    corev1.PodSpec{Containers: []corev1.Container{{Name: "model"}}},
						PdbSpec: tt.pdb,
					}},
				}}},
			}
			got := MakePDB(sd, &sd.Spec.Predictors[0], 0)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("MakePDB = %+v, want nil", got)
				}
				return
			}
			want := &policyv1.PodDisruptionBudget{
				TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
				ObjectMeta: metav1.ObjectMeta{Name: "sd-p-0-model", Namespace: "ns", Labels: map[string]string{"seldon-deployment-id": "sd"}},
				Spec:       *tt.want,
			}
			// Only this componentSpec's pods: the Deployment's own selector.
			want.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"seldon-deployment-id": "sd", "app": "sd-p-0-model"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MakePDB (-want +got):\n%s", diff)
			}
			if got.Spec.MinAvailable == tt.pdb.MinAvailable && got.Spec.MinAvailable != nil {
				t.Error("MakePDB shares minAvailable with the SeldonDeployment")
			}
		})
	}
}

// TestPDBSelectsOnlyItsComponent builds a two-component document and checks
// each budget's selector against every pod template: it must match its own
// Deployment's pods and no other's.
func TestPDBSelectsOnlyItsComponent(t *testing.T) {
	objs := mustBuild(t, parse(t, `
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: sd}
spec:
  predictors:
  - name: p
    componentSpecs:
    - {spec: {containers: [{name: front, image: "f:1"}]}, pdbSpec: {minAvailable: 1}}
    - {spec: {containers: [{name: back, image: "b:1"}]}, pdbSpec: {maxUnavailable: 1}}
    graph: {name: front, children: [{name: back}]}
`))
	if len(objs.PDBs) != 2 || len(objs.Deployments) != 2 {
		t.Fatalf("got %d PDBs and %d Deployments, want 2 and 2", len(objs.PDBs), len(objs.Deployments))
	}
	for _, pdb := range objs.PDBs {
		selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range objs.Deployments {
			matches := selector.Matches(labels.Set(d.Spec.Template.Labels))
			if matches != (d.Name == pdb.Name) {
				t.Errorf("PDB %s matches the pods of Deployment %s: %v", pdb.Name, d.Name, matches)
			}
		}
	}
}
