package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func testSpec(t *testing.T, arch string) Spec {
	t.Helper()
	src := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(src, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Platform: v1.Platform{OS: "linux", Architecture: arch},
		Files: []File{
			{Path: "/usr/local/bin/app", Mode: 0o755, Data: []byte("#!binary " + arch)},
			{Path: "/etc/ssl/certs/ca-certificates.crt", Source: src},
			{Path: "/tmp", Dir: true, Mode: 0o1777},
		},
		Entrypoint: []string{"app"},
		Cmd:        []string{"--help"},
		User:       "65532:65532",
		Env:        []string{"PATH=/usr/local/bin", "LANG=C"},
		Ports:      []string{"9000", "5000/tcp", "6000/udp"},
		Labels:     map[string]string{LabelVersion: "1.2.3", LabelRevision: "abc"},
		Created:    time.Unix(1700000000, 0),
	}
}

func TestImageConfigAndLayer(t *testing.T) {
	img, err := Image(testSpec(t, "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("library validation: %v", err)
	}
	mt, _ := img.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "arm64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if !cfg.Created.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %v", cfg.Created)
	}
	want := v1.Config{
		Entrypoint:   []string{"app"},
		Cmd:          []string{"--help"},
		User:         "65532:65532",
		WorkingDir:   "/",
		Env:          []string{"PATH=/usr/local/bin", "LANG=C"},
		ExposedPorts: map[string]struct{}{"9000/tcp": {}, "5000/tcp": {}, "6000/udp": {}},
		Labels:       map[string]string{LabelVersion: "1.2.3", LabelRevision: "abc"},
	}
	if d := cmp.Diff(want, cfg.Config); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v; want exactly one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	var got []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want root without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: mtime %v", h.Name, h.ModTime)
		}
		got = append(got, fmt.Sprintf("%s %o", h.Name, h.Mode))
	}
	wantEntries := []string{
		"etc/ 755",
		"etc/ssl/ 755",
		"etc/ssl/certs/ 755",
		"etc/ssl/certs/ca-certificates.crt 644",
		"tmp/ 1777",
		"usr/ 755",
		"usr/local/ 755",
		"usr/local/bin/ 755",
		"usr/local/bin/app 755",
	}
	if d := cmp.Diff(wantEntries, got); d != "" {
		t.Errorf("layer entries (-want +got):\n%s", d)
	}
	h, b, err := ReadFile(img, "/tmp")
	if err != nil || h.Mode != 0o1777 || len(b) != 0 {
		t.Errorf("/tmp: mode %#o, %d bytes, %v; want 01777 directory", h.Mode, len(b), err)
	}
	h, b, err = ReadFile(img, "/usr/local/bin/app")
	if err != nil || string(b) != "#!binary arm64" || h.Mode != 0o755 {
		t.Errorf("/usr/local/bin/app: %q mode %#o err %v", b, h.Mode, err)
	}
	if _, _, err := ReadFile(img, "/nope"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func TestDefaults(t *testing.T) {
	img, err := Image(Spec{
		Platform:   v1.Platform{OS: "linux", Architecture: "amd64"},
		Files:      []File{{Path: "/pause", Mode: 0o755, Data: []byte("x")}},
		Entrypoint: []string{"/pause"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	if !cfg.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("created %v, want the Unix epoch", cfg.Created)
	}
	if d := cmp.Diff([]string{"PATH=" + DefaultPath}, cfg.Config.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if cfg.Config.WorkingDir != "/" {
		t.Errorf("workdir %q", cfg.Config.WorkingDir)
	}
}

func TestSpecErrorsNameTheField(t *testing.T) {
	base := func() Spec {
		return Spec{
			Platform:   v1.Platform{OS: "linux", Architecture: "amd64"},
			Files:      []File{{Path: "/bin/app", Data: []byte("x")}},
			Entrypoint: []string{"app"},
		}
	}
	cases := map[string]struct {
		edit func(*Spec)
		want string
	}{
		"no platform":      {func(s *Spec) { s.Platform = v1.Platform{} }, "Spec.Platform"},
		"no entrypoint":    {func(s *Spec) { s.Entrypoint = nil }, "Spec.Entrypoint"},
		"relative path":    {func(s *Spec) { s.Files[0].Path = "bin/app" }, "Spec.Files[0].Path"},
		"unclean path":     {func(s *Spec) { s.Files[0].Path = "/bin/../app" }, `write "/app"`},
		"duplicate":        {func(s *Spec) { s.Files = append(s.Files, File{Path: "/bin/app"}) }, "Spec.Files[1].Path"},
		"file as parent":   {func(s *Spec) { s.Files = append(s.Files, File{Path: "/bin/app/x"}) }, "to be a directory"},
		"both sources":     {func(s *Spec) { s.Files[0].Source = "/etc/hostname" }, "Data or Source, not both"},
		"missing source":   {func(s *Spec) { s.Files[0].Data, s.Files[0].Source = nil, "/does/not/exist" }, "Spec.Files[0].Source"},
		"bad mode":         {func(s *Spec) { s.Files[0].Mode = 0o17777 }, "Spec.Files[0].Mode"},
		"dir with data":    {func(s *Spec) { s.Files[0].Dir = true }, "Dir: true"},
		"named user":       {func(s *Spec) { s.User = "nobody" }, "Spec.User"},
		"named group":      {func(s *Spec) { s.User = "1:nogroup" }, "Spec.User"},
		"bad port":         {func(s *Spec) { s.Ports = []string{"http"} }, "Spec.Ports[0]"},
		"bad protocol":     {func(s *Spec) { s.Ports = []string{"80", "80/quic"} }, "Spec.Ports[1]"},
		"bad env":          {func(s *Spec) { s.Env = []string{"NOVALUE"} }, "Spec.Env[0]"},
		"relative workdir": {func(s *Spec) { s.WorkingDir = "work" }, "Spec.WorkingDir"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			_, err := Image(s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if got, err := SourceDateEpoch(); err != nil || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("unset: %v %v", got, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1234")
	if got, err := SourceDateEpoch(); err != nil || !got.Equal(time.Unix(1234, 0)) {
		t.Errorf("1234: %v %v", got, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := SourceDateEpoch(); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("bad value: %v", err)
	}
}

func TestIndexCarriesPlatforms(t *testing.T) {
	amd, err := Image(testSpec(t, "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := Image(testSpec(t, "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := Index(amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("library validation: %v", err)
	}
	im, _ := idx.IndexManifest()
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests", im.MediaType, len(im.Manifests))
	}
	for i, arch := range []string{"amd64", "arm64"} {
		p := im.Manifests[i].Platform
		if p == nil || p.OS != "linux" || p.Architecture != arch {
			t.Errorf("manifests[%d].platform %v, want linux/%s", i, p, arch)
		}
	}
	if _, err := Index(amd, amd); err == nil || !strings.Contains(err.Error(), "already given") {
		t.Errorf("duplicate platform: %v", err)
	}
	if _, err := Index(); err == nil {
		t.Error("empty index accepted")
	}
}

// buildTar builds a two-platform index from fresh inputs and writes it.
func buildTar(t *testing.T, dst string) v1.Hash {
	t.Helper()
	amd, err := Image(testSpec(t, "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	arm, err := Image(testSpec(t, "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := Index(amd, arm)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteOCILayoutTar(dst, idx, "example.test/team/app:1.2.3"); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLayoutTarRoundTripAndReproducible(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	d1 := buildTar(t, first)
	d2 := buildTar(t, second)
	if d1 != d2 {
		t.Errorf("index digests differ between two builds: %s vs %s", d1, d2)
	}
	b1, _ := os.ReadFile(first)
	b2, _ := os.ReadFile(second)
	if !bytes.Equal(b1, b2) {
		t.Errorf("the two tar files differ (%d vs %d bytes)", len(b1), len(b2))
	}

	p, idx, err := ReadOCILayoutTar(first, filepath.Join(dir, "x"), "example.test/team/app:1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got, _ := idx.Digest(); got != d1 {
		t.Errorf("read-back digest %s, want %s", got, d1)
	}
	img, err := ImageFor(idx, "linux", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err := ReadFile(img, "/usr/local/bin/app"); err != nil || string(b) != "#!binary arm64" {
		t.Errorf("arm64 app: %q %v", b, err)
	}
	if _, err := ImageFor(idx, "linux", "s390x"); err == nil || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("missing platform: %v", err)
	}
	if _, _, err := ReadOCILayoutTar(first, filepath.Join(dir, "y"), "other:1"); err == nil || !strings.Contains(err.Error(), "example.test/team/app:1.2.3") {
		t.Errorf("wrong ref: %v", err)
	}

	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := top.IndexManifest()
	ann := im.Manifests[0].Annotations
	if ann[AnnotationRefName] != "example.test/team/app:1.2.3" || ann[AnnotationContainerdName] != "example.test/team/app:1.2.3" {
		t.Errorf("index.json annotations %v", ann)
	}

	// manifest.json is the docker-load view of the host-architecture image.
	raw, err := os.ReadFile(filepath.Join(dir, "x", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("manifest.json %s: %v", raw, err)
	}
	hostArch := runtime.GOARCH
	if hostArch != "amd64" && hostArch != "arm64" {
		hostArch = "amd64" // the first image
	}
	hostImg, _ := ImageFor(idx, "linux", hostArch)
	hm, _ := hostImg.Manifest()
	if entries[0].Config != "blobs/sha256/"+hm.Config.Digest.Hex {
		t.Errorf("manifest.json config %s, want the linux/%s config %s", entries[0].Config, hostArch, hm.Config.Digest)
	}
	if d := cmp.Diff([]string{"example.test/team/app:1.2.3"}, entries[0].RepoTags); d != "" {
		t.Errorf("RepoTags (-want +got):\n%s", d)
	}
	for _, l := range entries[0].Layers {
		if _, err := os.Stat(filepath.Join(dir, "x", l)); err != nil {
			t.Errorf("manifest.json layer %s: %v", l, err)
		}
	}
}

func TestDockerRepoTag(t *testing.T) {
	for _, c := range []struct{ ref, want, containerd string }{
		{"sdep:0.1.0", "sdep:0.1.0", "docker.io/library/sdep:0.1.0"},
		{"docker.io/seldonio/mock_classifier:1.0", "seldonio/mock_classifier:1.0", "docker.io/seldonio/mock_classifier:1.0"},
		{"seldonio/mock_classifier:1.0", "seldonio/mock_classifier:1.0", "docker.io/seldonio/mock_classifier:1.0"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"localhost:5000/team/sdep:1", "localhost:5000/team/sdep:1", "localhost:5000/team/sdep:1"},
	} {
		dir := t.TempDir()
		img, err := Image(Spec{Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, Entrypoint: []string{"/x"}, Files: []File{{Path: "/x", Data: []byte("x")}}})
		if err != nil {
			t.Fatal(err)
		}
		idx, err := Index(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteOCILayoutTar(filepath.Join(dir, "i.tar"), idx, c.ref); err != nil {
			t.Fatal(err)
		}
		p, _, err := ReadOCILayoutTar(filepath.Join(dir, "i.tar"), filepath.Join(dir, "x"), c.ref)
		if err != nil {
			t.Fatal(err)
		}
		top, _ := p.ImageIndex()
		im, _ := top.IndexManifest()
		if got := im.Manifests[0].Annotations[AnnotationContainerdName]; got != c.containerd {
			t.Errorf("%s: %s %q, want %q (what containerd normalises the name to)", c.ref, AnnotationContainerdName, got, c.containerd)
		}
		if fi, err := os.Stat(filepath.Join(dir, "i.tar")); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("tarball mode %v (%v), want 0644", fi.Mode(), err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "x", "manifest.json"))
		var entries []dockerManifestEntry
		_ = json.Unmarshal(raw, &entries)
		if len(entries) != 1 || len(entries[0].RepoTags) != 1 || entries[0].RepoTags[0] != c.want {
			t.Errorf("%s: manifest.json %s, want RepoTags [%s]", c.ref, raw, c.want)
		}
	}
	if err := WriteOCILayoutTar(filepath.Join(t.TempDir(), "i.tar"), nil, "Bad Ref"); err == nil || !strings.Contains(err.Error(), "ref name") {
		t.Errorf("bad ref: %v", err)
	}
}
