package operator

import (
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/controller"
	"github.com/sdep-dev/sdep/internal/naming"
)

// lastAppliedAnnotation is where `kubectl apply` keeps a full copy of the
// object it applied: as large as the spec itself, and read by no one here.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// cacheOptions keep in memory only what the reconciler reads.
//
//   - Children: only objects carrying the seldon-deployment-id label, which
//     every object sdep builds carries, and so does every Deployment,
//     Service, HPA and PDB Seldon Core 1.x made (the ones sdep adopts; its
//     separate executor Deployment has the label with another value).
//     Without it the operator would hold every Deployment and Service of the
//     cluster (or of its namespace).
//     The reconciler reads a child without the label (a name taken by
//     someone else, or an own child whose label was removed) from the API
//     server when its create finds the name taken.
//   - Every object: no managedFields (the reconciler patches, it does not
//     apply) and no last-applied-configuration annotation; and every
//     string of a typed object is shared with the other cached objects
//     holding the same one (intern.go), which changes no value.
//
// The reconciler compares every field it sets with the live object and
// reads the children's status, so the objects it caches are kept whole
// otherwise.
//
// scaledObjects says whether KEDA's ScaledObject is served: the cache
// refuses to start with settings for a kind the API server does not serve.
func cacheOptions(watchNamespace string, scaledObjects bool) cache.Options {
	owned := ownedSelector()
	opts := cache.Options{
		DefaultTransform: stripUnread,
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:                     {Label: owned},
			&corev1.Service{}:                        {Label: owned},
			&autoscalingv2.HorizontalPodAutoscaler{}: {Label: owned},
			&policyv1.PodDisruptionBudget{}:          {Label: owned},
			// Named so the transform is this one whatever the default becomes.
			&sdepv1.SeldonDeployment{}: {Transform: stripUnread},
		},
	}
	if scaledObjects {
		opts.ByObject[scaledObject()] = cache.ByObject{Label: owned}
	}
	if watchNamespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{watchNamespace: {}}
	}
	return opts
}

// ownedSelector selects the objects sdep builds: they all carry the label.
func ownedSelector() labels.Selector {
	req, err := labels.NewRequirement(naming.LabelSeldonID, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	return labels.NewSelector().Add(*req)
}

func scaledObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(controller.ScaledObjectGVK)
	return u
}

// stripUnread drops what no reader in the operator looks at from an object
// entering the cache.
var stripUnread toolscache.TransformFunc = func(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		return in, nil // not an object (a tombstone): nothing to strip
	}
	if obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	if ann := obj.GetAnnotations(); ann != nil {
		if _, ok := ann[lastAppliedAnnotation]; ok {
			// A copy: the informer may hand the same map to other readers.
			kept := make(map[string]string, len(ann)-1)
			for k, v := range ann {
				if k != lastAppliedAnnotation {
					kept[k] = v
				}
			}
			obj.SetAnnotations(kept)
		}
	}
	if _, ok := in.(runtime.Unstructured); !ok {
		internStrings(in, &interned)
	}
	return in, nil
}

// memoMapper remembers the REST mappings it found. Every cache read and
// every write of the operator asks for one (is the kind namespaced, under
// which resource), and controller-runtime's mapper builds a fresh answer
// each time: a tenth of the operator's allocations while converging. A
// kind's mapping does not change while the operator runs; a kind that is
// not served is not remembered, so one installed later is still found.
type memoMapper struct {
	meta.RESTMapper
	mu       sync.RWMutex
	mappings map[mappingKey]*meta.RESTMapping
}

type mappingKey struct {
	gk       schema.GroupKind
	versions string
}

func newMemoMapper(m meta.RESTMapper) *memoMapper {
	return &memoMapper{RESTMapper: m, mappings: map[mappingKey]*meta.RESTMapping{}}
}

func (m *memoMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	key := mappingKey{gk: gk, versions: strings.Join(versions, ",")}
	m.mu.RLock()
	found, ok := m.mappings[key]
	m.mu.RUnlock()
	if ok {
		return found, nil
	}
	found, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.mappings[key] = found
	m.mu.Unlock()
	return found, nil
}
