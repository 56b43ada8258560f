package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sdep-dev/sdep/internal/image"
)

const (
	versionPkg = "github.com/sdep-dev/sdep/internal/version"
	// nonRoot is the numeric uid:gid the images run as (the distroless
	// "nonroot" ids), so runAsNonRoot can verify it without an /etc/passwd.
	nonRoot    = "65532:65532"
	sdepBinary = "/usr/local/bin/sdep"
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
)

// buildInfo is what every image build shares.
type buildInfo struct {
	moduleRoot string
	version    string
	commit     string
	created    time.Time
	workDir    string // where binaries are built
}

// platforms parses "linux/amd64,linux/arm64"; "host" means linux/GOARCH.
func platforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "host" {
			p = "linux/" + runtime.GOARCH
		}
		osName, arch, ok := strings.Cut(p, "/")
		if !ok || osName != "linux" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("platform %q: want linux/<arch> (e.g. linux/amd64,linux/arm64) or host", p)
		}
		out = append(out, v1.Platform{OS: osName, Architecture: arch})
	}
	return out, nil
}

// goBuild cross-compiles pkg as a static, reproducible binary: no cgo, no
// paths of this machine (-trimpath), no VCS stamp and no build id, so one
// commit gives the same bytes on every build. The nodev tag leaves out
// `sdep dev cluster`, whose test harness cannot start on a read-only root.
func (b buildInfo) goBuild(ctx context.Context, pkg string, p v1.Platform, extraLdflags ...string) (string, error) {
	out := filepath.Join(b.workDir, path.Base(pkg)+"-"+p.OS+"-"+p.Architecture)
	ldflags := append([]string{"-s", "-w", "-buildid="}, extraLdflags...)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-tags", "nodev",
		"-ldflags", strings.Join(ldflags, " "), "-o", out, pkg)
	cmd.Dir = b.moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s for %s/%s: %w", pkg, p.OS, p.Architecture, err)
	}
	return out, nil
}

func (b buildInfo) sdepLdflags() []string {
	return []string{"-X", versionPkg + ".Version=" + b.version, "-X", versionPkg + ".Commit=" + b.commit}
}

func (b buildInfo) labels(title string) map[string]string {
	return map[string]string{
		image.LabelTitle:    title,
		image.LabelVersion:  b.version,
		image.LabelRevision: b.commit,
		image.LabelSource:   "https://github.com/sdep-dev/sdep",
	}
}

// sdepSpec is the sdep image: the binary on PATH, the CA bundle, nothing else.
// The operator renders the executor as command ["sdep", "executor", ...], so
// "sdep" must resolve through PATH.
func (b buildInfo) sdepSpec(p v1.Platform, binary, ca string) image.Spec {
	return image.Spec{
		Platform: p,
		Files: []image.File{
			{Path: sdepBinary, Mode: 0o755, Source: binary},
			{Path: caBundle, Mode: 0o644, Source: ca},
		},
		Entrypoint: []string{"sdep"},
		User:       nonRoot,
		Env:        []string{"PATH=/usr/local/bin"},
		Labels:     b.labels("sdep"),
		Created:    b.created,
	}
}

// mockClassifierSpec is the same files as the sdep image (so the layer is
// shared) started as the built-in mock classifier on upstream's ports: REST
// 9000 and gRPC 5000 (upstream's metrics port 6000 is not served by sdep's
// mock, so it is not exposed).
func (b buildInfo) mockClassifierSpec(p v1.Platform, binary, ca string) image.Spec {
	s := b.sdepSpec(p, binary, ca)
	s.Entrypoint = []string{"sdep", "model", "mock-classifier"}
	s.Ports = []string{"9000/tcp", "5000/tcp"}
	s.Labels = b.labels("mock-classifier")
	return s
}

func (b buildInfo) pauseSpec(p v1.Platform, binary string) image.Spec {
	return image.Spec{
		Platform:   p,
		Files:      []image.File{{Path: "/pause", Mode: 0o755, Source: binary}},
		Entrypoint: []string{"/pause"},
		User:       nonRoot,
		Labels:     b.labels("pause"),
		Created:    b.created,
	}
}

// writeIndex builds one image per platform from spec and writes the index.
func writeIndex(dst, ref string, ps []v1.Platform, spec func(v1.Platform) (image.Spec, error)) (v1.Hash, error) {
	var imgs []v1.Image
	for _, p := range ps {
		s, err := spec(p)
		if err != nil {
			return v1.Hash{}, err
		}
		img, err := image.Image(s)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("%s %s/%s: %w", ref, p.OS, p.Architecture, err)
		}
		imgs = append(imgs, img)
	}
	idx, err := image.Index(imgs...)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := image.WriteOCILayoutTar(dst, idx, ref); err != nil {
		return v1.Hash{}, fmt.Errorf("%s: %w", dst, err)
	}
	return idx.Digest()
}

// allOptions selects what `all` builds.
type allOptions struct {
	out                          string
	ca                           string
	sdepRef, mockRef, pauseRef   string
	sdepPlatforms, mockPlatforms []v1.Platform
	pausePlatforms               []v1.Platform
}

// result is one written tarball.
type result struct {
	Path, Ref string
	Digest    v1.Hash
}

// buildAll builds sdep once per platform and writes sdep.tar,
// mock-classifier.tar and pause.tar under o.out.
func (b buildInfo) buildAll(ctx context.Context, o allOptions) ([]result, error) {
	if _, err := os.Stat(o.ca); err != nil {
		return nil, fmt.Errorf("-ca: %w (install Debian's ca-certificates package or pass -ca FILE)", err)
	}
	sdepBins := map[string]string{}
	need := append(append([]v1.Platform{}, o.sdepPlatforms...), o.mockPlatforms...)
	for _, p := range need {
		if _, done := sdepBins[p.Architecture]; done {
			continue
		}
		bin, err := b.goBuild(ctx, "./cmd/sdep", p, b.sdepLdflags()...)
		if err != nil {
			return nil, err
		}
		sdepBins[p.Architecture] = bin
	}
	var results []result
	add := func(name, ref string, ps []v1.Platform, spec func(v1.Platform) (image.Spec, error)) error {
		dst := filepath.Join(o.out, name)
		d, err := writeIndex(dst, ref, ps, spec)
		if err != nil {
			return err
		}
		results = append(results, result{Path: dst, Ref: ref, Digest: d})
		return nil
	}
	if err := add("sdep.tar", o.sdepRef, o.sdepPlatforms, func(p v1.Platform) (image.Spec, error) {
		return b.sdepSpec(p, sdepBins[p.Architecture], o.ca), nil
	}); err != nil {
		return nil, err
	}
	if err := add("mock-classifier.tar", o.mockRef, o.mockPlatforms, func(p v1.Platform) (image.Spec, error) {
		return b.mockClassifierSpec(p, sdepBins[p.Architecture], o.ca), nil
	}); err != nil {
		return nil, err
	}
	if err := add("pause.tar", o.pauseRef, o.pausePlatforms, func(p v1.Platform) (image.Spec, error) {
		bin, err := b.goBuild(ctx, "./hack/pause", p, "-X", "main.version="+tagOf(o.pauseRef))
		if err != nil {
			return image.Spec{}, err
		}
		return b.pauseSpec(p, bin), nil
	}); err != nil {
		return nil, err
	}
	return results, nil
}

func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	return "latest"
}

// wrapOptions describe a prebuilt static binary to put in an image.
type wrapOptions struct {
	binary     string
	ref        string
	dst        string
	inImage    string // path of the binary in the image
	entrypoint []string
	user       string
	ports      []string
	ca         string // optional CA bundle
	platform   v1.Platform
}

// wrap puts one static binary (e.g. metrics-server) into a single-platform image.
func (b buildInfo) wrap(o wrapOptions) (result, error) {
	if o.binary == "" || o.ref == "" || o.dst == "" {
		return result{}, fmt.Errorf("wrap needs -binary, -ref and -o")
	}
	if len(o.entrypoint) == 0 {
		return result{}, fmt.Errorf("wrap: -entrypoint is required (e.g. -entrypoint /metrics-server)")
	}
	inImage := o.inImage
	if inImage == "" {
		if path.IsAbs(o.entrypoint[0]) {
			inImage = o.entrypoint[0]
		} else {
			inImage = "/usr/local/bin/" + o.entrypoint[0]
		}
	}
	files := []image.File{{Path: inImage, Mode: 0o755, Source: o.binary}}
	if o.ca != "" {
		files = append(files, image.File{Path: caBundle, Mode: 0o644, Source: o.ca})
	}
	spec := image.Spec{
		Platform:   o.platform,
		Files:      files,
		Entrypoint: o.entrypoint,
		User:       o.user,
		Ports:      o.ports,
		Labels:     map[string]string{image.LabelTitle: path.Base(inImage)},
		Created:    b.created,
	}
	if !path.IsAbs(o.entrypoint[0]) {
		spec.Env = []string{"PATH=" + path.Dir(inImage)}
	}
	d, err := writeIndex(o.dst, o.ref, []v1.Platform{o.platform}, func(v1.Platform) (image.Spec, error) { return spec, nil })
	if err != nil {
		return result{}, err
	}
	return result{Path: o.dst, Ref: o.ref, Digest: d}, nil
}
