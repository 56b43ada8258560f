package operator

import (
	"reflect"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxInterned bounds the strings the intern table holds: a few per cached
// object (its name, the values its family shares) and those every object
// shares. Past the bound it starts over, which costs only the sharing of
// strings cached before, never a wrong value; the strings of deleted
// objects leave the table then too. The table's own cost at the bound is
// a few MiB.
const maxInterned = 1 << 16

// internTable hands out one copy of each string it has seen. The decoders
// give every object its own copy of every string: the same label keys,
// environment variable names, images, probe paths and the family's own
// names (a label value is the Deployment's name, the selector repeats the
// labels) are held once per object and again per place in it. A cached
// Deployment of the seed is about a quarter strings that another cached
// object holds too.
type internTable struct {
	mu   sync.Mutex
	strs map[string]string
}

var interned internTable

func (t *internTable) intern(s string) string {
	if s == "" {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.strs[s]; ok {
		return c
	}
	if t.strs == nil || len(t.strs) >= maxInterned {
		t.strs = make(map[string]string, 1024)
	}
	t.strs[s] = s
	return s
}

// internStrings replaces, in place, every string of a typed object (its
// exported fields, followed through pointers, slices and string maps) by
// the table's copy. The value of every field stays the same, so no reader
// can tell; an object's uid and resourceVersion, which no other object
// shares, are left alone (they would only fill the table).
func internStrings(obj any, t *internTable) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	internValue(v.Elem(), t)
}

var (
	objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()
	stringMapType  = reflect.TypeFor[map[string]string]()
)

func internValue(v reflect.Value, t *internTable) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(t.intern(v.String()))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			internValue(v.Elem(), t)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			internValue(v.Index(i), t)
		}
	case reflect.Map:
		internMap(v, t)
	case reflect.Struct:
		if v.Type() == objectMetaType {
			internObjectMeta(v.Addr().Interface().(*metav1.ObjectMeta), t)
			return
		}
		typ := v.Type()
		for i := range v.NumField() {
			if typ.Field(i).IsExported() {
				internValue(v.Field(i), t)
			}
		}
	default:
	}
}

// internMap rebuilds a map whose keys and values are strings (labels,
// selectors, annotations) from interned ones; other maps keep theirs.
func internMap(v reflect.Value, t *internTable) {
	typ := v.Type()
	if v.IsNil() || !v.CanSet() || typ.Key().Kind() != reflect.String || typ.Elem().Kind() != reflect.String {
		return
	}
	if typ == stringMapType { // labels, annotations, selectors: no reflection
		in := v.Interface().(map[string]string)
		out := make(map[string]string, len(in))
		for k, e := range in {
			out[t.intern(k)] = t.intern(e)
		}
		v.Set(reflect.ValueOf(out))
		return
	}
	out := reflect.MakeMapWithSize(typ, v.Len())
	for it := v.MapRange(); it.Next(); {
		k := reflect.ValueOf(t.intern(it.Key().String())).Convert(typ.Key())
		e := reflect.ValueOf(t.intern(it.Value().String())).Convert(typ.Elem())
		out.SetMapIndex(k, e)
	}
	v.Set(out)
}

func internObjectMeta(m *metav1.ObjectMeta, t *internTable) {
	m.Name = t.intern(m.Name)
	m.GenerateName = t.intern(m.GenerateName)
	m.Namespace = t.intern(m.Namespace)
	internMap(reflect.ValueOf(&m.Labels).Elem(), t)
	internMap(reflect.ValueOf(&m.Annotations).Elem(), t)
	for i := range m.OwnerReferences {
		// The owner's uid is shared by the whole family.
		internValue(reflect.ValueOf(&m.OwnerReferences[i]).Elem(), t)
	}
	for i := range m.Finalizers {
		m.Finalizers[i] = t.intern(m.Finalizers[i])
	}
}
