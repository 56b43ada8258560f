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

// upToDate reports whether live already holds everything desired sets: the
// same desired-hash annotation, and every field desired sets equal in live.
// Fields only the API server or other controllers set (defaults, status,
// clusterIP, replicas chosen by an autoscaler) are not compared, so a
// converged object compares equal and costs no write.
func upToDate(desired, live client.Object) (bool, string, error) {
	if live.GetAnnotations()[AnnotationDesiredHash] != desired.GetAnnotations()[AnnotationDesiredHash] {
		return false, "the SeldonDeployment changed", nil
	}
	return Matches(desired, live)
}

// Matches reports whether every field desired sets has the same value in
// live, and if not, the first path that differs. Fields desired leaves
// empty (left to the API server's defaults) match anything.
func Matches(desired, live client.Object) (bool, string, error) {
	d, err := toMap(desired)
	if err != nil {
		return false, "", err
	}
	l, err := toMap(live)
	if err != nil {
		return false, "", err
	}
	delete(d, "status")
	delete(d, "apiVersion")
	delete(d, "kind")
	if path, ok := subset(d, l, ""); !ok {
		return false, "live object differs at " + path, nil
	}
	return true, "", nil
}

func toMap(obj client.Object) (map[string]any, error) {
	if u, ok := obj.(interface{ UnstructuredContent() map[string]any }); ok {
		// Round-trip through JSON so numbers compare as the same type.
		data, err := json.Marshal(u.UnstructuredContent())
		if err != nil {
			return nil, err
		}
		var m map[string]any
		return m, json.Unmarshal(data, &m)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}

// subset reports whether every value set in want equals the value at the
// same place in have. Maps compare key by key (have may hold more keys);
// lists must have the same length and match element by element; a null,
// empty or zero value in want means "not set" and matches anything, since
// the builders leave such fields to the API server's defaults.
func subset(want, have any, path string) (string, bool) {
	switch w := want.(type) {
	case nil:
		return "", true
	case map[string]any:
		h, _ := have.(map[string]any)
		for k, wv := range w {
			if p, ok := subset(wv, h[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		h, _ := have.([]any)
		if len(w) == 0 {
			return "", true
		}
		if len(w) != len(h) {
			return fmt.Sprintf("%s (%d items, want %d)", path, len(h), len(w)), false
		}
		for i := range w {
			if p, ok := subset(w[i], h[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	case string:
		if w == "" || w == have {
			return "", true
		}
	case float64:
		if w == 0 || w == have {
			return "", true
		}
	case bool:
		if !w || w == have {
			return "", true
		}
	default:
		if reflect.DeepEqual(w, have) {
			return "", true
		}
	}
	return path, false
}
