package main

// These tests build the real images (two static sdep binaries, one pause
// binary) once per test binary and read the tarballs back with
// go-containerregistry. The reproducibility test builds everything a second
// time and is skipped under -short. Under -race they all skip: make
// test-images runs them, and CI runs make test-images.

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/sdep-dev/sdep/internal/image"
)

func forEachTarName(r io.Reader, fn func(string)) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(h.Name)
	}
}

const (
	testVersion = "9.8.7-test"
	testCommit  = "0123456789abcdef"
	hostCA      = "/etc/ssl/certs/ca-certificates.crt"
)

var (
	built    sync.Once
	builtDir string
	builtRes []result
	builtErr error
)

func testBuild(t *testing.T, out string) []result {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b := buildInfo{moduleRoot: root, version: testVersion, commit: testCommit, created: time.Unix(0, 0), workDir: filepath.Join(out, "work")}
	if err := os.MkdirAll(b.workDir, 0o755); err != nil {
		t.Fatal(err)
	}
	both, _ := platforms("linux/amd64,linux/arm64")
	host, _ := platforms("host")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := b.buildAll(ctx, allOptions{
		out: out, ca: hostCA,
		sdepRef: "sdep:" + testVersion, mockRef: "docker.io/seldonio/mock_classifier:1.0", pauseRef: "registry.k8s.io/pause:3.10",
		sdepPlatforms: both, mockPlatforms: host, pausePlatforms: host,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// images builds once for all tests of this binary.
func images(t *testing.T) (string, []result) {
	t.Helper()
	if raceEnabled {
		// Cold, the two cross-compiled sdep builds alone take more than the
		// test binary's 10 minutes beside the rest of go test -race ./...
		t.Skip("-race: the image builds run in make test-images, without the race detector")
	}
	if _, err := os.Stat(hostCA); err != nil {
		t.Skipf("no CA bundle on this machine (%v): install Debian's ca-certificates", err)
	}
	built.Do(func() {
		builtDir, builtErr = os.MkdirTemp("", "sdep-images-test-")
		if builtErr != nil {
			return
		}
		// A failed build fails the first test; later tests see no results.
		ok := t.Run("build", func(t *testing.T) { builtRes = testBuild(t, builtDir) })
		if !ok {
			builtErr = os.ErrInvalid
		}
	})
	if builtErr != nil {
		t.Fatalf("image build failed: %v", builtErr)
	}
	return builtDir, builtRes
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func readIndex(t *testing.T, dir, tarName, ref string) v1.ImageIndex {
	t.Helper()
	_, idx, err := image.ReadOCILayoutTar(filepath.Join(dir, tarName), t.TempDir(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("%s fails the library's validation: %v", tarName, err)
	}
	return idx
}

// layerNames lists the single layer's entries.
func layerNames(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	var names []string
	if err := forEachTarName(rc, func(n string) { names = append(names, n) }); err != nil {
		t.Fatal(err)
	}
	return names
}

// runFromImage writes the file at p of img to disk and runs it.
func runFromImage(t *testing.T, img v1.Image, p string, args ...string) string {
	t.Helper()
	h, b, err := image.ReadFile(img, p)
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode&0o111 == 0 {
		t.Fatalf("%s has mode %#o: not executable", p, h.Mode)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(p))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// As in a pod with a read-only root filesystem: no home, and a
	// temporary folder nothing can be created in. A program that writes
	// there when it starts (as controller-runtime's envtest does) fails.
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=/usr/local/bin", "TMPDIR=/proc/version"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", p, args, err, out)
	}
	return string(out)
}

func TestSdepImage(t *testing.T) {
	dir, _ := images(t)
	idx := readIndex(t, dir, "sdep.tar", "sdep:"+testVersion)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, d := range im.Manifests {
		plats = append(plats, d.Platform.String())
	}
	if d := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, plats); d != "" {
		t.Fatalf("index platforms (-want +got):\n%s", d)
	}
	wantCA, err := os.ReadFile(hostCA)
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			img, err := image.ImageFor(idx, "linux", arch)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OS != "linux" || cfg.Architecture != arch {
				t.Errorf("config platform %s/%s", cfg.OS, cfg.Architecture)
			}
			if d := cmp.Diff([]string{"sdep"}, cfg.Config.Entrypoint); d != "" {
				t.Errorf("entrypoint (-want +got):\n%s", d)
			}
			if uid, _, _ := strings.Cut(cfg.Config.User, ":"); uid == "" || uid == "0" || cfg.Config.User != nonRoot {
				t.Errorf("user %q, want the non-root %s", cfg.Config.User, nonRoot)
			}
			if d := cmp.Diff([]string{"PATH=/usr/local/bin"}, cfg.Config.Env); d != "" {
				t.Errorf("env (-want +got):\n%s", d)
			}
			if cfg.Config.Labels[image.LabelVersion] != testVersion || cfg.Config.Labels[image.LabelRevision] != testCommit {
				t.Errorf("labels %v, want version %s and revision %s", cfg.Config.Labels, testVersion, testCommit)
			}
			wantNames := []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/sdep"}
			if d := cmp.Diff(wantNames, layerNames(t, img)); d != "" {
				t.Errorf("layer holds more or less than sdep and the CA bundle (-want +got):\n%s", d)
			}
			_, ca, err := image.ReadFile(img, caBundle)
			if err != nil || !bytes.Equal(ca, wantCA) {
				t.Errorf("CA bundle: %d bytes (%v), want the host's %d", len(ca), err, len(wantCA))
			}
			_, bin, err := image.ReadFile(img, sdepBinary)
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != machines[arch] {
				t.Errorf("binary is for %s, want %s", f.Machine, machines[arch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("binary is dynamically linked")
				}
			}
			if arch != runtime.GOARCH {
				return
			}
			out := runFromImage(t, img, sdepBinary, "version")
			if !strings.Contains(out, "sdep "+testVersion+"\n") || !strings.Contains(out, "commit: "+testCommit+"\n") {
				t.Errorf("sdep version printed %q, want version %s and commit %s", out, testVersion, testCommit)
			}
		})
	}
}

func TestMockClassifierImage(t *testing.T) {
	dir, _ := images(t)
	idx := readIndex(t, dir, "mock-classifier.tar", "docker.io/seldonio/mock_classifier:1.0")
	img, err := image.ImageFor(idx, "linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"sdep", "model", "mock-classifier"}, cfg.Config.Entrypoint); d != "" {
		t.Errorf("entrypoint (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]struct{}{"9000/tcp": {}, "5000/tcp": {}}, cfg.Config.ExposedPorts); d != "" {
		t.Errorf("exposed ports (-want +got):\n%s", d)
	}
	if cfg.Config.User != nonRoot {
		t.Errorf("user %q", cfg.Config.User)
	}
	// The entrypoint's arguments name a real subcommand of the binary inside.
	out := runFromImage(t, img, sdepBinary, append(cfg.Config.Entrypoint[1:], "--help")...)
	if !strings.Contains(out, "--http-port") {
		t.Errorf("%v --help printed %q", cfg.Config.Entrypoint, out)
	}
	// The mock shares its layer with the sdep image of the same platform.
	sdepIdx := readIndex(t, dir, "sdep.tar", "sdep:"+testVersion)
	sdepImg, err := image.ImageFor(sdepIdx, "linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := img.Manifest()
	b, _ := sdepImg.Manifest()
	if a.Layers[0].Digest != b.Layers[0].Digest {
		t.Errorf("mock-classifier layer %s differs from the sdep layer %s", a.Layers[0].Digest, b.Layers[0].Digest)
	}
}

func TestPauseImage(t *testing.T) {
	dir, _ := images(t)
	idx := readIndex(t, dir, "pause.tar", "registry.k8s.io/pause:3.10")
	img, err := image.ImageFor(idx, "linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	if d := cmp.Diff([]string{"/pause"}, cfg.Config.Entrypoint); d != "" {
		t.Errorf("entrypoint (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"pause"}, layerNames(t, img)); d != "" {
		t.Errorf("layer (-want +got):\n%s", d)
	}
	if out := runFromImage(t, img, "/pause", "-v"); out != "pause 3.10\n" {
		t.Errorf("pause -v printed %q", out)
	}
}

func TestTwoBuildsSameDigests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the second full build")
	}
	dir, first := images(t)
	second := testBuild(t, t.TempDir())
	if len(first) != len(second) {
		t.Fatalf("%d vs %d tarballs", len(first), len(second))
	}
	for i := range first {
		if first[i].Ref != second[i].Ref || first[i].Digest != second[i].Digest {
			t.Errorf("%s: %s %s, second build %s %s", filepath.Base(first[i].Path), first[i].Ref, first[i].Digest, second[i].Ref, second[i].Digest)
		}
		a, _ := os.ReadFile(first[i].Path)
		b, _ := os.ReadFile(second[i].Path)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the tarballs differ byte for byte", filepath.Base(first[i].Path))
		}
	}
	_ = dir
}

func TestWrap(t *testing.T) {
	dir, _ := images(t)
	// The pause binary is a convenient static binary to wrap.
	idx := readIndex(t, dir, "pause.tar", "registry.k8s.io/pause:3.10")
	img, err := image.ImageFor(idx, "linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := image.ReadFile(img, "/pause")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "metrics-server")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "wrapped.tar")
	if err := run(context.Background(), []string{"wrap", "-binary", bin, "-ref", "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
		"-entrypoint", "/metrics-server", "-user", "65532", "-ports", "10250/tcp", "-o", dst}); err != nil {
		t.Fatal(err)
	}
	_, widx, err := image.ReadOCILayoutTar(dst, t.TempDir(), "registry.k8s.io/metrics-server/metrics-server:v0.8.0")
	if err != nil {
		t.Fatal(err)
	}
	wimg, err := image.ImageFor(widx, "linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := wimg.ConfigFile()
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/metrics-server"}) || cfg.Config.User != "65532" {
		t.Errorf("entrypoint %v user %q", cfg.Config.Entrypoint, cfg.Config.User)
	}
	if _, ok := cfg.Config.ExposedPorts["10250/tcp"]; !ok {
		t.Errorf("ports %v", cfg.Config.ExposedPorts)
	}
	if _, got, err := image.ReadFile(wimg, "/metrics-server"); err != nil || !bytes.Equal(got, b) {
		t.Errorf("/metrics-server: %d bytes, %v", len(got), err)
	}
}

func TestWrapRefusesWhatTheImageCannotRun(t *testing.T) {
	dynamic, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls to use as a dynamically linked binary")
	}
	isDynamic := false
	if f, err := elf.Open(dynamic); err == nil {
		for _, p := range f.Progs {
			isDynamic = isDynamic || p.Type == elf.PT_INTERP
		}
		_ = f.Close()
	}
	cases := map[string]struct {
		args []string
		want string
	}{
		"no binary":    {[]string{"wrap", "-ref", "x:1", "-entrypoint", "/x", "-o", "x.tar"}, "-binary: required"},
		"not elf":      {[]string{"wrap", "-binary", "images_test.go", "-ref", "x:1", "-entrypoint", "/x", "-o", "x.tar"}, "static linux ELF"},
		"bad platform": {[]string{"wrap", "-binary", dynamic, "-platform", "darwin/arm64", "-ref", "x:1", "-entrypoint", "/x", "-o", "x.tar"}, "-platform"},
		"unknown mode": {[]string{"push"}, "unknown mode"},
		"extra args":   {[]string{"all", "extra"}, "unexpected arguments"},
	}
	if isDynamic {
		cases["dynamic"] = struct {
			args []string
			want string
		}{[]string{"wrap", "-binary", dynamic, "-ref", "x:1", "-entrypoint", "/x", "-o", "x.tar"}, "dynamically linked"}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
