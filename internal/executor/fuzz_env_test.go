package executor

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/resources"
)

// seedEnginePredictor is the predictor JSON the builders inject for the seed.
func seedEnginePredictor(f *testing.F) []byte {
	data, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		f.Fatal(err)
	}
	docs, err := decode.Documents("seed", data)
	if err != nil {
		f.Fatal(err)
	}
	sd := docs[0].Object
	objs, err := resources.Build(sd, resources.DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range objs.Deployments[0].Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == resources.EnvEnginePredictor {
				raw, err := base64.StdEncoding.DecodeString(e.Value)
				if err != nil {
					f.Fatal(err)
				}
				return raw
			}
		}
	}
	f.Fatal("no ENGINE_PREDICTOR in the seed's Deployment")
	return nil
}

// FuzzPredictorFromEnv: decoding ENGINE_PREDICTOR never panics, whether the
// base64 or the JSON inside it is broken; a predictor that decodes encodes
// again to JSON that decodes to the same predictor; and New either builds
// an executor from it or returns an error, without panicking.
func FuzzPredictorFromEnv(f *testing.F) {
	seed := seedEnginePredictor(f)
	f.Add(seed, base64.StdEncoding.EncodeToString(seed))
	f.Add([]byte(`{"name":"p","graph":{"name":"m","implementation":"SIMPLE_MODEL"}}`), "  e30=\n")
	f.Add([]byte(`{"name":"p","graph":{"name":"ab","implementation":"RANDOM_ABTEST","parameters":[{"name":"ratioA","value":"2","type":"FLOAT"}]}}`), "not base64!")
	f.Add([]byte(`{"name":"p","graph":{"name":"m","endpoint":{"service_port":-1,"type":"GRPC"}},"annotations":{"seldon.io/rest-timeout":"-5"}}`), "e30")
	f.Add([]byte(`{"name":"p","unknown":1}`), "")
	f.Add([]byte(`{"componentSpecs":[{"spec":{"containers":[{"name":"m","resources":{"limits":{"cpu":"1e400"}}}]}}]}`), "bnVsbA==")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		_, _ = PredictorFromEnv(text)

		p, err := PredictorFromEnv(base64.StdEncoding.EncodeToString(data))
		if err != nil {
			return
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a decoded predictor does not encode: %v", err)
		}
		p2, err := PredictorFromEnv(base64.StdEncoding.EncodeToString(again))
		if err != nil {
			t.Fatalf("the re-encoded predictor does not decode: %v\n%s", err, again)
		}
		if third, err := json.Marshal(p2); err != nil || string(third) != string(again) {
			t.Fatalf("encoding is not stable (%v):\n%s\n%s", err, again, third)
		}
		if e, err := New(p); err == nil {
			e.Close()
		}
	})
}

// formatAnnotations writes m as the kubelet writes the downward API
// annotations file: key="quoted value" per line, sorted by key, without a
// final newline.
func formatAnnotations(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

// FuzzReadPodAnnotations: any file content reads without panicking into
// keys without line breaks, and a file in the kubelet's format reads back
// exactly the annotations written, whatever bytes the values hold.
func FuzzReadPodAnnotations(f *testing.F) {
	f.Add([]byte("seldon.io/rest-timeout=\"5000\"\nkubernetes.io/config.seen=\"2026-01-01T00:00:00Z\""), "seldon.io/grpc-timeout", "100", "a", "")
	f.Add([]byte("no-equals\n=\"\"\nk=unquoted\nk2=\"bad \\q\"\r\n\n"), "k", "line\nbreak\"quote\\", "x.y/z", "\x00\xff")
	f.Add([]byte("k=\"v\"=\"w\"\nk=\"again\""), "dup", "\u2028", "é", "\t")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, k1, v1, k2, v2 string) {
		path := filepath.Join(dir, "annotations")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPodAnnotations(path)
		if err == nil {
			for k := range got {
				if strings.ContainsAny(k, "\n") {
					t.Fatalf("key %q holds a line break", k)
				}
			}
		}

		// Annotation keys are qualified names: never empty, no '=' and no
		// line breaks or spaces.
		want := map[string]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}} {
			if kv[0] != "" && !strings.ContainsAny(kv[0], "=\r\n \t") {
				want[kv[0]] = kv[1]
			}
		}
		if err := os.WriteFile(path, []byte(formatAnnotations(want)), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err = ReadPodAnnotations(path)
		if err != nil {
			t.Fatalf("the kubelet's format does not read: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("annotations read back (-written +read):\n%s", diff)
		}
	})
}
