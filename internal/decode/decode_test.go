package decode

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSeedDecodesVerbatim(t *testing.T) {
	data, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Documents("seed.json", data)
	if err != nil {
		t.Fatalf("seed must decode: %v", err)
	}
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1", len(docs))
	}
	d := docs[0]
	if d.APIVersion != "machinelearning.seldon.io/v1alpha2" || d.Object.APIVersion != "machinelearning.seldon.io/v1" {
		t.Errorf("apiVersion as written %q, normalised %q", d.APIVersion, d.Object.APIVersion)
	}
	p := d.Object.Spec.Predictors[0]
	if got := p.ComponentSpecs[0].Metadata.Name; got != "my-dep" {
		t.Errorf("componentSpecs[0].metadata.name = %q, want my-dep", got)
	}
	if len(p.HpaSpecs) != 1 {
		t.Fatalf("hpaSpecs has %d entries, want 1", len(p.HpaSpecs))
	}
	h := p.HpaSpecs[0]
	if h.ScaleTargetRef.Name != "my-dep" || h.ScaleTargetRef.APIVersion != "extensions/v1beta1" || h.MaxReplicas != 4 || *h.MinReplicas != 1 {
		t.Errorf("hpaSpecs[0] = %+v", h)
	}
	if u := h.Metrics[0].Resource.TargetAverageUtilization; u == nil || *u != 10 {
		t.Errorf("targetAverageUtilization = %v, want 10", u)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // each rendered error, in order
	}{
		{
			name: "unknown field in yaml names path and line",
			input: `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: x
spec:
  predictors:
  - name: p
    graph: {name: c}
    hpaSpecs:
    - scaleTargetRef: {kind: Deployment, name: my-dep}
      maxReplica: 4
`,
			want: []string{`in.yaml:11: spec.predictors[0].hpaSpecs[0].maxReplica: unknown field: it is not part of the SeldonDeployment schema (check the spelling; sdep never ignores a field)`},
		},
		{
			name:  "unknown field in json names path and line",
			input: "{\"apiVersion\": \"machinelearning.seldon.io/v1alpha3\", \"kind\": \"SeldonDeployment\",\n \"metadata\": {\"name\": \"x\"},\n \"spec\": {\"predictors\": [{\"name\": \"p\", \"graph\": {\"name\": \"c\",\n  \"childs\": []}}]}}",
			want:  []string{`in.yaml:4: spec.predictors[0].graph.childs: unknown field: it is not part of the SeldonDeployment schema (check the spelling; sdep never ignores a field)`},
		},
		{
			name:  "bad json syntax gives line and column",
			input: "{\"apiVersion\": \"machinelearning.seldon.io/v1\",\n \"kind\": \"SeldonDeployment\",,\n}",
			want:  []string{`in.yaml:2: invalid JSON at line 2 column 29: invalid character ',' looking for beginning of object key string`},
		},
		{
			name:  "bad yaml syntax gives absolute line",
			input: "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\n---\napiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment: x\n",
			want:  []string{`in.yaml:5: invalid YAML: line 5: mapping values are not allowed in this context`},
		},
		{
			name:  "wrong apiVersion and kind",
			input: "apiVersion: apps/v1\nkind: Deployment\n",
			want: []string{
				`in.yaml:2: kind: "Deployment" is not supported: want SeldonDeployment`,
				`in.yaml:1: apiVersion: "apps/v1" is not supported: want one of machinelearning.seldon.io/v1, machinelearning.seldon.io/v1alpha3, machinelearning.seldon.io/v1alpha2`,
			},
		},
		{
			name:  "type mismatch names the field",
			input: "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  replicas: two\n  predictors: []\n",
			want:  []string{`in.yaml:5: spec.replicas: cannot use the string "two" here: want a whole number from -2147483648 to 2147483647`},
		},
		{
			name:  "type mismatch in a list keeps the index and says what was found",
			input: "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors:\n  - name: a\n    graph: {name: c}\n  - name: b\n    replicas: 1e30\n    graph: {name: c}\n",
			want:  []string{`in.yaml:9: spec.predictors[1].replicas: cannot use the number 1e+30 here: want a whole number from -2147483648 to 2147483647`},
		},
		{
			name:  "type mismatch deep in json lists",
			input: `{"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": "x"},` + "\n" + `"spec": {"predictors": [{"name": "p", "graph": {"name": "c"}, "componentSpecs": [{"spec": {"containers": [{"name": "c"},` + "\n" + `{"name": "d", "ports": [{"containerPort": "http"}]}]}}]}]}}`,
			want:  []string{`in.yaml:3: spec.predictors[0].componentSpecs[0].spec.containers[1].ports[0].containerPort: cannot use the string "http" here: want a whole number from -2147483648 to 2147483647`},
		},
		{
			name:  "type mismatch in a map names the key",
			input: "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors:\n  - name: a\n    graph: {name: c}\n    annotations:\n      seldon.io/rest-timeout: 100\n",
			want:  []string{`in.yaml:9: spec.predictors[0].annotations[seldon.io/rest-timeout]: cannot use the number 100 here: want a string`},
		},
		{
			name:  "an object where a list belongs",
			input: "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors:\n  - name: a\n    graph: {name: c, children: {name: d}}\n",
			want:  []string{`in.yaml:7: spec.predictors[0].graph.children: cannot use an object here: want a list`},
		},
		{
			name: "unparseable quantities name the field and the value",
			input: `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: x}
spec:
  predictors:
  - name: p
    graph: {name: c}
    componentSpecs:
    - spec:
        containers:
        - name: c
          resources:
            requests: {cpu: 500m, memory: 1 GB}
            limits:
              cpu: two
    hpaSpecs:
    - scaleTargetRef: {kind: Deployment, name: my-dep}
      maxReplicas: 2
      metrics:
      - type: Pods
        pods: {metricName: rps, targetAverageValue: [1]}
`,
			want: []string{
				`in.yaml:13: spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.memory: the string "1 GB" is not a quantity: want a number with an optional unit, such as 500m, 0.5, 2, 128Mi or 1Gi`,
				`in.yaml:15: spec.predictors[0].componentSpecs[0].spec.containers[0].resources.limits.cpu: the string "two" is not a quantity: want a number with an optional unit, such as 500m, 0.5, 2, 128Mi or 1Gi`,
				`in.yaml:21: spec.predictors[0].hpaSpecs[0].metrics[0].pods.targetAverageValue: a list is not a quantity: want a number with an optional unit, such as 500m, 0.5, 2, 128Mi or 1Gi`,
			},
		},
		{
			name:  "truncated json reports the line where the input ends",
			input: "{\"apiVersion\": \"machinelearning.seldon.io/v1\",\n \"kind\": \"SeldonDeployment\",\n \"metadata\": {\"name\": \"x\"},\n \"spec\": {\"predictors\": [{\"name\": \"p\",\n  \"graph\": {\"name\": \"c\"\n",
			want:  []string{`in.yaml:5: invalid JSON at line 5 column 24: the input ends inside a document: it is cut off, or a closing } or ] or " is missing`},
		},
		{
			name:  "duplicate key",
			input: "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nkind: SeldonDeployment\n",
			want:  []string{`in.yaml:3: invalid YAML: line 3: key "kind" already set in map`},
		},
		{
			name:  "empty input",
			input: "# nothing here\n---\n",
			want:  []string{`in.yaml: no SeldonDeployment found (the input is empty)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Documents("in.yaml", []byte(tt.input))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			got := make([]string, len(errs))
			for i, e := range errs {
				got[i] = e.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMultiDocumentYAMLKeepsStartLines(t *testing.T) {
	input := strings.Join([]string{
		"apiVersion: machinelearning.seldon.io/v1",
		"kind: SeldonDeployment",
		"metadata: {name: a}",
		"spec: {predictors: [{name: p, graph: {name: c}}]}",
		"---",
		"# second",
		"apiVersion: machinelearning.seldon.io/v1alpha2",
		"kind: SeldonDeployment",
		"metadata: {name: b}",
		"spec: {predictors: [{name: p, graph: {name: c}}]}",
	}, "\n")
	docs, err := Documents("in.yaml", []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.Object.Name+"@"+d.APIVersion)
	}
	want := []string{"a@machinelearning.seldon.io/v1", "b@machinelearning.seldon.io/v1alpha2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	if docs[1].Line != 6 {
		t.Errorf("second document starts at line %d, want 6", docs[1].Line)
	}
}

func TestTruncatedSeedReportsWhereItEnds(t *testing.T) {
	data, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{300, len(data) / 2, len(data) - 3} {
		cut := data[:n]
		_, err := Documents("seed.json", cut)
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Fatalf("cut at %d: want one error, got %v", n, err)
		}
		want := strings.Count(strings.TrimRight(string(cut), " \t\r\n"), "\n") + 1
		if errs[0].Line != want || !strings.Contains(errs[0].Message, "the input ends inside a document") {
			t.Errorf("cut at %d: %v; want line %d", n, errs[0], want)
		}
	}
}

func TestInputSizeCap(t *testing.T) {
	seed, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DocumentsLimit("seed.json", seed, len(seed)); err != nil {
		t.Fatalf("an input at the cap must decode: %v", err)
	}
	_, err = DocumentsLimit("seed.json", seed, len(seed)-1)
	want := fmt.Sprintf("seed.json: the input is %d bytes, larger than the %d bytes sdep reads per file", len(seed), len(seed)-1)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want prefix %q", err, want)
	}
	big := make([]byte, MaxInputBytes+1)
	_, err = Documents("big.json", big)
	if err == nil || !strings.Contains(err.Error(), "the input is 16.0 MiB (16777217 bytes), larger than the 16 MiB sdep reads per file") {
		t.Errorf("got %v", err)
	}
}

// bigDocument is the seed with n environment variables on its container.
func bigDocument(t *testing.T, n int) []byte {
	t.Helper()
	seed, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	var env strings.Builder
	for i := range n {
		if i > 0 {
			env.WriteString(",\n")
		}
		fmt.Fprintf(&env, `{"name": "VAR_%d", "value": "%s"}`, i, strings.Repeat("x", 20))
	}
	const at = `"name": "classifier",`
	if !strings.Contains(string(seed), at) {
		t.Fatalf("seed has no %s", at)
	}
	return []byte(strings.Replace(string(seed), at, at+` "env": [`+env.String()+`],`, 1))
}

// Decoding a valid JSON document allocates a small multiple of its size:
// the YAML node tree used for line numbers (over 15 times the input) is
// built only when a line is asked for.
func TestDecodingMemoryIsAMultipleOfTheInput(t *testing.T) {
	data := bigDocument(t, 20000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	docs, err := Documents("big.json", data)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(docs[0].Object.Spec.Predictors[0].ComponentSpecs[0].Spec.Containers[0].Env); n != 20000 {
		t.Fatalf("decoded %d env vars, want 20000", n)
	}
	ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(data))
	t.Logf("input %d bytes, allocated %.1f times that", len(data), ratio)
	if ratio > 15 {
		t.Errorf("decoding allocated %.1f times the input's %d bytes, want at most 15", ratio, len(data))
	}
	// Lines still work on demand.
	if line := docs[0].LineOf("spec.predictors[0].componentSpecs[0].spec.containers[0].env[19999].name"); line < 20000 {
		t.Errorf("line of the last env var = %d, want past 20000", line)
	}
}

// The validator writes a map key with dots in brackets
// (annotations[seldon.io/svc-name]); LineOf finds that key's own line.
func TestLineOfBracketedKey(t *testing.T) {
	input := "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors:\n  - name: a\n    graph: {name: c}\n    annotations:\n      other: x\n      seldon.io/svc-name: svc\n"
	docs, err := Documents("in.yaml", []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if got := docs[0].LineOf("spec.predictors[0].annotations[seldon.io/svc-name]"); got != 10 {
		t.Errorf("line %d, want 10", got)
	}
}

// Upstream samples' endpoint.http_port and grpc_port are dropped with a
// warning at their line, as Seldon Core drops them; other unknown endpoint
// fields stay errors.
func TestEndpointSnakeCasePortsDropped(t *testing.T) {
	doc := `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: ep}
spec:
  predictors:
  - name: p
    graph:
      name: model
      endpoint:
        http_port: 9001
        grpc_port: 9501
`
	docs, err := Documents("ep.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := docs[0].Dropped
	if len(got) != 2 || got[0].Line != 10 || got[0].Field != "spec.predictors[0].graph.endpoint.http_port" ||
		got[1].Line != 11 || !strings.Contains(got[1].Message, "dropped") {
		t.Fatalf("dropped %+v", got)
	}
	if _, err := Documents("ep.yaml", []byte(strings.Replace(doc, "grpc_port", "grpc_prot", 1))); err == nil {
		t.Error("another unknown endpoint field must stay an error")
	}
}
