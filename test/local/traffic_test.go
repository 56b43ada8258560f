package local

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sdep-dev/sdep/internal/load"
	"github.com/sdep-dev/sdep/internal/local"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// twoPredictors is a canary document: two predictors of the built-in mock
// classifier, 75/25.
const twoPredictors = `apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: canary
spec:
  predictors:
  - name: main
    traffic: 75
    replicas: 1
    componentSpecs:
    - spec:
        containers:
        - name: classifier
          image: seldonio/mock_classifier:1.0
        terminationGracePeriodSeconds: 1
    graph: {name: classifier, type: MODEL, endpoint: {type: REST}}
  - name: canary
    traffic: 25
    replicas: 1
    componentSpecs:
    - spec:
        containers:
        - name: classifier2
          image: seldonio/mock_classifier:1.0
        terminationGracePeriodSeconds: 1
    graph: {name: classifier2, type: MODEL, endpoint: {type: REST}}
`

// TestServeTwoPredictorsWithDefaultPorts runs `sdep serve` on a
// two-predictor document with no port flags: it starts (the second
// predictor no longer wants the status port), /status lists each
// predictor's own ports, and the front port splits requests across both.
func TestServeTwoPredictorsWithDefaultPorts(t *testing.T) {
	for _, p := range []string{"8000", "5001", "8001", "8010", "8011", "5011", "5012"} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", p))
		if err != nil {
			t.Skipf("port %s is taken on this machine (%v): the default ports cannot be tested here", p, err)
		}
		_ = l.Close()
	}
	dir := t.TempDir()
	bin := buildSdep(t, dir)
	file := filepath.Join(dir, "canary.yaml")
	if err := os.WriteFile(file, []byte(twoPredictors), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "serve", "-f", file, "--table", "never", "--report-dir", "")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("sdep serve exited with %v", err)
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("sdep serve did not stop within 60 s of SIGINT: %v", <-exited)
		}
		t.Logf("sdep serve output:\n%s", out.String())
	}()

	var st local.Status
	testenv.WaitFor(t, 60*time.Second, "both predictors ready", func() error {
		var err error
		if st, err = getStatus("http://127.0.0.1:8001/status"); err != nil {
			return err
		}
		if len(st.Predictors) != 2 || !st.Predictors[0].Ready || !st.Predictors[1].Ready {
			return errNotYet(st)
		}
		return nil
	})
	got := []string{st.Front.HTTP, st.Front.GRPC, st.Predictors[0].HTTP, st.Predictors[0].GRPC, st.Predictors[1].HTTP, st.Predictors[1].GRPC}
	want := []string{"127.0.0.1:8000", "127.0.0.1:5001", "127.0.0.1:8010", "127.0.0.1:5011", "127.0.0.1:8011", "127.0.0.1:5012"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("front and predictor ports %v, want %v", got, want)
	}
	r, err := load.Run(context.Background(), load.Options{Target: "http://127.0.0.1:8000/api/v1.0/predictions",
		Concurrency: 2, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded == 0 || r.Succeeded != r.Requests {
		t.Fatalf("%d of %d predictions on the front port succeeded; first error: %s", r.Succeeded, r.Requests, r.FirstError)
	}
	st, err = getStatus("http://127.0.0.1:8001/status")
	if err != nil {
		t.Fatal(err)
	}
	if st.Predictors[0].Requests == 0 || st.Predictors[1].Requests == 0 ||
		st.Predictors[0].Requests+st.Predictors[1].Requests != int64(r.Requests) {
		t.Errorf("front requests main %d, canary %d; sent %d: want both a share and none lost",
			st.Predictors[0].Requests, st.Predictors[1].Requests, r.Requests)
	}
}

type notYet struct{ st local.Status }

func (e notYet) Error() string {
	var b strings.Builder
	for _, p := range e.st.Predictors {
		b.WriteString(p.Predictor + " ready=" + map[bool]string{true: "yes", false: "no"}[p.Ready] + "; ")
	}
	return "predictors: " + b.String()
}

func errNotYet(st local.Status) error { return notYet{st} }
