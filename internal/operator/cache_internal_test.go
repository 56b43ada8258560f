package operator

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// memoMapper answers a kind it has seen without asking again, and keeps
// asking about a kind that was not served, so one installed later is found.
func TestMemoMapperRemembersOnlyServedKinds(t *testing.T) {
	deployments := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	scaledObjects := schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}
	served := meta.NewDefaultRESTMapper(nil)
	served.Add(deployments, meta.RESTScopeNamespace)
	m := newMemoMapper(served)

	first, err := m.RESTMapping(deployments.GroupKind(), deployments.Version)
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.RESTMapping(deployments.GroupKind(), deployments.Version)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("the second look-up built a new mapping instead of the remembered one")
	}
	if first.Resource.Resource != "deployments" || first.Scope.Name() != meta.RESTScopeNameNamespace {
		t.Errorf("mapping %v, want namespaced deployments", first)
	}

	if _, err := m.RESTMapping(scaledObjects.GroupKind(), scaledObjects.Version); !meta.IsNoMatchError(err) {
		t.Fatalf("a kind not served: %v, want a no-match error", err)
	}
	served.Add(scaledObjects, meta.RESTScopeNamespace)
	if _, err := m.RESTMapping(scaledObjects.GroupKind(), scaledObjects.Version); err != nil {
		t.Errorf("the kind once it is served: %v", err)
	}
}
