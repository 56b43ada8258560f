package decode

import (
	"errors"
	"os"
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
			want:  []string{`in.yaml:5: spec.replicas: cannot use a JSON string here: want a number`},
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
