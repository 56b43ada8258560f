package resources

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sdep-dev/sdep/internal/decode"
)

// FuzzBuild feeds arbitrary documents through the decoder into Build: any
// document the decoder accepts, valid or not, must build (or fail) without
// a panic, build the same objects twice, and render. The corpus in
// testdata/fuzz/FuzzBuild holds valid documents; the golden inputs are
// added as seeds too.
func FuzzBuild(f *testing.F) {
	for _, input := range goldenInputs(f) {
		data, err := os.ReadFile(input)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := decode.Documents("fuzz", data)
		if err != nil {
			return
		}
		for _, doc := range docs {
			first, err := Build(doc.Object, Options{})
			if err != nil {
				continue
			}
			second, err := Build(doc.Object, Options{})
			if err != nil {
				t.Fatalf("Build failed the second time only: %v", err)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Fatalf("Build is not deterministic (-first +second):\n%s", diff)
			}
			if _, err := first.YAML(); err != nil {
				t.Fatalf("YAML: %v", err)
			}
		}
	})
}
