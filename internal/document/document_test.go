package document

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sdep-dev/sdep/internal/decode"
)

const valid = `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: ok
spec:
  predictors:
  - name: p
    graph:
      name: m
      implementation: SIMPLE_MODEL
`

const invalid = `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: bad
spec:
  predictors:
  - name: p
    graph:
      name: m
      implementation: RANDOM_ABTEST
`

func TestCheckReportsAtTheLineOfTheField(t *testing.T) {
	var report bytes.Buffer
	docs, err := Check(&report, "f.yaml", []byte(valid+"---\n"+invalid))
	if !errors.Is(err, ErrReported) {
		t.Fatalf("Check error = %v, want ErrReported", err)
	}
	if len(docs) != 2 || len(docs[0].Errors) != 0 || len(docs[1].Errors) == 0 {
		t.Fatalf("got %d documents with errors %v / %v", len(docs), docs[0].Errors, docs[1].Errors)
	}
	// The second document starts at line 12; its graph at line 19.
	want := "f.yaml:19: spec.predictors[0].graph.children: RANDOM_ABTEST routes to one of exactly 2 children, it has 0\n"
	if !strings.Contains(report.String(), want) {
		t.Errorf("report:\n%s\nwant a line %q", report.String(), want)
	}
}

func TestCheckValid(t *testing.T) {
	var report bytes.Buffer
	docs, err := Check(&report, "f.yaml", []byte(valid))
	if err != nil || len(docs) != 1 || report.Len() != 0 {
		t.Fatalf("Check = %d docs, %v, report %q", len(docs), err, report.String())
	}
	if _, err := One("f.yaml", append(docs, docs[0]), "sdep serve"); err == nil || !strings.Contains(err.Error(), "has 2 SeldonDeployments; sdep serve runs one") {
		t.Errorf("One of two: %v", err)
	}
}

func TestLoadReportsUnreadableAndUndecodable(t *testing.T) {
	var report bytes.Buffer
	if _, err := Load(&report, nil, "does-not-exist.yaml"); !errors.Is(err, ErrReported) || !strings.HasPrefix(report.String(), "does-not-exist.yaml: ") {
		t.Errorf("missing file: %v, report %q", err, report.String())
	}
	report.Reset()
	if _, err := Load(&report, strings.NewReader("kind: [\n"), "-"); !errors.Is(err, ErrReported) || !strings.Contains(report.String(), "-:") {
		t.Errorf("bad YAML on stdin: %v, report %q", err, report.String())
	}
}

func TestReadStopsPastTheDecodersLimit(t *testing.T) {
	huge := strings.NewReader(strings.Repeat(" ", decode.MaxInputBytes+1000))
	data, err := Read(huge, "-")
	if err != nil || len(data) != decode.MaxInputBytes+1 {
		t.Fatalf("Read = %d bytes, %v; want %d", len(data), err, decode.MaxInputBytes+1)
	}
	var report bytes.Buffer
	if _, err := Check(&report, "-", data); !errors.Is(err, ErrReported) || !strings.Contains(report.String(), "MiB") {
		t.Errorf("Check of an input over the limit: %v, report %q", err, report.String())
	}
}
