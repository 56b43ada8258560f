package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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

func TestUpToDateNeedsTheSameHash(t *testing.T) {
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
