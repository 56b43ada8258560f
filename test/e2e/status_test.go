package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/testenv"
	"github.com/sdep-dev/sdep/internal/validation"
)

// A spec that cannot be realised (its Service name is taken by someone
// else's Service) is Failed with a description saying why.
func TestStatusFailedWhenAChildCannotBeCreated(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	sd := example(t, "seed-v1.yaml", ns)
	svcName := naming.PredictorServiceName(sd, &sd.Spec.Predictors[0])
	squatter := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svcName},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	if err := k8s.Create(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	got := waitForState(t, ns, sd.Name, sdepv1.StateFailed)
	if !strings.Contains(got.Status.Description, fmt.Sprintf("Service %q exists and is not controlled by this SeldonDeployment", svcName)) {
		t.Errorf("description %q", got.Status.Description)
	}
	if c := condition(t, got, sdepv1.ConditionReady); !strings.HasPrefix(c, "False ReconcileFailed") {
		t.Errorf("Ready: %s", c)
	}
	waitForEvent(t, ns, sd.Name, "Failed")

	// Freeing the name lets it recover.
	if err := k8s.Delete(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	// Nothing watches the squatter: an edit of the SeldonDeployment retries.
	editSD(t, ns, sd.Name, func(sd *sdepv1.SeldonDeployment) { sd.Labels = map[string]string{"retry": "1"} })
	waitForObject(t, "the Deployment after the name is free", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deploymentName(sd)}}, nil)
	waitForState(t, ns, sd.Name, sdepv1.StateCreating)
}

// A document the validator refuses (stored while no webhook was
// registered) is Failed with the validator's messages, and no child is made.
func TestStatusFailedWithTheValidatorsMessages(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	withoutWebhook(t)

	sd := example(t, "seed-v1.yaml", ns)
	sd.Spec.Protocol = "http"
	sd.Spec.Predictors[0].Graph.Name = "nothing"
	res := validation.Validate(sd)
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	got := waitForState(t, ns, sd.Name, sdepv1.StateFailed)
	for _, p := range res.Errors {
		if !strings.Contains(got.Status.Description, p.Error()) {
			t.Errorf("description lacks %q:\n%s", p.Error(), got.Status.Description)
		}
	}
	if c := condition(t, got, sdepv1.ConditionReady); !strings.HasPrefix(c, "False InvalidSpec") {
		t.Errorf("Ready: %s", c)
	}
	if names := ownedNames(t, ns, sd.Name); len(names) != 0 {
		t.Errorf("an invalid SeldonDeployment got children: %v", names)
	}
	waitForEvent(t, ns, sd.Name, "Failed")
}

// withoutWebhook removes the validating webhook configuration for the rest
// of the test and puts it back afterwards.
func withoutWebhook(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	list := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	if err := k8s.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		saved := list.Items[i].DeepCopy()
		if err := k8s.Delete(ctx, &list.Items[i]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			saved.ResourceVersion, saved.UID = "", ""
			if err := k8s.Create(ctx, saved); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Errorf("restoring the webhook configuration: %v", err)
			}
		})
	}
}

// An HPA that cannot scale (here: its target has no cpu request, as the HPA
// controller reports it) makes HpasReady False with the HPA's reason and
// message, and a Warning event; when it recovers, so does the condition.
func TestStatusReflectsHPAConditions(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	sd := example(t, "seed-v1.yaml", ns)
	if err := k8s.Create(ctx, sd); err != nil {
		t.Fatal(err)
	}
	depName := deploymentName(sd)
	waitForObject(t, "the Deployment", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: depName}}, nil)
	markDeploymentReady(t, ns, depName)
	waitForState(t, ns, sd.Name, sdepv1.StateAvailable)

	const msg = `the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container "classifier"`
	setHPAConditions(t, ns, depName, []autoscalingv2.HorizontalPodAutoscalerCondition{
		{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededGetScale", Message: "the HPA controller was able to get the target's current scale"},
		{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", Message: msg},
	})
	got := &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sd.Name}}
	waitForObject(t, "HpasReady to report the HPA's problem", got, func() error {
		if c := conditionText(got, sdepv1.ConditionHpasReady); !strings.Contains(c, "False FailedGetResourceMetric") || !strings.Contains(c, msg) {
			return fmt.Errorf("HpasReady: %s", c)
		}
		if got.Status.State == sdepv1.StateAvailable {
			return fmt.Errorf("still Available")
		}
		return nil
	})
	waitForEvent(t, ns, sd.Name, "FailedGetResourceMetric")

	setHPAConditions(t, ns, depName, []autoscalingv2.HorizontalPodAutoscalerCondition{
		{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"},
		{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound"},
		{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooFewReplicas", Message: "the desired replica count is less than the minimum replica count"},
	})
	got = waitForState(t, ns, sd.Name, sdepv1.StateAvailable)
	if c := condition(t, got, sdepv1.ConditionHpasReady); !strings.HasPrefix(c, "True") || !strings.Contains(c, "ScalingLimited TooFewReplicas") {
		t.Errorf("HpasReady: %s", c)
	}
}

func setHPAConditions(t *testing.T, ns, name string, conds []autoscalingv2.HorizontalPodAutoscalerCondition) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, h); err != nil {
			return err
		}
		now := metav1.Now()
		for i := range conds {
			conds[i].LastTransitionTime = now
		}
		h.Status.Conditions = conds
		h.Status.CurrentReplicas, h.Status.DesiredReplicas = 1, 1
		return k8s.Status().Update(context.Background(), h)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitForEvent waits for an events.k8s.io Event about the SeldonDeployment with reason.
func waitForEvent(t *testing.T, ns, sdName, reason string) {
	t.Helper()
	testenv.WaitFor(t, timeout, "a "+reason+" event", func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name == sdName && e.Reason == reason {
				return nil
			}
			seen = append(seen, e.Reason)
		}
		return fmt.Errorf("events so far: %v", seen)
	})
}

// eventReasons counts the events about a SeldonDeployment by reason.
func eventReasons(t *testing.T, ns, sdName string) map[string]int {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range list.Items {
		if e.Regarding.Name == sdName {
			n := 1
			if e.Series != nil {
				n = int(e.Series.Count)
			}
			counts[e.Reason] += n
		}
	}
	return counts
}
