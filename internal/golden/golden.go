// Package golden compares test output with testdata/<case>.golden files, the
// way sdep's decision-log and builder tests check what they produce: a
// reviewer reads the golden file's diff, `go test -update` rewrites it, and
// a golden file no case produces fails the test rather than going stale.
// Only tests import it.
package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Dir is where golden files live, relative to the package under test.
const Dir = "testdata"

// Compare checks got against Dir/<name>.golden. With update it writes got
// there instead. what names the output in the failure ("decision log").
func Compare(t testing.TB, name, what string, got []byte, update bool) {
	t.Helper()
	path := filepath.Join(Dir, name+".golden")
	if update {
		if err := os.MkdirAll(Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from %s (-want +got); if the change is intended, run with -update:\n%s", what, path, diff)
	}
}

// NoOrphans fails the test for every Dir/*.golden that is not the output
// of one of the named cases.
func NoOrphans(t testing.TB, cases map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".golden"); !cases[name] {
			t.Errorf("%s belongs to no test case: delete it, or add the case that produces it", f)
		}
	}
}
