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
	"github.com/sdep-dev/sdep/internal/validation"
)

// Objects are the desired objects of one SeldonDeployment. Each slice is in
// document order: predictors as listed, then componentSpecs as listed,
// then (Services) containers as listed.
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

// Build returns the objects sd asks for. It works on a deep copy of sd with
// validation.Default applied, so sd itself is never changed. Build does not
// validate (call validation.Validate first; on an invalid document Build
// neither panics nor promises anything useful), but it refuses a document
// whose objects it cannot name: one without metadata.name, or two objects
// of the same kind with the same name.
//
// Fields validation only warns about (traffic, shadow, explainer, logger,
// ssl, other protocols, kafka, prepackaged servers, seldon.io/no-engine,
// seldon.io/engine-separate-pod) build nothing of their own: the executor
// always runs in componentSpecs[0]'s pods.
func Build(in *sdepv1.SeldonDeployment, opts Options) (*Objects, error) {
	if in == nil {
		return nil, errors.New("no SeldonDeployment to build")
	}
	if in.Name == "" {
		return nil, errors.New("metadata.name: required: every object sdep creates is named after it")
	}
	opts = opts.complete()
	sd := in.DeepCopy()
	validation.Default(sd, opts.Validation)

	objs := &Objects{}
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		if err := objs.addPredictor(sd, p, opts); err != nil {
			return nil, fmt.Errorf("spec.predictors[%d]: %w", i, err)
		}
	}
	if err := objs.checkNames(); err != nil {
		return nil, err
	}
	return objs, nil
}

func (o *Objects) addPredictor(sd *sdepv1.SeldonDeployment, p *sdepv1.PredictorSpec, opts Options) error {
	o.Services = append(o.Services, MakePredictorService(sd, p, opts))
	if len(p.ComponentSpecs) == 0 {
		d, err := MakeExecutorDeployment(sd, p, opts)
		if err != nil {
			return err
		}
		o.Deployments = append(o.Deployments, d)
		return nil
	}
	for j := range p.ComponentSpecs {
		cs := &p.ComponentSpecs[j]
		if len(cs.Spec.Containers) == 0 && j != validation.ExecutorComponent(p) {
			continue // a pod without containers cannot exist; validation reports it
		}
		d, err := MakeDeployment(sd, p, j, opts)
		if err != nil {
			return fmt.Errorf("componentSpecs[%d]: %w", j, err)
		}
		o.Deployments = append(o.Deployments, d)
		for k := range cs.Spec.Containers {
			if svc := MakeContainerService(sd, p, &cs.Spec.Containers[k]); svc != nil {
				o.Services = append(o.Services, svc)
			}
		}
		if h := MakeHPA(sd, p, j); h != nil {
			o.HPAs = append(o.HPAs, h)
		}
		if pdb := MakePDB(sd, p, j); pdb != nil {
			o.PDBs = append(o.PDBs, pdb)
		}
		so, err := MakeScaledObject(sd, p, j)
		if err != nil {
			return fmt.Errorf("componentSpecs[%d].kedaSpec: %w", j, err)
		}
		if so != nil {
			o.ScaledObjects = append(o.ScaledObjects, so)
		}
	}
	return nil
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
