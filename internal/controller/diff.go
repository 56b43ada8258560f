package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AnnotationDesiredHash records, on every object the operator writes, a hash
// of the object as the builders produced it. A changed hash means the
// SeldonDeployment asks for something different (including a field that was
// removed, which a comparison with the live object cannot see because the
// API server may have defaulted it back).
const AnnotationDesiredHash = "sdep.dev/desired-hash"

// desiredHash hashes a built object before the hash annotation is added.
func desiredHash(obj client.Object) (string, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}

// Matches reports whether every field desired sets has the same value in
// live, and if not, the first path that differs. Zero values count: a
// desired `false`, `0` or `""` must be `false`, `0` or `""` in live too.
// Only fields desired leaves out (null) are left to the API server's
// defaults and to other controllers.
func Matches(desired, live client.Object) (bool, string, error) {
	return matchesStored(desired, live, nil)
}

// matchesStored is Matches where, at the paths in stored, the API server is
// known to store a different value than desired holds (a default filled
// into a field desired sets to its zero value, a canonical form): there
// live must hold the stored value.
func matchesStored(desired, live client.Object, stored overrides) (bool, string, error) {
	d, l, err := comparable(desired, live)
	if err != nil {
		return false, "", err
	}
	if path, ok := compare(d, l, "", stored, nil); !ok {
		return false, path, nil
	}
	return true, "", nil
}

// comparable turns desired and live into JSON maps; the parts of desired
// that are not compared (status, apiVersion, kind) are dropped.
func comparable(desired, live client.Object) (map[string]any, map[string]any, error) {
	d, err := toMap(desired)
	if err != nil {
		return nil, nil, err
	}
	l, err := toMap(live)
	if err != nil {
		return nil, nil, err
	}
	delete(d, "status")
	delete(d, "apiVersion")
	delete(d, "kind")
	return d, l, nil
}

func toMap(obj client.Object) (map[string]any, error) {
	var v any = obj
	if u, ok := obj.(interface{ UnstructuredContent() map[string]any }); ok {
		// Round-trip through JSON so numbers compare as the same type.
		v = u.UnstructuredContent()
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}

// overrides are, by path (".spec.ports[0].targetPort"), the values the API
// server stores where they differ from what desired sets; nil for "not
// stored". For the objects sdep builds this is almost always empty.
type overrides map[string]any

// compare reports whether every value set in want equals the value at the
// same place in have, and the first path where it does not. Maps compare
// key by key (have may hold more keys: defaults, other controllers' labels);
// lists must have the same length and match element by element; scalars
// must be equal, zero values included. A null in want is "not set" and
// matches anything. At a path in stored, have must equal the stored value
// instead. If mismatch is not nil, compare does not stop at the first
// difference: it calls mismatch for each and carries on.
func compare(want, have any, path string, stored overrides, mismatch func(path string, have any)) (string, bool) {
	if v, ok := stored[path]; ok {
		if reflect.DeepEqual(v, have) {
			return "", true
		}
		return differs(path, have, mismatch)
	}
	switch w := want.(type) {
	case nil:
		return "", true
	case map[string]any:
		h, isMap := have.(map[string]any)
		if !isMap && have != nil {
			return differs(path, have, mismatch)
		}
		first, same := "", true
		for k, wv := range w {
			if p, ok := compare(wv, h[k], path+"."+k, stored, mismatch); !ok {
				if mismatch == nil {
					return p, false
				}
				if same {
					first, same = p, false
				}
			}
		}
		return first, same
	case []any:
		h, isList := have.([]any)
		if (!isList && have != nil) || len(w) != len(h) {
			if mismatch != nil {
				mismatch(path, have)
				return path, false
			}
			return fmt.Sprintf("%s (%d items, want %d)", path, len(h), len(w)), false
		}
		first, same := "", true
		for i := range w {
			if p, ok := compare(w[i], h[i], fmt.Sprintf("%s[%d]", path, i), stored, mismatch); !ok {
				if mismatch == nil {
					return p, false
				}
				if same {
					first, same = p, false
				}
			}
		}
		return first, same
	default:
		if reflect.DeepEqual(w, have) {
			return "", true
		}
	}
	return differs(path, have, mismatch)
}

func differs(path string, have any, mismatch func(string, any)) (string, bool) {
	if mismatch != nil {
		mismatch(path, have)
	}
	return path, false
}

// storedOverrides compares desired with stored, the object the API server
// returned for a write (or a dry-run) of desired, and returns where the
// server stores something else than desired sets.
func storedOverrides(desired, stored client.Object) (overrides, error) {
	d, s, err := comparable(desired, stored)
	if err != nil {
		return nil, err
	}
	var out overrides
	compare(d, s, "", nil, func(path string, have any) {
		if out == nil {
			out = overrides{}
		}
		out[path] = have
	})
	return out, nil
}
