package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/operator"
	"github.com/sdep-dev/sdep/internal/validation"
	"github.com/sdep-dev/sdep/internal/validation/validationtest"
)

// invalidDocuments break the seed in ways only sdep's validator catches.
// (Those the CRD schema already refuses, such as no predictors or negative
// replicas, never reach the webhook.)
var invalidDocuments = []struct {
	name   string
	mutate func(sd *sdepv1.SeldonDeployment)
}{
	{"protocol", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Protocol = "http" }},
	{"single predictor traffic", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors[0].Traffic = 30 }},
	{"only predictor is shadow", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors[0].Shadow = true }},
	{"executor name reserved", func(sd *sdepv1.SeldonDeployment) {
		c := &sd.Spec.Predictors[0].ComponentSpecs[0]
		c.Spec.Containers = append(c.Spec.Containers, corev1.Container{Name: validation.ExecutorContainerName, Image: "x"})
	}},
	{"pdb fields exclusive", func(sd *sdepv1.SeldonDeployment) {
		one := intstr.FromInt32(1)
		sd.Spec.Predictors[0].ComponentSpecs[0].PdbSpec = &sdepv1.SeldonPdbSpec{MinAvailable: &one, MaxUnavailable: &one}
	}},
	{"min above max", func(sd *sdepv1.SeldonDeployment) {
		sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec.MinReplicas = ptr.To[int32](9)
	}},
	{"cpu target without cpu request", func(sd *sdepv1.SeldonDeployment) {
		sd.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	}},
	{"graph node without container", func(sd *sdepv1.SeldonDeployment) { sd.Spec.Predictors[0].Graph.Name = "nothing" }},
	{"many problems at once", func(sd *sdepv1.SeldonDeployment) {
		sd.Spec.Protocol = "http"
		sd.Spec.Transport = "tcp"
		sd.Spec.Predictors[0].Graph.Name = "nothing"
	}},
}

// Every invalid document is refused by the webhook with exactly the
// validator's messages (those sdep validate prints), on create and on update.
func TestWebhookRejectsInvalidDocuments(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	valid := example(t, "seed-v1.yaml", ns)
	valid.Name = "valid"
	if err := k8s.Create(ctx, valid.DeepCopy()); err != nil {
		t.Fatalf("the valid seed was refused: %v", err)
	}
	for _, tc := range invalidDocuments {
		t.Run(tc.name, func(t *testing.T) {
			sd := example(t, "seed-v1.yaml", ns)
			sd.Name = "invalid"
			tc.mutate(sd)
			res := validation.Validate(sd)
			if len(res.Errors) == 0 {
				t.Fatal("the validator accepts this document: the case is wrong")
			}
			check := func(op string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: admitted", op)
				}
				msg := err.Error()
				if !strings.Contains(msg, `admission webhook "vseldondeployment.sdep.dev" denied the request`) {
					t.Errorf("%s: not refused by the webhook: %v", op, err)
				}
				for _, p := range res.Errors {
					if !strings.Contains(msg, p.Error()) {
						t.Errorf("%s: the refusal lacks %q:\n%s", op, p.Error(), msg)
					}
				}
			}
			check("create", k8s.Create(ctx, sd))

			// The operator writes status meanwhile: retry lost races, not refusals.
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				stored := &sdepv1.SeldonDeployment{}
				if err := k8s.Get(ctx, client.ObjectKeyFromObject(valid), stored); err != nil {
					return err
				}
				stored.Spec = sd.Spec
				return k8s.Update(ctx, stored)
			})
			check("update", err)
		})
	}
}

// Every case of the validator's own rule table is refused on create: by the
// webhook with exactly the validator's messages, or, for the few rules the
// CRD schema or the API server's name rules already enforce, by the API
// server with an error naming the same field.
func TestWebhookRejectsEveryValidatorCase(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	startManager(t, ns)
	byWebhook, bySchema := 0, 0
	for i, tc := range validationtest.InvalidCases() {
		t.Run(tc.Name, func(t *testing.T) {
			sd := validationtest.Base()
			sd.Namespace = ns
			sd.Name = fmt.Sprintf("case-%d", i)
			tc.Mutate(sd)
			res := validation.Validate(sd)
			if len(res.Errors) == 0 {
				t.Fatal("the validator accepts this document: the case is wrong")
			}
			err := k8s.Create(ctx, sd)
			if err == nil {
				t.Fatal("admitted")
			}
			msg := err.Error()
			if strings.Contains(msg, `admission webhook "vseldondeployment.sdep.dev" denied the request`) {
				byWebhook++
				for _, p := range res.Errors {
					if !strings.Contains(msg, p.Error()) {
						t.Errorf("the refusal lacks %q:\n%s", p.Error(), msg)
					}
				}
				return
			}
			bySchema++
			if !apierrors.IsInvalid(err) || !strings.Contains(msg, tc.Want.Field) {
				t.Errorf("refused, but neither by the webhook nor as invalid at %s: %v", tc.Want.Field, err)
			}
		})
	}
	t.Logf("%d cases refused by the webhook, %d by the API server's schema or name rules", byWebhook, bySchema)
	if byWebhook == 0 {
		t.Error("no case reached the webhook")
	}
}

// Warnings (fields accepted but not acted on) come back as admission
// warnings, the document is stored, and the operator reports them in a
// SpecWarnings condition and a Warning event.
func TestWebhookReturnsWarnings(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns)
	sd := example(t, "seed-v1.yaml", ns)
	// An explainer without a type deploys nothing: a warning.
	sd.Spec.Predictors[0].Explainer = &sdepv1.Explainer{ModelURI: "gs://bucket/explainer"}
	res := validation.Validate(sd)
	if len(res.Errors) != 0 || len(res.Warnings) == 0 {
		t.Fatalf("the case needs a valid document with warnings: %v", res)
	}
	warnings := &warningRecorder{}
	wcfg := rest.CopyConfig(cfg)
	wcfg.WarningHandler = warnings
	c, err := client.New(wcfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), sd); err != nil {
		t.Fatalf("a document with warnings only was refused: %v", err)
	}
	got := strings.Join(warnings.all(), "\n")
	for _, w := range res.Warnings {
		if !strings.Contains(got, w.Error()) {
			t.Errorf("warning %q not returned; got %q", w.Error(), got)
		}
	}

	stored := &sdepv1.SeldonDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sd.Name}}
	waitForObject(t, "a SpecWarnings condition", stored, func() error {
		c := conditionText(stored, sdepv1.ConditionSpecWarnings)
		if !strings.HasPrefix(c, "True FieldsIgnored") || !strings.Contains(c, res.Warnings.Error()) {
			return fmt.Errorf("SpecWarnings: %q", c)
		}
		return nil
	})
	waitForEvent(t, ns, sd.Name, "FieldsIgnored")
}

type warningRecorder struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, text)
}

func (w *warningRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.messages...)
}

// hostNetworkSeed is the seed in ns whose pods use the node's network.
func hostNetworkSeed(t *testing.T, ns string) *sdepv1.SeldonDeployment {
	sd := example(t, "seed-v1.yaml", ns)
	sd.Name = "host-net"
	sd.Spec.Predictors[0].ComponentSpecs[0].Spec.HostNetwork = true
	return sd
}

const hostNetworkProblem = "spec.predictors[0].componentSpecs[0].spec.hostNetwork: the pod uses the node's network namespace"

// A pod with access to its node is admitted, with an admission warning
// naming the field, by an operator with the default policy.
func TestWebhookWarnsOfNodeAccess(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns)
	warnings := &warningRecorder{}
	wcfg := rest.CopyConfig(cfg)
	wcfg.WarningHandler = warnings
	c, err := client.New(wcfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), hostNetworkSeed(t, ns)); err != nil {
		t.Fatalf("refused without --refuse-privileged: %v", err)
	}
	if got := strings.Join(warnings.all(), "\n"); !strings.Contains(got, hostNetworkProblem) {
		t.Errorf("warnings %q lack %q", got, hostNetworkProblem)
	}
}

// An operator with RefusePrivileged (--refuse-privileged) denies it, naming
// the same field.
func TestWebhookRefusesNodeAccessWhenAsked(t *testing.T) {
	ns := newNamespace(t)
	startManagerWith(t, ns, cfg, validation.Policy{RefusePrivileged: true})
	err := k8s.Create(context.Background(), hostNetworkSeed(t, ns))
	if err == nil {
		t.Fatal("admitted under --refuse-privileged")
	}
	msg := err.Error()
	if !strings.Contains(msg, `admission webhook "vseldondeployment.sdep.dev" denied the request`) || !strings.Contains(msg, hostNetworkProblem) {
		t.Errorf("not denied by the webhook with %q: %v", hostNetworkProblem, err)
	}
}
