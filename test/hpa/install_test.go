package hpa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// TestInstallWithServerSideApply installs sdep as a user does,
// `kubectl apply --server-side -k config/default`, on a fresh API server
// (the manager itself needs an image, so it is not expected to run), and
// checks that every rendered object exists and the CRD is established.
// cert-manager, a prerequisite, is stood in for by its CRDs alone.
func TestInstallWithServerSideApply(t *testing.T) {
	kustomization := filepath.Join("..", "..", "config", "default")
	if _, err := os.Stat(filepath.Join(kustomization, "kustomization.yaml")); err != nil {
		t.Fatalf("config/default has no kustomization.yaml: %v", err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS")}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping kube-apiserver and etcd: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "installer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigData, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigData, 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := client.New(admin.Config(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rendered := renderedObjects(t, testenv.Kubectl(t, kubeconfig, "kustomize", kustomization))
	installCertManagerStandIns(t, c, rendered)
	testenv.Kubectl(t, kubeconfig, "apply", "--server-side", "-k", kustomization)

	kinds := map[string]bool{}
	for _, want := range rendered {
		kinds[want.GetKind()] = true
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(want.GroupVersionKind())
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(want), got); err != nil {
			t.Errorf("%s %s was applied but cannot be read: %v", want.GetKind(), client.ObjectKeyFromObject(want), err)
		}
	}
	for _, kind := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ServiceAccount",
		"Deployment", "Service", "ValidatingWebhookConfiguration"} {
		if !kinds[kind] {
			t.Errorf("config/default renders no %s (renders %v)", kind, kinds)
		}
	}

	testenv.WaitForExplained(t, scaleTimeout, "the SeldonDeployment CRD to be established", func() error {
		return established(c, "seldondeployments.machinelearning.seldon.io")
	}, exitedProcesses)
}

// renderedObjects decodes kubectl kustomize's output.
func renderedObjects(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding kubectl kustomize's output: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	if len(objs) == 0 {
		t.Fatal("kubectl kustomize rendered nothing")
	}
	return objs
}

// installCertManagerStandIns registers the cert-manager.io kinds the
// rendered manifests use (cert-manager is a prerequisite of the install),
// as schema-less CRDs: the apply can then succeed, though nothing checks
// those objects against cert-manager's own schema.
func installCertManagerStandIns(t *testing.T, c client.Client, rendered []*unstructured.Unstructured) {
	t.Helper()
	kinds := map[string]string{} // kind -> version
	for _, o := range rendered {
		if gvk := o.GroupVersionKind(); gvk.Group == "cert-manager.io" {
			kinds[gvk.Kind] = gvk.Version
		}
	}
	for kind, version := range kinds {
		plural := strings.ToLower(kind) + "s"
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + ".cert-manager.io"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "cert-manager.io",
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind)},
				Scope: apiextensionsv1.NamespaceScoped,
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: version, Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: new(true),
					}},
				}},
			},
		}
		if err := c.Create(context.Background(), crd); err != nil {
			t.Fatalf("registering the cert-manager stand-in %s: %v", crd.Name, err)
		}
		testenv.WaitForExplained(t, scaleTimeout, "CRD "+crd.Name+" to be established", func() error { return established(c, crd.Name) }, exitedProcesses)
	}
}

func established(c client.Client, name string) error {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, crd); err != nil {
		return err
	}
	for _, cond := range crd.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("conditions %+v", crd.Status.Conditions)
}
