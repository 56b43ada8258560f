package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	sdepBin   string
	buildErr  error
)

// sdepBinary builds the sdep command once per test run; the CLI is tested
// as users run it: a process, its output and its exit code.
func sdepBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sdep-cli-test")
		if err != nil {
			buildErr = err
			return
		}
		sdepBin = filepath.Join(dir, "sdep")
		out, err := exec.Command("go", "build", "-o", sdepBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building sdep: %v", buildErr)
	}
	return sdepBin
}

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(sdepBinary(t), args...)
	cmd.Dir = "../.."
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestValidateSeed(t *testing.T) {
	out, errOut, code := run(t, "", "validate", "-f", "examples/seed-hpaspecs.json", "-f", "examples/seed-v1.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one summary line per document, got:\n%s", out)
	}
	want := `examples/seed-hpaspecs.json: SeldonDeployment "seldon-model" (machinelearning.seldon.io/v1alpha2) is valid: 1 predictor, 1 component; autoscaled: seldon-model-example-0-my-dep 1-4 replicas on cpu 10%`
	if lines[0] != want {
		t.Errorf("summary:\n got %s\nwant %s", lines[0], want)
	}
	if errOut != "" {
		t.Errorf("unexpected stderr: %s", errOut)
	}
}

func TestValidateReportsEveryProblemWithLines(t *testing.T) {
	seed, err := os.ReadFile("../../examples/seed-hpaspecs.json")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(seed), `"name": "my-dep"}`, `"name": "my-depp"}`, 1)
	bad = strings.Replace(bad, `"name": "classifier",`, `"name": "classifer",`, 1) // the container
	out, errOut, code := run(t, bad, "validate", "-f", "-")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	wantErr := []string{
		`-:36: spec.predictors[0].hpaSpecs[0].scaleTargetRef.name: "my-depp" matches no componentSpecs[].metadata.name (have: my-dep)`,
		`-:50: spec.predictors[0].graph.name: Can't find container for Predictive Unit "classifier": add a container named "classifier" to a componentSpec, or set a built-in implementation`,
	}
	if got := strings.Split(strings.TrimSpace(errOut), "\n"); strings.Join(got, "\n") != strings.Join(wantErr, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, strings.Join(wantErr, "\n"))
	}
	if !strings.Contains(out, "is invalid: 2 error(s)") {
		t.Errorf("stdout: %s", out)
	}
}

func TestValidateUnknownFieldAndGarbage(t *testing.T) {
	_, errOut, code := run(t, "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors: []\n  hpaSpec: {}\n", "validate", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "-:6: spec.hpaSpec: unknown field") {
		t.Errorf("exit %d stderr %s", code, errOut)
	}
	_, errOut, code = run(t, "\x00\xff{{{", "validate", "-f", "-")
	if code != 1 || errOut == "" || strings.Contains(errOut, "panic") {
		t.Errorf("garbage: exit %d stderr %s", code, errOut)
	}
}

func TestRenderSeed(t *testing.T) {
	out, errOut, code := run(t, "", "render", "-f", "examples/seed-hpaspecs.json", "--namespace", "models")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var kinds []string
	for _, doc := range strings.Split(out, "---\n") {
		for _, line := range strings.Split(doc, "\n") {
			if strings.HasPrefix(line, "kind: ") {
				kinds = append(kinds, strings.TrimPrefix(line, "kind: "))
			}
		}
	}
	want := "Deployment Service Service HorizontalPodAutoscaler"
	if strings.Join(kinds, " ") != want {
		t.Errorf("kinds %v, want %s", kinds, want)
	}
	if !strings.Contains(out, "namespace: models") || strings.Contains(out, "namespace: default") {
		t.Errorf("--namespace not applied")
	}
	if strings.Contains(out, "replicas:") {
		t.Errorf("the autoscaled Deployment must be rendered without replicas:\n%s", out)
	}
}

func TestRenderRefusesInvalid(t *testing.T) {
	out, errOut, code := run(t, "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec: {predictors: []}\n", "render", "-f", "-")
	if code != 1 || out != "" || !strings.Contains(errOut, "spec.predictors: Graph contains no predictors") {
		t.Errorf("exit %d stdout %q stderr %q", code, out, errOut)
	}
}
