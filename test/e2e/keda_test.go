package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// scaledObjectCRD is the smallest CRD that serves keda.sh/v1alpha1
// ScaledObjects: enough for the operator to create and watch them.
func scaledObjectCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "scaledobjects.keda.sh"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "keda.sh",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "scaledobjects", Singular: "scaledobject", Kind: "ScaledObject", ListKind: "ScaledObjectList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec":   {Type: "object", XPreserveUnknownFields: ptr.To(true)},
						"status": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
					},
				}},
			}},
		},
	}
}

// A kedaSpec without KEDA installed gives a clear KedaReady=False and no
// HPA; with the ScaledObject CRD installed (and the operator restarted) it
// gives a ScaledObject aimed at the Deployment. Either way the Deployment
// has no replicas of sdep's choosing.
func TestKedaSpec(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	mgr := startManager(t, ns)

	sd := example(t, "seed-v1.yaml", ns)
	comp := &sd.Spec.Predictors[0].ComponentSpecs[0]
	comp.HpaSpec = nil
	comp.KedaSpec = &sdepv1.SeldonScaledObjectSpec{
		MinReplicaCount: ptr.To[int32](1), MaxReplicaCount: ptr.To[int32](5),
		Triggers: []sdepv1.KedaScaleTrigger{{Type: "prometheus", Metadata: map[string]string{
			"serverAddress": "http://prometheus:9090", "threshold": "10", "query": "sum(rate(x[1m]))",
		}}},
	}
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}
	waitForObject(t, "the Deployment", dep, nil)
	got := &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sd.Name}}
	waitForObject(t, "KedaReady=False", got, func() error {
		if c := conditionText(got, sdepv1.ConditionKedaReady); !strings.HasPrefix(c, "False KEDANotInstalled") {
			return fmt.Errorf("KedaReady: %s", c)
		}
		return nil
	})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: depName}, &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Errorf("a kedaSpec made an HPA: %v", err)
	}
	scaleDeployment(t, ns, depName, 3) // as KEDA's HPA would

	opts := envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{scaledObjectCRD()}}
	if _, err := envtest.InstallCRDs(cfg, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := envtest.UninstallCRDs(cfg, opts); err != nil {
			t.Errorf("removing the ScaledObject CRD: %v", err)
		}
		// Later managers decide from discovery whether to watch ScaledObjects.
		testenv.WaitFor(t, timeout, "keda.sh to leave discovery", func() error {
			if _, err := clientset.Discovery().ServerResourcesForGroupVersion("keda.sh/v1alpha1"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("keda.sh/v1alpha1 still served: %w", err)
			}
			return nil
		})
	})
	mgr.stop(t)
	startManager(t, ns)

	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(controller.ScaledObjectGVK)
	so.SetNamespace(ns)
	so.SetName(depName)
	waitForObject(t, "the ScaledObject", so, func() error {
		target, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
		maxCount, _, _ := unstructured.NestedInt64(so.Object, "spec", "maxReplicaCount")
		if target != depName || maxCount != 5 {
			return fmt.Errorf("scaleTargetRef.name %q, maxReplicaCount %d", target, maxCount)
		}
		return nil
	})
	if !metav1.IsControlledBy(so, got) {
		t.Errorf("the ScaledObject is not controlled by the SeldonDeployment: %v", so.GetOwnerReferences())
	}
	waitForObject(t, "KedaReady=True", got, func() error {
		if c := conditionText(got, sdepv1.ConditionKedaReady); !strings.HasPrefix(c, "True") {
			return fmt.Errorf("KedaReady: %s", c)
		}
		return nil
	})
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 3 {
		t.Errorf("replicas %d: a KEDA-scaled Deployment keeps its autoscaler's count", *dep.Spec.Replicas)
	}
}
