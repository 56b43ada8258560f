package controller

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
)

// A Deployment that scales to zero is created with 0 replicas, and no
// later write carries its count, whoever set it (the scaler 0<->1, the HPA).
func TestReplicasToWriteScaleToZero(t *testing.T) {
	p := resources.ReplicaPolicy{AutoscaledBy: resources.KindHPA, Min: 0, Max: 10, ToZero: true}
	if got := replicasToWrite(p, nil); got == nil || *got != 0 {
		t.Errorf("create: replicas %v, want 0", got)
	}
	for _, live := range []int32{0, 1, 6} {
		if got := replicasToWrite(p, new(live)); got != nil {
			t.Errorf("live %d: replicas %d in a write, want none", live, *got)
		}
	}
}

func toZeroDesired(t *testing.T) (*desiredState, string) {
	t.Helper()
	sd := seedSD(t, "requests-to-zero.json")
	ds, err := buildDesired(sd, resources.Options{ExecutorImage: "sdep:test"})
	if err != nil {
		t.Fatal(err)
	}
	return ds, "requests-to-zero-default-0-my-dep"
}

func liveFor(ds *desiredState, edit func(name string, d *appsv1.Deployment)) *liveChildren {
	live := &liveChildren{deployments: childResult{}, hpas: childResult{}, errs: map[string]error{}}
	for _, want := range ds.objs.Deployments {
		d := want.DeepCopy()
		d.Generation = 1
		r := int32(1)
		if d.Spec.Replicas != nil {
			r = *d.Spec.Replicas
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
		edit(d.Name, d)
		live.deployments[d.Name] = d
	}
	for _, want := range ds.objs.HPAs {
		live.hpas[want.Name] = want.DeepCopy()
	}
	return live
}

// The SeldonDeployment stays Available while a component is at zero (and
// says so), while it starts from zero, and with the HPA inactive at zero;
// it is Failed only when a rollout that wants pods stalled.
func TestStatusOfAComponentAtZero(t *testing.T) {
	ds, comp := toZeroDesired(t)
	scaledOff := func(h *autoscalingv2.HorizontalPodAutoscaler) {
		h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{
			Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "ScalingDisabled",
			Message: "scaling is disabled since the replica count of the target is zero",
		}}
	}
	tests := []struct {
		name      string
		edit      func(d *appsv1.Deployment)
		hpa       func(h *autoscalingv2.HorizontalPodAutoscaler)
		state     sdepv1.State
		inMessage string
		compState string
	}{
		{name: "at zero", edit: func(*appsv1.Deployment) {}, hpa: scaledOff,
			state: sdepv1.StateAvailable, inMessage: "scaled to zero", compState: "Available"},
		{name: "at zero, spec moved to 1, no pod yet", edit: func(d *appsv1.Deployment) {
			d.Spec.Replicas, d.Generation = new(int32(1)), 2
		}, hpa: scaledOff, state: sdepv1.StateAvailable, inMessage: "scaled to zero", compState: "Available"},
		{name: "starting from zero", edit: func(d *appsv1.Deployment) {
			d.Spec.Replicas = new(int32(1))
			d.Status.Replicas, d.Status.UnavailableReplicas = 1, 1
		}, state: sdepv1.StateAvailable, inMessage: "starting from zero", compState: "Creating"},
		{name: "scaled up", edit: func(d *appsv1.Deployment) {
			d.Spec.Replicas = new(int32(3))
			d.Status.Replicas, d.Status.AvailableReplicas, d.Status.UpdatedReplicas = 3, 3, 3
		}, state: sdepv1.StateAvailable, compState: "Available"},
		{name: "stalled with pods wanted", edit: func(d *appsv1.Deployment) {
			d.Spec.Replicas = new(int32(1))
			d.Status.Replicas, d.Status.UnavailableReplicas = 1, 1
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse}}
		}, state: sdepv1.StateFailed, compState: "Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := liveFor(ds, func(name string, d *appsv1.Deployment) {
				if name == comp {
					tt.edit(d)
				}
			})
			if tt.hpa != nil {
				tt.hpa(live.hpas[comp].(*autoscalingv2.HorizontalPodAutoscaler))
			}
			r := &Reconciler{}
			s := &sdepv1.SeldonDeploymentStatus{}
			r.observe(ds.sd, ds, live, s)
			if s.State != tt.state {
				t.Fatalf("state %s (%s), want %s; conditions %+v", s.State, s.Description, tt.state, s.Conditions)
			}
			if got := s.DeploymentStatus[comp].Status; got != tt.compState {
				t.Errorf("component status %s, want %s", got, tt.compState)
			}
			c := findCondition(s.Conditions, sdepv1.ConditionDeploymentsReady)
			if tt.inMessage != "" && (c == nil || !strings.Contains(c.Message, tt.inMessage) || !strings.Contains(c.Message, comp)) {
				t.Errorf("DeploymentsReady %+v lacks %q and %s", c, tt.inMessage, comp)
			}
			if tt.inMessage == "" && c != nil && (strings.Contains(c.Message, "scaled to zero") || strings.Contains(c.Message, "from zero")) {
				t.Errorf("DeploymentsReady %q speaks of zero", c.Message)
			}
			if h := findCondition(s.Conditions, sdepv1.ConditionHpasReady); tt.state == sdepv1.StateAvailable && (h == nil || h.Status != metav1.ConditionTrue) {
				t.Errorf("HpasReady %+v", h)
			}
			if avail := predictorsAvailable(ds, live.deployments); !avail[0] && tt.state == sdepv1.StateAvailable {
				t.Error("the predictor's traffic is withheld while its component is at or leaving zero")
			}
		})
	}

	// The same HPA condition on a Deployment that does not scale to zero
	// is a problem, as before.
	ds2, err := buildDesired(seedSD(t, "seed-v1.yaml"), resources.Options{ExecutorImage: "sdep:test"})
	if err != nil {
		t.Fatal(err)
	}
	live := liveFor(ds2, func(string, *appsv1.Deployment) {})
	for _, h := range live.hpas {
		h.(*autoscalingv2.HorizontalPodAutoscaler).Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{
			Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "ScalingDisabled"}}
	}
	if ok, _, msg := hpasHealthy(ds2, live); ok {
		t.Errorf("ScalingDisabled on an HPA whose target should not be at zero is healthy: %s", msg)
	}
}

func findCondition(cs []metav1.Condition, t string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}
