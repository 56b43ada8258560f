package executor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pod may carry annotations up to the API server's 256 KiB total, which
// the kubelet writes on one line each, quoted (a byte may take 4
// characters): the reader must take lines far longer than bufio's 64 KiB.
func TestReadPodAnnotationsLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "annotations")
	big := strings.Repeat("\x01", 256<<10) // quoted as \x01: 1 MiB on the line
	want := map[string]string{"example.com/big": big, "seldon.io/rest-timeout": "5000"}
	if err := os.WriteFile(path, []byte(formatAnnotations(want)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPodAnnotations(path)
	if err != nil {
		t.Fatal(err)
	}
	if got["example.com/big"] != big || got["seldon.io/rest-timeout"] != "5000" || len(got) != 2 {
		t.Errorf("read %d annotations, big one %d bytes, rest-timeout %q", len(got), len(got["example.com/big"]), got["seldon.io/rest-timeout"])
	}
}

// A missing file is no annotations; a folder is an error.
func TestReadPodAnnotationsMissing(t *testing.T) {
	dir := t.TempDir()
	got, err := ReadPodAnnotations(filepath.Join(dir, "none"))
	if err != nil || got != nil {
		t.Errorf("missing file: %v, %v", got, err)
	}
	if _, err := ReadPodAnnotations(dir); err == nil {
		t.Error("a folder read as an annotations file")
	}
}
