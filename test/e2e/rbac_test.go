package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// The ClusterRole generated from the +kubebuilder:rbac markers is all the
// operator needs: run as a user holding only that role, it takes the seed
// to Available.
func TestGeneratedRBACIsEnough(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "sdep-rbac-test"
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, role) })
	const user = "sdep-operator-rbac-test"
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sdep-rbac-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, binding) })
	operatorUser, err := testEnv.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}

	ns := newNamespace(t)
	startManagerAs(t, ns, operatorUser.Config())
	sd := withPDB(example(t, "seed-v1.yaml", ns))
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	waitForObject(t, "the Deployment", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}, nil)
	markDeploymentReady(t, ns, depName)
	waitForState(t, ns, sd.Name, sdepv1.StateAvailable)
	waitForEvent(t, ns, sd.Name, "Available")
}
