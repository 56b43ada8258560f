package validation

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/predictor"
)

// FuzzDecodeValidate feeds arbitrary documents through the strict decoder,
// the validator and defaulting: none may panic, Validate must not modify
// its input, and Default must be idempotent on valid documents.
func FuzzDecodeValidate(f *testing.F) {
	for _, file := range []string{"../../examples/seed-hpaspecs.json", "../../examples/seed-v1.yaml"} {
		data, err := os.ReadFile(file)
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
		for _, d := range docs {
			before := d.Object.DeepCopy()
			res := Validate(d.Object)
			if !cmp.Equal(before, d.Object) {
				t.Fatal("Validate modified its input")
			}
			if len(res.Errors) > 0 {
				continue
			}
			Default(d.Object, predictor.DefaultOptions())
			again := d.Object.DeepCopy()
			Default(again, predictor.DefaultOptions())
			if diff := cmp.Diff(d.Object, again); diff != "" {
				t.Fatalf("Default is not idempotent:\n%s", diff)
			}
		}
	})
}
