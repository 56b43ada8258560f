package resources

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/golden"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testOptions pin the executor image so golden files do not change with
// the sdep version.
func testOptions() Options {
	return Options{
		ExecutorImage:      "sdep:test",
		ExecutorPullPolicy: "IfNotPresent",
		Predictor:          predictor.DefaultOptions(),
	}
}

// goldenCases maps each case name to its input document.
func goldenCases(t testing.TB) map[string]string {
	t.Helper()
	cases := map[string]string{
		"seed-hpaspecs":    filepath.Join("..", "..", "examples", "seed-hpaspecs.json"),
		"seed-v1":          filepath.Join("..", "..", "examples", "seed-v1.yaml"),
		"requests-to-zero": filepath.Join("..", "..", "examples", "requests-to-zero.json"),
	}
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*.json"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			if _, dup := cases[name]; dup {
				t.Fatalf("two inputs for golden case %q", name)
			}
			cases[name] = f
		}
	}
	return cases
}

// decodeFile reads the documents of a test input, failing the test on any
// decoding error.
func decodeFile(t testing.TB, path string) []*sdepv1.SeldonDeployment {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decode.Documents(filepath.Base(path), data)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	out := make([]*sdepv1.SeldonDeployment, len(docs))
	for i := range docs {
		out[i] = docs[i].Object
	}
	return out
}

// render builds and renders every document of a test input.
func render(t testing.TB, sds []*sdepv1.SeldonDeployment) []byte {
	t.Helper()
	var out []byte
	for _, sd := range sds {
		objs, err := Build(sd, testOptions())
		if err != nil {
			t.Fatalf("Build(%s): %v", sd.Name, err)
		}
		y, err := objs.YAML()
		if err != nil {
			t.Fatalf("YAML(%s): %v", sd.Name, err)
		}
		out = append(out, y...)
	}
	return out
}

// TestGolden renders every input and compares it with testdata/<case>.golden.
// Run `go test ./internal/resources -update` to accept a change, then read
// the diff.
func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	if len(cases) < 9 {
		t.Fatalf("found %d golden cases, want at least 9: inputs missing?", len(cases))
	}
	names := map[string]bool{}
	for name := range cases {
		names[name] = true
	}
	golden.NoOrphans(t, names)
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			sds := decodeFile(t, input)
			for _, sd := range sds {
				if res := validation.Validate(sd.DeepCopy()); len(res.Errors) > 0 {
					t.Fatalf("golden inputs must be valid documents; %s: %v", sd.Name, res.Errors)
				}
			}
			golden.Compare(t, name, "rendered objects", render(t, sds), *update)
		})
	}
}

// goldenInputs lists the input files of every golden case in name order.
func goldenInputs(t testing.TB) []string {
	cases := goldenCases(t)
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	inputs := make([]string, len(names))
	for i, name := range names {
		inputs[i] = cases[name]
	}
	return inputs
}
