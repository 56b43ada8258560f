//go:build linux

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sdep-dev/sdep/internal/image"
)

// MetricsServerImage is the name the real node's metrics-server image is
// imported under.
const MetricsServerImage = "sdep.local/metrics-server:v0.9.0"

// WrapBinary puts a static binary at /<its name> in a one-layer image for
// this machine's platform, running as nobody with entrypoint (default: the
// binary), and writes it to dir as an OCI layout tarball named ref.
func WrapBinary(dir, binary, ref string, entrypoint ...string) (string, error) {
	name := filepath.Base(binary)
	if len(entrypoint) == 0 {
		entrypoint = []string{"/" + name}
	}
	img, err := image.Image(image.Spec{
		Platform:   v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Files:      []image.File{{Path: "/" + name, Mode: 0o755, Source: binary}, {Path: "/tmp", Mode: 0o1777, Dir: true}},
		Entrypoint: entrypoint,
		User:       "65534:65534",
	})
	if err != nil {
		return "", fmt.Errorf("building the image %s: %w", ref, err)
	}
	idx, err := image.Index(img)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name+".tar")
	if err := image.WriteOCILayoutTar(out, idx, ref); err != nil {
		return "", fmt.Errorf("writing the image %s: %w", ref, err)
	}
	return out, nil
}

// NodeImages builds what every real node needs into dir: the pause image
// (repoRoot's hack/pause, a static build) and the metrics-server image
// (BinDir's metrics-server, built static by hack/control-plane.sh).
func NodeImages(dir, repoRoot string) (pause, metricsServer Image, err error) {
	bin, err := BinDir()
	if err != nil {
		return Image{}, Image{}, err
	}
	pauseBin := filepath.Join(dir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", pauseBin, "./hack/pause")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return Image{}, Image{}, fmt.Errorf("building hack/pause in %s: %w\n%s", repoRoot, err, out)
	}
	if pause.Tarball, err = WrapBinary(dir, pauseBin, DefaultPauseImage); err != nil {
		return Image{}, Image{}, err
	}
	pause.Ref = DefaultPauseImage
	if metricsServer.Tarball, err = WrapBinary(dir, filepath.Join(bin, "metrics-server"), MetricsServerImage); err != nil {
		return Image{}, Image{}, err
	}
	metricsServer.Ref = MetricsServerImage
	return pause, metricsServer, nil
}
