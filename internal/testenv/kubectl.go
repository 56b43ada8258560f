package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// binHint says how to build the control-plane binaries.
const binHint = "build them with: export KUBEBUILDER_ASSETS=$(hack/control-plane.sh all)"

// kubectlTimeout bounds one kubectl invocation.
const kubectlTimeout = time.Minute

// BinDir is the folder holding the control-plane binaries, all built at
// one Kubernetes version: $KUBEBUILDER_ASSETS when set, else
// bin/control-plane/current in this folder or the nearest one above it
// that has it (the repository's, from a test's package folder).
func BinDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "bin", "control-plane", "current")
		if info, err := os.Stat(candidate); err == nil && info.IsDir() {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no control-plane binaries: KUBEBUILDER_ASSETS is not set and no bin/control-plane/current was found; " + binHint)
		}
	}
}

// KubectlPath is the kubectl in BinDir, built at the apiserver's version.
func KubectlPath() (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("kubectl is missing from %s (%w); %s", dir, err, binHint)
	}
	return path, nil
}

// Kubectl runs KubectlPath with kubeconfig and args and returns its
// combined output, failing the test if kubectl is missing, fails or takes
// more than a minute.
func Kubectl(t TB, kubeconfig string, args ...string) string {
	t.Helper()
	path, err := KubectlPath()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
