package executor

import (
	"encoding/json"
	"reflect"
	"testing"
)

var fastDecodeSeeds = []string{
	` { "meta" : { "puid" : "p" , "routing" : { "a" : -3 , "b" : 0 } , "requestPath" : { "a" : "img:1" } } , "data" : { "ndarray" : [ [ 1.5e-3 , -0 , true , null ] ] } } `,
	`{"Data":{}}`, `{"data":{},"data":{}}`, `{"meta":null}`, `{"meta":{"puid":null}}`, `{"meta":{"puid":"a\u00e9"}}`,
	`{"meta":{"PUID":"x"}}`, `{"meta":{"routing":{"a":1.0}}}`, `{"meta":{"routing":{"a":2147483648}}}`,
	`{"meta":{"routing":{"a":-2147483648}}}`, `{"meta":{"routing":{"a":01}}}`, `{"d\u0061ta":{}}`, `{"K":1}`,
	"{\"data\":{}}\n", `{"data":{}} x`, `{"jsonData":"\ud800"}`, `{"strData":"\x"}`, `{"meta":{"puid":"\xff"}}`,
	`{"data":{"a":[1,2,]}}`, `{"data":{"a":01}}`, `{"data":{"a":-}}`, `{"data":{"a":1.}}`, `{"data":{"a":1e}}`,
	`{"meta":{"tags":{"x":"y"},"tags":{}}}`, `{"binData":"AAE=","unknown":[{"x":null}]}`,
}

// The fast path decodes exactly what encoding/json does whenever it
// accepts a message (and leaves everything else to encoding/json).
func FuzzFastDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range append(fastDecodeSeeds, messageSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow Message
		if !fastDecode(b, &fast) {
			return
		}
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path and encoding/json differ on %q:\nfast %+v\njson %+v", b, fast, slow)
		}
	})
}

// The common messages take the fast path (the fuzz test above cannot tell
// a fast path that always gives up from one that works).
func TestFastDecodeTakesCommonMessages(t *testing.T) {
	for _, s := range []string{
		string(benchRequest),
		`{"data":{"names":["proba"],"ndarray":[[0.43782349911420193]]},"meta":{"puid":"x"}}`,
		fastDecodeSeeds[0],
		`{"strData":"a\"b\\c"}`,
		`{"meta":{"tags":{"k":[1]},"metrics":[{"key":"c","type":"COUNTER","value":1}]},"jsonData":{"a":[true,false,null]}}`,
	} {
		var m Message
		if !fastDecode([]byte(s), &m) {
			t.Errorf("fast path gave up on %s", s)
		}
	}
}

func TestNewPuidIsAFreshVersion4UUID(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		p := newPuid()
		if !uuidPattern.MatchString(p) {
			t.Fatalf("puid %q is not a version 4 UUID", p)
		}
		if seen[p] {
			t.Fatalf("puid %q repeated", p)
		}
		seen[p] = true
	}
}
