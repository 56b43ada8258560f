package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestCompareAndOrphans(t *testing.T) {
	t.Chdir(t.TempDir())
	Compare(t, "a", "output", []byte("one\n"), true)
	if got, _ := os.ReadFile(filepath.Join(Dir, "a.golden")); string(got) != "one\n" {
		t.Fatalf("-update wrote %q", got)
	}
	Compare(t, "a", "output", []byte("one\n"), false)
	r := &recorder{TB: t}
	Compare(r, "a", "output", []byte("two\n"), false)
	if !r.failed {
		t.Error("a changed output passed")
	}
	r = &recorder{TB: t}
	Compare(r, "missing", "output", []byte("x"), false)
	if !r.failed {
		t.Error("a missing golden file passed")
	}
	NoOrphans(t, map[string]bool{"a": true})
	r = &recorder{TB: t}
	NoOrphans(r, map[string]bool{"b": true})
	if !r.failed {
		t.Error("an orphan golden file passed")
	}
}
