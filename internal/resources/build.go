package resources

import (
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// Objects are the desired objects of one SeldonDeployment. Each slice is in
// document order: predictors as listed, then componentSpecs as listed,
// then (Services) containers as listed. A predictor's executor Deployment,
// when it has one of its own, follows its componentSpecs' Deployments; its
// explainer's comes last.
type Objects struct {
	Deployments   []*appsv1.Deployment
	Services      []*corev1.Service
	HPAs          []*autoscalingv2.HorizontalPodAutoscaler
	PDBs          []*policyv1.PodDisruptionBudget
	ScaledObjects []*unstructured.Unstructured // keda.sh/v1alpha1 ScaledObject
}

// Object is any built object; the same method set as controller-runtime's
// client.Object, without importing it.
type Object interface {
	metav1.Object
	runtime.Object
}

// All returns every object: Deployments, Services, HPAs,
// PodDisruptionBudgets, then ScaledObjects.
func (o *Objects) All() []Object {
	var all []Object
	for _, d := range o.Deployments {
		all = append(all, d)
	}
	for _, s := range o.Services {
		all = append(all, s)
	}
	for _, h := range o.HPAs {
		all = append(all, h)
	}
	for _, p := range o.PDBs {
		all = append(all, p)
	}
	for _, s := range o.ScaledObjects {
		all = append(all, s)
	}
	return all
}

// Result is what Build decided for one SeldonDeployment: the defaulted
// document it built from, every object, and a record per Deployment. The
// operator applies the objects, `sdep render` prints them and `sdep serve`
// runs the records; none of them re-derives a name, a default or a replica
// count.
type Result struct {
	// SeldonDeployment is the document after validation.Default: the one
	// the objects describe.
	SeldonDeployment *sdepv1.SeldonDeployment
	Objects
	// Components has one record per Deployment, in Objects.Deployments order.
	Components []Component
}

// Component is one Deployment and what belongs to it.
type Component struct {
	// Predictor indexes spec.predictors; ComponentSpec its componentSpecs,
	// or is -1 for the executor's own Deployment (<sdep>-<predictor>-svc-orch,
	// see predictor.ExecutorComponent) and for the explainer's.
	Predictor, ComponentSpec int
	// Name is the componentSpec's name (naming.ComponentName), or the
	// Deployment's name for the executor's own Deployment and the explainer's.
	Name       string
	Deployment *appsv1.Deployment
	// Services are the Services of the graph containers in this pod.
	Services     []*corev1.Service
	HPA          *autoscalingv2.HorizontalPodAutoscaler
	PDB          *policyv1.PodDisruptionBudget
	ScaledObject *unstructured.Unstructured
	// EnginePredictor is the executor's ENGINE_PREDICTOR payload when this
	// pod runs the executor, else "".
	EnginePredictor string
	// Replicas says who sets the Deployment's spec.replicas.
	Replicas ReplicaPolicy
	// Explainer is true for the predictor's explainer Deployment
	// (ComponentSpec is -1; it runs no executor).
	Explainer bool
}

// Build returns what sd asks for. It works on a deep copy of sd with
// validation.Default applied (returned as Result.SeldonDeployment), so sd
// itself is never changed. Build does not validate (call
// validation.Validate first; on an invalid document Build neither panics
// nor promises anything useful), but it refuses a document whose objects
// it cannot name: one without metadata.name, or two objects of the same
// kind with the same name.
//
// Fields validation only warns about (ssl, kafka, seldon.io/no-engine, ...)
// build nothing of their own. The executor runs in componentSpecs[0]'s pods,
// or in a Deployment of its own where predictor.ExecutorComponent says so
// (seldon.io/engine-separate-pod, a componentSpec that scales to zero, no
// componentSpecs at all).
func Build(in *sdepv1.SeldonDeployment, opts Options) (*Result, error) {
	if in == nil {
		return nil, errors.New("no SeldonDeployment to build")
	}
	if in.Name == "" {
		return nil, errors.New("metadata.name: required: every object sdep creates is named after it")
	}
	opts = opts.complete()
	sd := in.DeepCopy()
	validation.Default(sd, opts.Predictor)

	res := &Result{SeldonDeployment: sd}
	for i := range sd.Spec.Predictors {
		if err := res.addPredictor(sd, i, opts); err != nil {
			return nil, fmt.Errorf("spec.predictors[%d]: %w", i, err)
		}
	}
	if err := res.checkNames(); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *Result) addPredictor(sd *sdepv1.SeldonDeployment, i int, opts Options) error {
	p := &sd.Spec.Predictors[i]
	r.Services = append(r.Services, MakePredictorService(sd, p, opts))
	executorAt := predictor.ExecutorComponent(sd, p)
	for j := range p.ComponentSpecs {
		cs := &p.ComponentSpecs[j]
		if len(cs.Spec.Containers) == 0 && j != executorAt {
			continue // a pod without containers cannot exist; validation reports it
		}
		d, err := MakeDeployment(sd, p, j, opts)
		if err != nil {
			return fmt.Errorf("componentSpecs[%d]: %w", j, err)
		}
		c := Component{
			Predictor: i, ComponentSpec: j, Name: naming.ComponentName(cs), Deployment: d,
			EnginePredictor: enginePayload(d), Replicas: ComponentReplicaPolicy(sd, p, j),
		}
		r.Deployments = append(r.Deployments, d)
		for k := range cs.Spec.Containers {
			if svc := MakeContainerService(sd, p, &cs.Spec.Containers[k]); svc != nil {
				r.Services = append(r.Services, svc)
				c.Services = append(c.Services, svc)
			}
		}
		if c.HPA = MakeHPA(sd, p, j); c.HPA != nil {
			r.HPAs = append(r.HPAs, c.HPA)
		}
		if c.PDB = MakePDB(sd, p, j); c.PDB != nil {
			r.PDBs = append(r.PDBs, c.PDB)
		}
		if c.ScaledObject, err = MakeScaledObject(sd, p, j); err != nil {
			return fmt.Errorf("componentSpecs[%d].kedaSpec: %w", j, err)
		}
		if c.ScaledObject != nil {
			r.ScaledObjects = append(r.ScaledObjects, c.ScaledObject)
		}
		r.Components = append(r.Components, c)
	}
	if executorAt < 0 {
		d, err := MakeExecutorDeployment(sd, p, opts)
		if err != nil {
			return err
		}
		r.Deployments = append(r.Deployments, d)
		r.Components = append(r.Components, Component{
			Predictor: i, ComponentSpec: -1, Name: d.Name, Deployment: d,
			EnginePredictor: enginePayload(d), Replicas: ExecutorReplicaPolicy(sd, p),
		})
	}
	return r.addExplainer(sd, i, opts)
}

// addExplainer adds predictor i's explainer Deployment and Service, if any.
func (r *Result) addExplainer(sd *sdepv1.SeldonDeployment, i int, opts Options) error {
	p := &sd.Spec.Predictors[i]
	d, svc, err := MakeExplainer(sd, p, opts)
	if err != nil || d == nil {
		return err
	}
	r.Deployments = append(r.Deployments, d)
	r.Services = append(r.Services, svc)
	r.Components = append(r.Components, Component{
		Predictor: i, ComponentSpec: -1, Name: d.Name, Deployment: d, Services: []*corev1.Service{svc},
		Replicas: ReplicaPolicy{Fixed: *d.Spec.Replicas}, Explainer: true,
	})
	return nil
}

// enginePayload is the ENGINE_PREDICTOR the Deployment's executor container
// carries (encoded once, by MakeExecutorContainer), or "" without one.
func enginePayload(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != predictor.ExecutorContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == EnvEnginePredictor {
				return e.Value
			}
		}
	}
	return ""
}

// checkNames refuses two objects of one kind with one name: the second
// would overwrite the first. Different predictor and componentSpec names
// can join to the same object name: predictor "a-0-b" with componentSpec 0
// named "c", and predictor "a" with componentSpec 0 named "b-0-c".
func (o *Objects) checkNames() error {
	seen := map[string]bool{}
	var errs []error
	for _, obj := range o.All() {
		key := obj.GetObjectKind().GroupVersionKind().Kind + "/" + obj.GetName()
		if seen[key] {
			errs = append(errs, fmt.Errorf("two objects would be the %s %q: rename a predictor, componentSpec or container (or its seldon.io/svc-name)",
				obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName()))
		}
		seen[key] = true
	}
	return errors.Join(errs...)
}
