package executor

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	v1 "github.com/sdep-dev/sdep/api/v1"
)

var messageSeeds = []string{
	`{"data":{"names":["a"],"ndarray":[[1,2,5]]}}`,
	`{"data":{"tensor":{"shape":[1,2],"values":[0.5,1]}},"meta":{"puid":"p","tags":{"k":[1]},"routing":{"r":1},"requestPath":{"m":"i"},"metrics":[{"key":"c","type":"COUNTER","value":1}]}}`,
	`{"strData":"x\u0000\"y"}`, `{"binData":"AAE="}`, `{"jsonData":null}`, `{"jsonData":{"a":[true,null]}}`,
	`{"status":{"code":500,"info":"boom","status":"FAILURE"}}`, `{"meta":{"routing":{"r":"x"}}}`,
	`[]`, `null`, `{"data":`, ``, `{"strData":"a","binData":"AA=="}`,
}

// FuzzDecodeMessage: decoding never panics, and whatever decodes re-encodes
// to JSON that decodes to the same message.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range messageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := DecodeMessage(b, &m); err != nil {
			return
		}
		enc := m.appendJSON(nil, "", nil)
		if !json.Valid(enc) {
			t.Fatalf("re-encoded message is not JSON: %s", enc)
		}
		var again Message
		if err := DecodeMessage(enc, &again); err != nil {
			t.Fatalf("re-encoded message does not decode: %v: %s", err, enc)
		}
		if enc2 := again.appendJSON(nil, "", nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzDecodeFeedback: decoding feedback never panics.
func FuzzDecodeFeedback(f *testing.F) {
	f.Add([]byte(`{"request":{"strData":"x"},"response":{"meta":{"routing":{"r":1}}},"reward":1,"truth":{"data":{"ndarray":[1]}}}`))
	f.Add([]byte(`{"reward":"x"}`))
	f.Add([]byte(`{"response":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fb Feedback
		_ = DecodeFeedback(b, &fb)
	})
}

// FuzzRESTHandler drives the whole REST handler (built-in graph, no
// network): every answer is a SeldonMessage, 200 or a client error.
func FuzzRESTHandler(f *testing.F) {
	for _, s := range messageSeeds {
		f.Add("/api/v1.0/predictions", []byte(s))
	}
	f.Add("/api/v0.1/feedback", []byte(`{"response":{"meta":{"routing":{"ab":1}}}}`))
	f.Add("/api/v1.0/feedback", []byte(`{"response":{"meta":{"routing":{"ab":7}}}}`))
	f.Add("/nope", []byte(`{}`))
	graph := v1.PredictiveUnit{Name: "ab", Implementation: v1.RandomABTest,
		Parameters: []v1.Parameter{{Name: "ratioA", Value: "0.5", Type: v1.ParameterFloat}},
		Children: []v1.PredictiveUnit{
			{Name: "a", Implementation: v1.SimpleModel},
			{Name: "b", Implementation: v1.SimpleModel},
		}}
	e, err := New(v1.PredictorSpec{Name: "p", Graph: graph}, WithMaxBodyBytes(4096))
	if err != nil {
		f.Fatal(err)
	}
	h := e.Handler(HandlerOptions{})
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		if len(path) == 0 || path[0] != '/' {
			return
		}
		req := httptest.NewRequest(http.MethodPost, "http://x/", bytes.NewReader(body))
		req.URL.Path = path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		var m Message
		if err := DecodeMessage(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %q: answer is not a SeldonMessage: %v: %s", path, body, err, rec.Body)
		}
	})
}
