//go:build linux

// Package seedpods runs the seed's worked example on real containers: a
// real node (containerd, runc, kubelet, kube-proxy, metrics-server as a
// pod), sdep installed from dist/sdep.yaml with the operator running as a
// pod of the sdep image, and the seed applied verbatim.
//
// It needs root, the host packages of testenv.HostPackages, the control
// plane with the node binaries (hack/control-plane.sh real-node), the
// images under bin/images and dist/sdep.yaml. `make test-seed-pods`
// prepares all of them and runs it; without SDEP_REAL_NODE=1 every test
// is skipped.
package seedpods

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sdep-dev/sdep/internal/testenv"
)

// node is the real node every test of the package shares.
var node *testenv.RealNode

// repo is the repository root.
var repo = filepath.Join("..", "..")

func TestMain(m *testing.M) {
	if os.Getenv("SDEP_REAL_NODE") != "1" {
		fmt.Println("seedpods: skipped: set SDEP_REAL_NODE=1 (as root) or run `make test-seed-pods`")
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	testenv.SetTestLogger()
	images := imagesDir()
	operatorImage, err := manifestImage(distManifest())
	if err != nil {
		fmt.Fprintln(os.Stderr, "seedpods:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	work, err := os.MkdirTemp("", "sdep-seedpods-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "seedpods:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(work) }()
	pause, metricsServer, err := testenv.NodeImages(work, repo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seedpods:", err)
		return 1
	}
	node, err = testenv.StartRealNode(ctx, testenv.RealNodeOptions{
		Pause:         pause,
		MetricsServer: metricsServer,
		Images: []testenv.Image{
			{Tarball: filepath.Join(images, "sdep.tar"), Ref: operatorImage},
			// The seed's own image reference, as containerd normalises it.
			{Tarball: filepath.Join(images, "mock-classifier.tar"), Ref: "docker.io/seldonio/mock_classifier:1.0"},
		},
		Log: os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "seedpods: starting the real node:", err)
		return 1
	}
	fmt.Printf("seedpods: real node up in %.1fs\n", time.Since(start).Seconds())
	code := m.Run()
	if code != 0 {
		// What the cluster looked like, for a failure in CI.
		for _, args := range [][]string{
			{"get", "nodes,pods,deploy,hpa,svc,sdep", "-A", "-o", "wide"},
			{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		} {
			out, _ := kubectlInput("", args...)
			fmt.Printf("seedpods: kubectl %v\n%s\n", args, out)
		}
	}
	stopped := time.Now()
	if err := node.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "seedpods: teardown:", err)
		return 1
	}
	fmt.Printf("seedpods: teardown in %.1fs, host as before\n", time.Since(stopped).Seconds())
	return code
}

// requireNode skips a test when TestMain started no real node.
func requireNode(t *testing.T) {
	t.Helper()
	if node == nil {
		t.Skip("no real node: set SDEP_REAL_NODE=1 (as root) or run `make test-seed-pods`")
	}
}

func imagesDir() string {
	if d := os.Getenv("SDEP_IMAGES"); d != "" {
		return d
	}
	return filepath.Join(repo, "bin", "images")
}

func distManifest() string {
	if f := os.Getenv("SDEP_DIST"); f != "" {
		return f
	}
	return filepath.Join(repo, "dist", "sdep.yaml")
}
