//go:build linux

package realnode

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sdep-dev/sdep/internal/image"
	"github.com/sdep-dev/sdep/internal/testenv"
)

// Image references of the images this test builds.
const (
	pauseRef         = testenv.DefaultPauseImage
	metricsServerRef = "sdep.local/metrics-server:v0.9.0"
)

// wrapImage puts a static binary at /<its name> in a one-layer image for
// this machine's platform (entrypoint that binary, running as nobody) and
// writes it as an OCI layout tarball named ref.
func wrapImage(t *testing.T, binary, ref string, entrypoint ...string) string {
	t.Helper()
	img, err := image.Image(image.Spec{
		Platform:   v1.Platform{OS: "linux", Architecture: goarch()},
		Files:      []image.File{{Path: "/" + filepath.Base(binary), Mode: 0o755, Source: binary}, {Path: "/tmp", Mode: 0o1777, Dir: true}},
		Entrypoint: entrypoint,
		User:       "65534:65534",
	})
	if err != nil {
		t.Fatalf("building the image %s: %v", ref, err)
	}
	idx, err := image.Index(img)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(binary)+".tar")
	if err := image.WriteOCILayoutTar(out, idx, ref); err != nil {
		t.Fatalf("writing the image %s: %v", ref, err)
	}
	return out
}

// testImages builds the pause image (hack/pause) and the metrics-server
// image (from BinDir's metrics-server, a static build).
func testImages(t *testing.T) (pause, metricsServer string) {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	pauseBin := filepath.Join(t.TempDir(), "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", pauseBin, "../../hack/pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hack/pause: %v\n%s", err, out)
	}
	return wrapImage(t, pauseBin, pauseRef, "/pause"),
		wrapImage(t, filepath.Join(bin, "metrics-server"), metricsServerRef, "/metrics-server")
}

func goarch() string { return runtime.GOARCH }
