package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

func TestMakeScaledObject(t *testing.T) {
	sd := &sdepv1.SeldonDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sd", Namespace: "ns", UID: types.UID("uid-1")},
		Spec: sdepv1.SeldonDeploymentSpec{Predictors: []sdepv1.PredictorSpec{{
			Name: "p", ComponentSpecs: []sdepv1.SeldonPodSpec{
				{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "plain"}}}},
				{
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "model"}}},
					KedaSpec: &sdepv1.SeldonScaledObjectSpec{
						PollingInterval: new(int32(15)),
						MinReplicaCount: new(int32(1)),
						MaxReplicaCount: new(int32(5)),
						Triggers: []sdepv1.KedaScaleTrigger{{
							Type: "prometheus", Metadata: map[string]string{"threshold": "10", "query": "up"},
						}},
						Fallback: &sdepv1.KedaFallback{FailureThreshold: 3, Replicas: 2},
					},
				},
			},
		}}},
	}
	p := &sd.Spec.Predictors[0]

	none, err := MakeScaledObject(sd, p, 0)
	if err != nil || none != nil {
		t.Fatalf("MakeScaledObject without kedaSpec = %v, %v; want nil, nil", none, err)
	}

	got, err := MakeScaledObject(sd, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"apiVersion": "keda.sh/v1alpha1",
		"kind":       "ScaledObject",
		"metadata": map[string]any{
			"name": "sd-p-1-model", "namespace": "ns",
			"labels": map[string]any{"seldon-deployment-id": "sd"},
			"ownerReferences": []any{map[string]any{
				"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "name": "sd", "uid": "uid-1",
				"controller": true, "blockOwnerDeletion": true,
			}},
		},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "sd-p-1-model"},
			"pollingInterval": int64(15),
			"minReplicaCount": int64(1),
			"maxReplicaCount": int64(5),
			"triggers": []any{map[string]any{
				"type": "prometheus", "metadata": map[string]any{"threshold": "10", "query": "up"},
			}},
			"fallback": map[string]any{"failureThreshold": int64(3), "replicas": int64(2)},
		},
	}
	if diff := cmp.Diff(want, got.Object); diff != "" {
		t.Errorf("MakeScaledObject (-want +got):\n%s", diff)
	}
	// Unstructured content must be deep-copyable (only JSON value types).
	if diff := cmp.Diff(got.Object, got.DeepCopy().Object); diff != "" {
		t.Errorf("DeepCopy differs:\n%s", diff)
	}
}
