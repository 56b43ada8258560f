package operator

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/naming"
	"github.com/sdep-dev/sdep/internal/resources"
)

// family is what the cache decodes for one copy of the seed: its
// SeldonDeployment (JSON, as the API server sends custom resources) and
// its Deployment and Services (protobuf).
type family struct {
	sd       *sdepv1.SeldonDeployment
	dep      *appsv1.Deployment
	services []*corev1.Service
}

func decodedFamily(t *testing.T, i int) family {
	t.Helper()
	data, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents("seed-hpaspecs.json", data)
	if err != nil {
		t.Fatal(err)
	}
	sd := docs[0].Object
	sd.Name, sd.Namespace = fmt.Sprintf("seldon-model-%04d", i), "models"
	sd.UID, sd.ResourceVersion = types.UID(fmt.Sprintf("sd-uid-%04d", i)), fmt.Sprint(1000+i)
	built, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var f family
	d := built.Deployments[0]
	d.UID, d.ResourceVersion = types.UID(fmt.Sprintf("dep-uid-%04d", i)), fmt.Sprint(2000+i)
	raw, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.dep = &appsv1.Deployment{}
	if err := f.dep.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	for _, s := range built.Services {
		s.UID, s.ResourceVersion = types.UID(fmt.Sprintf("svc-uid-%04d-%s", i, s.Name)), fmt.Sprint(3000+i)
		raw, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got := &corev1.Service{}
		if err := got.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		f.services = append(f.services, got)
	}
	sd.APIVersion, sd.Kind = sdepv1.GroupVersion.String(), "SeldonDeployment"
	js, err := json.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := serializer.NewCodecFactory(Scheme()).UniversalDeserializer().Decode(js, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.sd = obj.(*sdepv1.SeldonDeployment)
	return f
}

func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// The transform changes no value of any object, and afterwards two cached
// objects holding the same string hold one copy of it.
func TestStripUnreadSharesStringsAndChangesNoValue(t *testing.T) {
	table := &internTable{}
	a, b := decodedFamily(t, 1), decodedFamily(t, 2)
	for _, f := range []family{a, b} {
		objs := []any{f.sd, f.dep}
		for _, s := range f.services {
			objs = append(objs, s)
		}
		for _, obj := range objs {
			before := deepCopyAny(obj)
			internStrings(obj, table)
			if !equality.Semantic.DeepEqual(before, obj) {
				t.Fatalf("%T changed by interning", obj)
			}
		}
	}

	// Across families: label keys, env names, images.
	if !sameBytes(labelKey(a.dep.Labels, naming.LabelSeldonID), labelKey(b.dep.Labels, naming.LabelSeldonID)) {
		t.Error("two Deployments hold their own copies of the seldon-deployment-id key")
	}
	ca, cb := a.dep.Spec.Template.Spec.Containers[0], b.dep.Spec.Template.Spec.Containers[0]
	if !sameBytes(ca.Image, cb.Image) || !sameBytes(ca.Env[0].Name, cb.Env[0].Name) {
		t.Errorf("two Deployments hold their own copies of image %q or env %q", ca.Image, ca.Env[0].Name)
	}
	// Within a family: the selector repeats the template's labels, the
	// children's owner reference names the SeldonDeployment.
	id := a.dep.Labels[naming.LabelSeldonID]
	if !sameBytes(id, a.dep.Spec.Template.Labels[naming.LabelSeldonID]) || !sameBytes(id, a.services[0].Labels[naming.LabelSeldonID]) {
		t.Error("a family's seldon-deployment-id value is held more than once")
	}
	ra, rb := a.dep.OwnerReferences[0], a.services[0].OwnerReferences[0]
	if !sameBytes(ra.Name, rb.Name) || !sameBytes(string(ra.UID), string(rb.UID)) {
		t.Error("the children's owner references hold their own copies of the owner's name or uid")
	}
	// What no other object shares stays out of the table (a
	// SeldonDeployment's uid is there: its children's owner references
	// share it).
	for _, s := range []string{string(a.dep.UID), a.dep.ResourceVersion, string(b.services[1].UID), b.sd.ResourceVersion} {
		if _, ok := table.strs[s]; ok {
			t.Errorf("the table holds %q, an object's own uid or resourceVersion", s)
		}
	}
}

// The table starts over at its bound, and the values stay right.
func TestInternTableIsBounded(t *testing.T) {
	table := &internTable{}
	for i := range maxInterned + 10 {
		s := fmt.Sprint("s-", i)
		if got := table.intern(s); got != s {
			t.Fatalf("intern(%q) = %q", s, got)
		}
		if len(table.strs) > maxInterned {
			t.Fatalf("the table holds %d strings, over its bound %d", len(table.strs), maxInterned)
		}
	}
	if len(table.strs) != 10 {
		t.Errorf("after the bound the table holds %d strings, want the 10 added since it started over", len(table.strs))
	}
}

func labelKey(m map[string]string, key string) string {
	for k := range m {
		if k == key {
			return k
		}
	}
	return ""
}

func deepCopyAny(obj any) any {
	switch o := obj.(type) {
	case *sdepv1.SeldonDeployment:
		return o.DeepCopy()
	case *appsv1.Deployment:
		return o.DeepCopy()
	case *corev1.Service:
		return o.DeepCopy()
	}
	panic(fmt.Sprintf("no copy for %T", obj))
}
