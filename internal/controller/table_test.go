package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// The table test runs the reconciler against controller-runtime's fake
// client, without a control plane, in the style of Knative's TableTest:
// each row is the objects in (a SeldonDeployment and live children) and the
// writes, events and conditions out. Live children usually start converged:
// what one reconcile of the row's SeldonDeployment creates, then changed by
// the row's edit, as someone else would change them.

var tableScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(sdepv1.AddToScheme(s))
	return s
}()

// tableRow is one case.
type tableRow struct {
	name string
	// sd is the SeldonDeployment (default: the seed with a pdbSpec).
	sd func() *sdepv1.SeldonDeployment
	// converged: the children one reconcile of sd creates are live; edit
	// then changes them (and may delete or add objects through c).
	converged bool
	edit      func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment)
	// warm reconciles with the Reconciler that converged the children
	// (it has seen the server's answers); otherwise with a new one, as
	// after an operator restart.
	warm bool
	// fail makes the API answer a write with an error, by "Verb Kind" ("Create Service").
	fail map[string]error
	// wantErr: the reconcile returns an error (it does whenever fail is set).
	wantErr bool
	// keda: the ScaledObject CRD is served.
	keda bool
	// policy is the reconciler's validation policy.
	policy validation.Policy

	// Out: the writes ("Create Deployment/name"), dry-runs the same way,
	// event reasons ("Normal CreateService"), conditions as a prefix of
	// "Status Reason: message".
	wantWrites     []string
	wantDryRuns    []string
	wantEvents     []string
	wantConditions map[string]string
	// check inspects the objects afterwards, and the bodies of the writes.
	check func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment, rec *recorded)
}

// recorded is what the interceptor saw.
type recorded struct {
	mu      sync.Mutex
	writes  []string
	dryRuns []string
	// bodies are the patch bodies and created objects, by write.
	bodies map[string][]string
	uids   int
}

func (r *recorded) add(verb string, obj client.Object, dryRun bool, body string) {
	gvk := kindOf(obj)
	key := fmt.Sprintf("%s %s/%s", verb, gvk.Kind, obj.GetName())
	r.mu.Lock()
	defer r.mu.Unlock()
	if dryRun {
		r.dryRuns = append(r.dryRuns, key)
		return
	}
	r.writes = append(r.writes, key)
	if r.bodies == nil {
		r.bodies = map[string][]string{}
	}
	r.bodies[key] = append(r.bodies[key], body)
}

// interceptors record every write and fail those the row asks to.
func (r *recorded) interceptors(fail map[string]error) interceptor.Funcs {
	failure := func(verb string, obj client.Object) error {
		return fail[verb+" "+kindOf(obj).Kind]
	}
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			o := &client.CreateOptions{}
			o.ApplyOptions(opts)
			data, _ := toMap(obj)
			r.add("Create", obj, len(o.DryRun) > 0, fmt.Sprint(data))
			if err := failure("Create", obj); err != nil {
				return err
			}
			if obj.GetUID() == "" {
				// The fake client does not give objects a UID; the API server does.
				r.mu.Lock()
				r.uids++
				obj.SetUID(types.UID(fmt.Sprintf("uid-%d", r.uids)))
				r.mu.Unlock()
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			o := &client.UpdateOptions{}
			o.ApplyOptions(opts)
			r.add("Update", obj, len(o.DryRun) > 0, "")
			if err := failure("Update", obj); err != nil {
				return err
			}
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			o := &client.PatchOptions{}
			o.ApplyOptions(opts)
			body, err := patch.Data(obj)
			if err != nil {
				return err
			}
			dry := len(o.DryRun) > 0
			r.add("Patch", obj, dry, string(body))
			if err := failure("Patch", obj); err != nil && !dry {
				return err
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			r.add("Delete", obj, false, "")
			if err := failure("Delete", obj); err != nil {
				return err
			}
			return c.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			r.add("Patch", obj, false, sub)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			r.add("Update", obj, false, sub)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}
}

func kindOf(obj client.Object) schema.GroupVersionKind {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.GroupVersionKind()
	}
	gvk, _ := apiutil.GVKForObject(obj, tableScheme)
	return gvk
}

func seedSD(t *testing.T, file string) *sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents(file, data)
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0].Object.DeepCopy()
	sd.Namespace, sd.UID, sd.Generation = "ns", "sd-uid", 1
	return sd
}

// seedWithPDB is the autoscaled seed with a pdbSpec: two Services, an HPA,
// a PDB and a Deployment.
func seedWithPDB(t *testing.T) func() *sdepv1.SeldonDeployment {
	return func() *sdepv1.SeldonDeployment {
		sd := seedSD(t, "seed-v1.yaml")
		one := intstr.FromInt32(1)
		sd.Spec.Predictors[0].ComponentSpecs[0].PdbSpec = &sdepv1.SeldonPdbSpec{MinAvailable: &one}
		return sd
	}
}

// fixedSeed is the seed without an autoscaler, at replicas n.
func fixedSeed(t *testing.T, n int32) func() *sdepv1.SeldonDeployment {
	return func() *sdepv1.SeldonDeployment {
		sd := seedSD(t, "seed-v1.yaml")
		sd.Spec.Predictors[0].ComponentSpecs[0].HpaSpec = nil
		sd.Spec.Predictors[0].Replicas = &n
		return sd
	}
}

func newTableReconciler(c client.Client, rec events.EventRecorder, keda bool) *Reconciler {
	opts := resources.DefaultOptions()
	opts.ExecutorImage = "sdep:test"
	return &Reconciler{Client: c, Recorder: rec, Options: opts, ScaledObjectsServed: keda}
}

const hostNetworkField = "spec.predictors[0].componentSpecs[0].spec.hostNetwork"

// hostNetworkSeed is the seed with a pdbSpec whose pods use the node's network.
func hostNetworkSeed(t *testing.T) func() *sdepv1.SeldonDeployment {
	return func() *sdepv1.SeldonDeployment {
		sd := seedWithPDB(t)()
		sd.Spec.Predictors[0].ComponentSpecs[0].Spec.HostNetwork = true
		return sd
	}
}

// kedaSeed is the seed scaled by KEDA instead of an HPA.
func kedaSeed(t *testing.T) func() *sdepv1.SeldonDeployment {
	return func() *sdepv1.SeldonDeployment {
		sd := seedSD(t, "seed-v1.yaml")
		comp := &sd.Spec.Predictors[0].ComponentSpecs[0]
		comp.HpaSpec = nil
		comp.KedaSpec = &sdepv1.SeldonScaledObjectSpec{
			MinReplicaCount: new(int32(1)), MaxReplicaCount: new(int32(5)),
			Triggers: []sdepv1.KedaScaleTrigger{{Type: "prometheus", Metadata: map[string]string{
				"serverAddress": "http://prometheus:9090", "threshold": "10", "query": "sum(rate(x[1m]))",
			}}},
		}
		return sd
	}
}

func reconcileOnce(t *testing.T, r *Reconciler, sd *sdepv1.SeldonDeployment) error {
	t.Helper()
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sd)})
	return err
}

func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			f := strings.Fields(e)
			if len(f) >= 2 {
				out = append(out, f[0]+" "+f[1])
			}
		default:
			return out
		}
	}
}

func runRow(t *testing.T, row tableRow) {
	ctx := context.Background()
	sd := seedWithPDB(t)()
	if row.sd != nil {
		sd = row.sd()
	}
	rec := &recorded{}
	c := fake.NewClientBuilder().WithScheme(tableScheme).
		WithObjects(sd).
		WithStatusSubresource(&sdepv1.SeldonDeployment{}).
		WithInterceptorFuncs(rec.interceptors(row.fail)).
		Build()
	events := events.NewFakeRecorder(100)
	r := newTableReconciler(c, events, row.keda)
	r.Policy = row.policy
	if row.converged {
		if err := reconcileOnce(t, r, sd); err != nil {
			t.Fatalf("converging: %v", err)
		}
		drain(events)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(sd), sd); err != nil {
		t.Fatal(err)
	}
	if row.edit != nil {
		row.edit(t, c, sd)
	}
	if !row.warm {
		r = newTableReconciler(c, events, row.keda)
		r.Policy = row.policy
	}
	rec.mu.Lock()
	rec.writes, rec.dryRuns, rec.bodies = nil, nil, nil
	rec.mu.Unlock()

	err := reconcileOnce(t, r, sd)
	if wantErr := row.wantErr || len(row.fail) > 0; wantErr != (err != nil) {
		t.Errorf("reconcile returned %v; want an error: %v", err, wantErr)
	}
	sortedEq := func(what string, got, want []string) {
		t.Helper()
		got, want = slices.Clone(got), slices.Clone(want)
		sort.Strings(got)
		sort.Strings(want)
		if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	sortedEq("writes", rec.writes, row.wantWrites)
	sortedEq("dry-runs", rec.dryRuns, row.wantDryRuns)
	sortedEq("events", drain(events), row.wantEvents)

	got := &sdepv1.SeldonDeployment{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(sd), got); err != nil {
		t.Fatal(err)
	}
	for typ, want := range row.wantConditions {
		c := meta.FindStatusCondition(got.Status.Conditions, typ)
		if c == nil {
			t.Errorf("no %s condition in %+v", typ, got.Status.Conditions)
			continue
		}
		text := string(c.Status) + " " + c.Reason + ": " + c.Message
		if !strings.HasPrefix(text, want) {
			t.Errorf("%s = %q, want %q", typ, text, want)
		}
	}
	if row.check != nil {
		row.check(t, c, got, rec)
	}
}

var cmpEmpty = cmp.Comparer(slices.Equal[[]string])

// The children the seed with a pdbSpec gets.
const (
	seedDeployment = "seldon-model-example-0-my-dep"
	seedService    = "seldon-model-example"
	seedPodService = "seldon-model-example-classifier"
)

func allCreates() []string {
	return []string{
		"Create Service/" + seedService, "Create Service/" + seedPodService,
		"Create HorizontalPodAutoscaler/" + seedDeployment, "Create PodDisruptionBudget/" + seedDeployment,
		"Create Deployment/" + seedDeployment, "Patch SeldonDeployment/seldon-model",
	}
}

func getDeployment(t *testing.T, c client.Client, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

func editDeployment(t *testing.T, c client.Client, name string, edit func(*appsv1.Deployment)) {
	t.Helper()
	d := getDeployment(t, c, name)
	edit(d)
	if err := c.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func executor(d *appsv1.Deployment) *corev1.Container {
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == validation.ExecutorContainerName {
			return c
		}
	}
	return &corev1.Container{}
}

func TestReconcileTable(t *testing.T) {
	internal := apierrors.NewInternalError(errors.New("etcd is sad"))
	rows := []tableRow{{
		name:       "create all",
		wantWrites: allCreates(),
		wantEvents: []string{"Normal CreateService", "Normal CreateService", "Normal CreateHorizontalPodAutoscaler",
			"Normal CreatePodDisruptionBudget", "Normal CreateDeployment"},
		wantConditions: map[string]string{
			sdepv1.ConditionServicesReady: "True ServicesReady", sdepv1.ConditionHpasReady: "True HPAsReady",
			sdepv1.ConditionPdbsReady: "True PDBsReady", sdepv1.ConditionDeploymentsReady: "False DeploymentsNotReady",
			sdepv1.ConditionReady: "False NotReady",
		},
		check: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment, rec *recorded) {
			d := getDeployment(t, c, seedDeployment)
			if d.Spec.Replicas != nil {
				t.Errorf("autoscaled Deployment created with replicas %d", *d.Spec.Replicas)
			}
			if want := "seldon-deployment-id=seldon-model"; sd.Status.Selector != want {
				t.Errorf("status.selector %q, want %q", sd.Status.Selector, want)
			}
		},
	}, {
		name:      "steady state: no writes, no dry-runs, no events",
		converged: true,
	}, {
		name:      "steady state seen by the reconciler that wrote it",
		converged: true, warm: true,
	}, {
		name:      "a label someone else adds is left alone",
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) { d.Labels["example.com/touched"] = "yes" })
		},
	}, {
		name:      "drift: allowPrivilegeEscalation true is put back to false",
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) {
				executor(d).SecurityContext.AllowPrivilegeEscalation = new(true)
			})
		},
		// A new reconciler has not seen how the server stores the Deployment: one dry-run.
		wantDryRuns: []string{"Patch Deployment/" + seedDeployment},
		wantWrites:  []string{"Patch Deployment/" + seedDeployment},
		wantEvents:  []string{"Normal UpdateDeployment"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, rec *recorded) {
			if ape := executor(getDeployment(t, c, seedDeployment)).SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape {
				t.Errorf("allowPrivilegeEscalation %v, want false", ape)
			}
		},
	}, {
		name:      "drift seen by the reconciler that wrote it: no dry-run",
		converged: true, warm: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) {
				executor(d).SecurityContext.AllowPrivilegeEscalation = new(true)
			})
		},
		wantWrites: []string{"Patch Deployment/" + seedDeployment},
		wantEvents: []string{"Normal UpdateDeployment"},
	}, {
		name:      "drift: replicas of a fixed Deployment scaled by hand",
		sd:        fixedSeed(t, 2),
		converged: true, warm: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(5)) })
		},
		wantWrites: []string{"Patch Deployment/" + seedDeployment},
		wantEvents: []string{"Normal UpdateDeployment"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			if r := getDeployment(t, c, seedDeployment).Spec.Replicas; r == nil || *r != 2 {
				t.Errorf("replicas %v, want 2", r)
			}
		},
	}, {
		name:      "drift: replicas away from a desired 0",
		sd:        fixedSeed(t, 0),
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(3)) })
		},
		wantDryRuns: []string{"Patch Deployment/" + seedDeployment},
		wantWrites:  []string{"Patch Deployment/" + seedDeployment},
		wantEvents:  []string{"Normal UpdateDeployment"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			if r := getDeployment(t, c, seedDeployment).Spec.Replicas; r == nil || *r != 0 {
				t.Errorf("replicas %v, want 0", r)
			}
		},
	}, {
		name:      "drift: a Service port",
		converged: true, warm: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			svc := &corev1.Service{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedService}, svc); err != nil {
				t.Fatal(err)
			}
			svc.Spec.Ports[0].Port = 9999
			if err := c.Update(context.Background(), svc); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Patch Service/" + seedService},
		wantEvents: []string{"Normal UpdateService"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			svc := &corev1.Service{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedService}, svc); err != nil {
				t.Fatal(err)
			}
			var ports []int32
			for _, p := range svc.Spec.Ports {
				ports = append(ports, p.Port)
			}
			if !slices.Equal(ports, []int32{8000, 5001}) {
				t.Errorf("ports %v, want [8000 5001]", ports)
			}
		},
	}, {
		name:      "a deleted child is recreated",
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			if err := c.Delete(context.Background(), getDeployment(t, c, seedDeployment)); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Create Deployment/" + seedDeployment},
		wantEvents: []string{"Normal CreateDeployment"},
	}, {
		name:      "a stale child is deleted",
		converged: true,
		edit: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment) {
			d := getDeployment(t, c, seedDeployment).DeepCopy()
			d.Name, d.ResourceVersion, d.UID = "seldon-model-gone-0-old", "", ""
			if err := c.Create(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Delete Deployment/seldon-model-gone-0-old"},
		wantEvents: []string{"Normal DeleteDeployment"},
	}, {
		name:      "an autoscaled Deployment never gets replicas, even when it is patched",
		converged: true, warm: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) {
				d.Spec.Replicas = new(int32(7)) // the HPA's choice
				executor(d).SecurityContext.AllowPrivilegeEscalation = new(true)
			})
		},
		wantWrites: []string{"Patch Deployment/" + seedDeployment},
		wantEvents: []string{"Normal UpdateDeployment"},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, rec *recorded) {
			for _, body := range rec.bodies["Patch Deployment/"+seedDeployment] {
				if strings.Contains(body, `"replicas"`) {
					t.Errorf("a patch of an autoscaled Deployment carries replicas: %s", body)
				}
			}
			if r := getDeployment(t, c, seedDeployment).Spec.Replicas; r == nil || *r != 7 {
				t.Errorf("replicas %v, want the HPA's 7", r)
			}
		},
	}, {
		name:      "an autoscaled Deployment's replicas changed by the HPA: no write",
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			editDeployment(t, c, seedDeployment, func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(7)) })
		},
	}, {
		name:       "API error creating a Service: ServicesReady False, the rest is created",
		fail:       map[string]error{"Create Service": internal},
		wantWrites: allCreates(),
		wantEvents: []string{"Warning CreateServiceFailed", "Warning CreateServiceFailed", "Normal CreateHorizontalPodAutoscaler",
			"Normal CreatePodDisruptionBudget", "Normal CreateDeployment", "Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionServicesReady: `False CreateFailed: create Service "seldon-model-example": Internal error occurred: etcd is sad`,
			sdepv1.ConditionHpasReady:     "True", sdepv1.ConditionPdbsReady: "True",
			sdepv1.ConditionReady: "False ReconcileFailed",
		},
	}, {
		name:      "API error restoring a PDB: PdbsReady False",
		converged: true,
		fail:      map[string]error{"Patch PodDisruptionBudget": apierrors.NewForbidden(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, seedDeployment, errors.New("no"))},
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			pdb := &policyv1.PodDisruptionBudget{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedDeployment}, pdb); err != nil {
				t.Fatal(err)
			}
			two := intstr.FromInt32(2)
			pdb.Spec.MinAvailable = &two
			if err := c.Update(context.Background(), pdb); err != nil {
				t.Fatal(err)
			}
		},
		wantDryRuns: []string{"Patch PodDisruptionBudget/" + seedDeployment},
		wantWrites:  []string{"Patch PodDisruptionBudget/" + seedDeployment, "Patch SeldonDeployment/seldon-model"},
		wantEvents:  []string{"Warning UpdatePodDisruptionBudgetFailed", "Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionPdbsReady:     `False UpdateFailed: update PodDisruptionBudget "` + seedDeployment + `": poddisruptionbudgets.policy "` + seedDeployment + `" is forbidden`,
			sdepv1.ConditionServicesReady: "True", sdepv1.ConditionDeploymentsReady: "False DeploymentsNotReady",
			sdepv1.ConditionReady: "False ReconcileFailed",
		},
	}, {
		name:      "a PDB that can never be satisfied: PdbsReady False",
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			pdb := &policyv1.PodDisruptionBudget{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedDeployment}, pdb); err != nil {
				t.Fatal(err)
			}
			pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, ExpectedPods: 1, DesiredHealthy: 3}
			if err := c.Status().Update(context.Background(), pdb); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Warning PDBUnsatisfiable"},
		wantConditions: map[string]string{
			sdepv1.ConditionPdbsReady: "False PDBUnsatisfiable: " + seedDeployment + ": needs 3 healthy pods but its selector matches 1",
		},
	}, {
		name:      "a Service name taken by someone else: ServicesReady False NotControlled",
		converged: true,
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			svc := &corev1.Service{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedPodService}, svc); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(context.Background(), svc); err != nil {
				t.Fatal(err)
			}
			squatter := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: seedPodService},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
			if err := c.Create(context.Background(), squatter); err != nil {
				t.Fatal(err)
			}
		},
		wantErr:    true,
		wantWrites: []string{"Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionServicesReady: `False NotControlled: Service "` + seedPodService + `" exists and is not controlled by this SeldonDeployment`,
			sdepv1.ConditionReady:         "False ReconcileFailed",
		},
	}, {
		name:      "API error restoring an HPA: HpasReady False",
		converged: true, warm: true,
		fail: map[string]error{"Patch HorizontalPodAutoscaler": internal},
		edit: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment) {
			hpa := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: seedDeployment}, hpa); err != nil {
				t.Fatal(err)
			}
			hpa.Spec.MaxReplicas = 40
			if err := c.Update(context.Background(), hpa); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Patch HorizontalPodAutoscaler/" + seedDeployment, "Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Warning UpdateHorizontalPodAutoscalerFailed", "Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionHpasReady: `False UpdateFailed: update HorizontalPodAutoscaler "` + seedDeployment + `": Internal error occurred: etcd is sad`,
			sdepv1.ConditionReady:     "False ReconcileFailed",
		},
	}, {
		name:       "KEDA: ScaledObject created, the Deployment has no replicas",
		sd:         kedaSeed(t),
		keda:       true,
		wantWrites: []string{"Create Service/" + seedService, "Create Service/" + seedPodService, "Create ScaledObject/" + seedDeployment, "Create Deployment/" + seedDeployment, "Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Normal CreateService", "Normal CreateService", "Normal CreateScaledObject", "Normal CreateDeployment"},
		wantConditions: map[string]string{
			sdepv1.ConditionKedaReady: "True ScaledObjectsReady",
		},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			if r := getDeployment(t, c, seedDeployment).Spec.Replicas; r != nil {
				t.Errorf("a Deployment scaled by KEDA created with replicas %d", *r)
			}
		},
	}, {
		name:       "API error creating a ScaledObject: KedaReady False",
		sd:         kedaSeed(t),
		keda:       true,
		fail:       map[string]error{"Create ScaledObject": internal},
		wantWrites: []string{"Create Service/" + seedService, "Create Service/" + seedPodService, "Create ScaledObject/" + seedDeployment, "Create Deployment/" + seedDeployment, "Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Normal CreateService", "Normal CreateService", "Warning CreateScaledObjectFailed", "Normal CreateDeployment", "Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionKedaReady: `False CreateFailed: create ScaledObject "` + seedDeployment + `": Internal error occurred: etcd is sad`,
			sdepv1.ConditionReady:     "False ReconcileFailed",
		},
	}, {
		name:       "API error creating the Deployment: DeploymentsReady False",
		fail:       map[string]error{"Create Deployment": internal},
		wantWrites: allCreates(),
		wantEvents: []string{"Normal CreateService", "Normal CreateService", "Normal CreateHorizontalPodAutoscaler",
			"Normal CreatePodDisruptionBudget", "Warning CreateDeploymentFailed", "Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionDeploymentsReady: `False CreateFailed: create Deployment "` + seedDeployment + `": Internal error occurred: etcd is sad`,
			sdepv1.ConditionServicesReady:    "True", sdepv1.ConditionReady: "False ReconcileFailed",
		},
	}, {
		name:      "API error deleting a stale child: DeploymentsReady False DeleteFailed",
		converged: true,
		fail:      map[string]error{"Delete Deployment": internal},
		edit: func(t *testing.T, c client.Client, sd *sdepv1.SeldonDeployment) {
			d := getDeployment(t, c, seedDeployment).DeepCopy()
			d.Name, d.ResourceVersion, d.UID = "seldon-model-gone-0-old", "", ""
			if err := c.Create(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		},
		wantWrites: []string{"Delete Deployment/seldon-model-gone-0-old", "Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Warning DeleteDeploymentFailed", "Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionDeploymentsReady: `False DeleteFailed: delete Deployment "seldon-model-gone-0-old": Internal error occurred`,
		},
	}, {
		name:       "hostNetwork: created as written, with a SpecWarnings condition and a Warning event",
		sd:         hostNetworkSeed(t),
		wantWrites: allCreates(),
		wantEvents: []string{"Normal CreateService", "Normal CreateService", "Normal CreateHorizontalPodAutoscaler",
			"Normal CreatePodDisruptionBudget", "Normal CreateDeployment", "Warning FieldsIgnored"},
		wantConditions: map[string]string{
			sdepv1.ConditionSpecWarnings: "True FieldsIgnored: " + hostNetworkField + ": the pod uses the node's network namespace",
			sdepv1.ConditionReady:        "False NotReady",
		},
		check: func(t *testing.T, c client.Client, _ *sdepv1.SeldonDeployment, _ *recorded) {
			if !getDeployment(t, c, seedDeployment).Spec.Template.Spec.HostNetwork {
				t.Error("the Deployment's pods lost hostNetwork")
			}
		},
	}, {
		name:       "hostNetwork under --refuse-privileged: InvalidSpec, no children",
		sd:         hostNetworkSeed(t),
		policy:     validation.Policy{RefusePrivileged: true},
		wantWrites: []string{"Patch SeldonDeployment/seldon-model"},
		wantEvents: []string{"Warning Failed"},
		wantConditions: map[string]string{
			sdepv1.ConditionReady: "False InvalidSpec: invalid SeldonDeployment:\n" + hostNetworkField + ": the pod uses the node's network namespace",
		},
		check: func(t *testing.T, _ client.Client, sd *sdepv1.SeldonDeployment, _ *recorded) {
			if sd.Status.State != sdepv1.StateFailed || !strings.Contains(sd.Status.Description, "--refuse-privileged") {
				t.Errorf("state %q, description %q", sd.Status.State, sd.Status.Description)
			}
			if c := meta.FindStatusCondition(sd.Status.Conditions, sdepv1.ConditionSpecWarnings); c != nil {
				t.Errorf("the refused field is also a warning: %+v", c)
			}
		},
	}}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) { runRow(t, row) })
	}
}

// The label of the SeldonDeployment's pods in status.selector is the one
// its Deployments' pod templates carry.
func TestStatusSelectorSelectsThePods(t *testing.T) {
	sd := seedWithPDB(t)()
	objs, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.ParseToLabelSelector(podSelector(sd))
	if err != nil {
		t.Fatal(err)
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range objs.Deployments {
		if !s.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("status.selector %q does not select %s's pods %v", podSelector(sd), d.Name, d.Spec.Template.Labels)
		}
	}
	if got := sel.MatchLabels[naming.LabelSeldonID]; got != naming.SeldonID(sd) {
		t.Errorf("selector %v", sel)
	}
}
