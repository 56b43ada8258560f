package controller

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sdep-dev/sdep/internal/resources"
)

func desiredDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Labels: map[string]string{"app": "d"}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "c", Image: "img:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5")}},
					Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 9000}},
				}}},
			},
		},
	}
}

// serverDefaulted is what the API server stores for desiredDeployment:
// defaults filled in, quantities canonical, replicas set by an autoscaler.
func serverDefaulted() *appsv1.Deployment {
	d := desiredDeployment()
	three := int32(3)
	d.Spec.Replicas = &three
	d.Spec.RevisionHistoryLimit = new(int32(10))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
		MaxUnavailable: new(intstr.FromString("25%")), MaxSurge: new(intstr.FromString("25%"))}}
	c := &d.Spec.Template.Spec.Containers[0]
	c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("500m")
	c.Ports[0].Protocol = corev1.ProtocolTCP
	c.TerminationMessagePath = "/dev/termination-log"
	c.ImagePullPolicy = corev1.PullIfNotPresent
	d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	d.ResourceVersion, d.UID, d.Generation = "7", "u", 2
	d.Labels["added-by-someone"] = "x"
	d.Status.Replicas = 3
	return d
}

func TestMatches(t *testing.T) {
	tests := []struct {
		name string
		live func(*appsv1.Deployment)
		want bool
	}{
		{"server defaults, other labels and an autoscaler's replicas", func(*appsv1.Deployment) {}, true},
		{"image changed", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:2" }, false},
		{"label changed", func(d *appsv1.Deployment) { d.Labels["app"] = "e" }, false},
		{"container added", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "x"})
		}, false},
		{"cpu request changed", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
		}, false},
		{"port removed", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Ports = nil }, false},
	}
	// Zero values desired sets count: false, 0 and "" must be live too.
	zeros := []struct {
		name    string
		desired func(*appsv1.Deployment)
		live    func(*appsv1.Deployment)
		want    bool
	}{
		{"allowPrivilegeEscalation false, live true", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: new(false)}
		}, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: new(true)}
		}, false},
		{"allowPrivilegeEscalation false, live false", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: new(false)}
		}, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: new(false)}
		}, true},
		{"replicas 0, live 3", func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(0)) }, func(*appsv1.Deployment) {}, false},
		{"replicas 0, live 0", func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(0)) },
			func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(0)) }, true},
		{"empty label value, live set", func(d *appsv1.Deployment) { d.Labels["empty"] = "" },
			func(d *appsv1.Deployment) { d.Labels["empty"] = "x" }, false},
		{"empty label value, live unset", func(d *appsv1.Deployment) { d.Labels["empty"] = "" }, func(*appsv1.Deployment) {}, false},
	}
	for _, tc := range zeros {
		t.Run(tc.name, func(t *testing.T) {
			want, live := desiredDeployment(), serverDefaulted()
			tc.desired(want)
			tc.live(live)
			got, why, err := Matches(want, live)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Matches = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := serverDefaulted()
			tc.live(live)
			got, why, err := Matches(desiredDeployment(), live)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Matches = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

// Where the API server is known to store another value than desired sets,
// that value is expected instead; elsewhere zero values still count.
func TestMatchesStored(t *testing.T) {
	want, live := desiredDeployment(), serverDefaulted()
	// Say the server stores 600 where desired sets 0.
	want.Spec.ProgressDeadlineSeconds = new(int32(0))
	live.Spec.ProgressDeadlineSeconds = new(int32(600))
	if ok, _, _ := Matches(want, live); ok {
		t.Fatal("0 matches 600 without knowing how the server stores it")
	}
	stored, err := storedOverrides(want, live)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[".spec.progressDeadlineSeconds"] != float64(600) {
		t.Errorf("overrides %v, want only .spec.progressDeadlineSeconds: 600", stored)
	}
	if ok, why, err := matchesStored(want, live, stored); !ok || err != nil {
		t.Errorf("the stored form of desired does not match: %s %v", why, err)
	}
	live.Spec.ProgressDeadlineSeconds = new(int32(300))
	if ok, _, _ := matchesStored(want, live, stored); ok {
		t.Error("a value changed after storing matches")
	}
	live.Spec.ProgressDeadlineSeconds = new(int32(600))
	live.Spec.Template.Spec.Containers[0].Image = "img:2"
	if ok, _, _ := matchesStored(want, live, stored); ok {
		t.Error("an override hides a difference elsewhere")
	}
}

func TestUpToDateNeedsTheSameHash(t *testing.T) {
	r := &Reconciler{}
	upToDate := func(want, live *appsv1.Deployment) (bool, string, error) {
		return r.upToDate(context.Background(), deploymentKind, want, live)
	}
	want := desiredDeployment()
	if err := withHash(want); err != nil {
		t.Fatal(err)
	}
	live := serverDefaulted()
	if ok, _, _ := upToDate(want, live); ok {
		t.Error("a live object without the hash annotation is up to date")
	}
	live.Annotations = map[string]string{AnnotationDesiredHash: want.Annotations[AnnotationDesiredHash]}
	if ok, why, err := upToDate(want, live); !ok || err != nil {
		t.Errorf("same hash and fields: not up to date: %s %v", why, err)
	}
	// A field removed from the spec (here: the cpu request) changes the hash
	// even though the live object still holds the old value.
	smaller := desiredDeployment()
	smaller.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	if err := withHash(smaller); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := upToDate(smaller, live); ok {
		t.Error("a removed field went unnoticed")
	}
}

func TestReplicasToWrite(t *testing.T) {
	live := new(int32(7))
	for _, tc := range []struct {
		name   string
		policy resources.ReplicaPolicy
		want   *int32
	}{
		{"autoscaled by an HPA", resources.ReplicaPolicy{AutoscaledBy: resources.KindHPA, Min: 1, Max: 4}, nil},
		{"autoscaled by KEDA", resources.ReplicaPolicy{AutoscaledBy: resources.KindScaledObject}, nil},
		{"fixed", resources.ReplicaPolicy{Fixed: 2}, new(int32(2))},
		{"fixed at zero", resources.ReplicaPolicy{Fixed: 0}, new(int32(0))},
	} {
		got := replicasToWrite(tc.policy, live)
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%s: replicas %v, want %v", tc.name, got, tc.want)
		}
	}
}
