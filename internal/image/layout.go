package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// AnnotationContainerdName is the index.json annotation containerd's importer
// reads first for the image name.
const AnnotationContainerdName = "io.containerd.image.name"

// dockerManifestEntry is one element of a `docker save` manifest.json.
type dockerManifestEntry struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// WriteOCILayoutTar writes idx as an OCI image layout packed in a tar file at
// dst: oci-layout, index.json (one descriptor: the index, annotated with
// refName as org.opencontainers.image.ref.name and io.containerd.image.name)
// and blobs/sha256/*. It also writes a docker manifest.json for the image of
// the host's architecture (else the first image), so docker versions that
// predate OCI archives can `docker load` it. The tar itself is reproducible:
// sorted members, fixed times, root-owned.
func WriteOCILayoutTar(dst string, idx v1.ImageIndex, refName string) error {
	ref, err := name.NewTag(refName)
	if err != nil {
		return fmt.Errorf("ref name %q: %w (want e.g. docker.io/library/app:1.0)", refName, err)
	}
	blobs := map[string][]byte{}
	host, err := collectIndex(idx, blobs)
	if err != nil {
		return err
	}

	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	mt, err := idx.MediaType()
	if err != nil {
		return err
	}
	top := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: mt,
			Digest:    digest,
			Size:      int64(len(raw)),
			Annotations: map[string]string{
				AnnotationRefName:        refName,
				AnnotationContainerdName: containerdName(ref),
			},
		}},
	}
	indexJSON, err := json.Marshal(top)
	if err != nil {
		return err
	}

	members := map[string][]byte{
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json": indexJSON,
	}
	if host != nil {
		entry := dockerManifestEntry{
			Config:   blobPath(host.Config.Digest),
			RepoTags: []string{dockerRepoTag(ref)},
		}
		for _, l := range host.Layers {
			entry.Layers = append(entry.Layers, blobPath(l.Digest))
		}
		b, err := json.Marshal([]dockerManifestEntry{entry})
		if err != nil {
			return err
		}
		members["manifest.json"] = b
	}
	for hex, b := range blobs {
		members["blobs/sha256/"+hex] = b
	}
	return writeTar(dst, members)
}

// containerdName is the fully qualified name containerd stores: docker.io
// (not the library's index.docker.io) and library/ for official images.
func containerdName(t name.Tag) string {
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// dockerRepoTag is the short form docker prints (library/ and docker.io/ dropped).
func dockerRepoTag(t name.Tag) string {
	repo := t.RepositoryStr()
	if t.RegistryStr() == name.DefaultRegistry {
		repo = strings.TrimPrefix(repo, "library/")
	} else {
		repo = t.RegistryStr() + "/" + repo
	}
	return repo + ":" + t.TagStr()
}

// collectIndex puts the raw manifests, configs and compressed layers of idx
// (recursively) into blobs and returns the manifest of the image for the
// host's architecture, or of the first image.
func collectIndex(idx v1.ImageIndex, blobs map[string][]byte) (*v1.Manifest, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, err
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	blobs[d.Hex] = raw
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var first, host *v1.Manifest
	for _, desc := range im.Manifests {
		var m *v1.Manifest
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return nil, err
			}
			if m, err = collectIndex(child, blobs); err != nil {
				return nil, err
			}
		case desc.MediaType.IsImage():
			img, err := idx.Image(desc.Digest)
			if err != nil {
				return nil, err
			}
			if m, err = collectImage(img, blobs); err != nil {
				return nil, err
			}
			if desc.Platform != nil && desc.Platform.OS == "linux" && desc.Platform.Architecture == runtime.GOARCH && host == nil {
				host = m
			}
		default:
			return nil, fmt.Errorf("index %s: descriptor %s has media type %q, neither an image nor an index", d, desc.Digest, desc.MediaType)
		}
		if first == nil {
			first = m
		}
	}
	if host != nil {
		return host, nil
	}
	return first, nil
}

func collectImage(img v1.Image, blobs map[string][]byte) (*v1.Manifest, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	blobs[d.Hex] = raw
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	blobs[m.Config.Digest.Hex] = cfg
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		ld, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if _, done := blobs[ld.Hex]; done {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", ld, err)
		}
		blobs[ld.Hex] = b
	}
	return m, nil
}

// writeTar writes members (and their parent directories) sorted by name, with
// the Unix epoch as every time and root ownership, through a temporary file
// renamed into place.
func writeTar(dst string, members map[string][]byte) error {
	names := make([]string, 0, len(members))
	dirs := map[string]bool{}
	for n := range members {
		names = append(names, n)
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)

	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	tw := tar.NewWriter(tmp)
	epoch := time.Unix(0, 0)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: epoch}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(members[n]))
		}
		if err := tw.WriteHeader(h); err != nil {
			_ = tmp.Close()
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(members[n]); err != nil {
				_ = tmp.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// ReadOCILayoutTar unpacks an OCI layout tar (as WriteOCILayoutTar writes)
// into dir, which must be empty or absent, and opens it with the library.
// It returns the layout, the index that index.json names refName, and an
// error if no descriptor carries that name.
func ReadOCILayoutTar(src, dir, refName string) (layout.Path, v1.ImageIndex, error) {
	if err := extractTar(src, dir); err != nil {
		return "", nil, err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return "", nil, fmt.Errorf("%s: not an OCI layout: %w", src, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return "", nil, err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return "", nil, err
	}
	var have []string
	for _, d := range im.Manifests {
		ref := d.Annotations[AnnotationRefName]
		have = append(have, ref)
		if ref != refName {
			continue
		}
		if !d.MediaType.IsIndex() {
			return "", nil, fmt.Errorf("%s: %s names a %s, want an image index", src, refName, d.MediaType)
		}
		idx, err := top.ImageIndex(d.Digest)
		return p, idx, err
	}
	return "", nil, fmt.Errorf("%s: index.json names no image %q (have %q)", src, refName, have)
}

// ImageFor returns the image of idx for the platform os/arch.
func ImageFor(idx v1.ImageIndex, osName, arch string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		have = append(have, d.Platform.String())
		if d.Platform.OS == osName && d.Platform.Architecture == arch {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("index has no image for %s/%s (have %v)", osName, arch, have)
}

// ReadFile returns the header and content of the file at the absolute path
// p in img's filesystem.
func ReadFile(img v1.Image, p string) (*tar.Header, []byte, error) {
	want := strings.TrimPrefix(path.Clean(p), "/")
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, err
	}
	// The last layer that has the file wins; sdep images have one layer.
	for i := len(layers) - 1; i >= 0; i-- {
		rc, err := layers[i].Uncompressed()
		if err != nil {
			return nil, nil, err
		}
		h, b, err := findInTar(rc, want)
		_ = rc.Close()
		if err != nil {
			return nil, nil, err
		}
		if h != nil {
			return h, b, nil
		}
	}
	return nil, nil, fmt.Errorf("%s: %w in the image", p, os.ErrNotExist)
}

func findInTar(r io.Reader, want string) (*tar.Header, []byte, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if strings.TrimPrefix(path.Clean(h.Name), "/") != want {
			continue
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			return nil, nil, err
		}
		return h, buf.Bytes(), nil
	}
}

// extractTar unpacks regular files and directories from src under dir,
// refusing names that would leave dir.
func extractTar(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("%s: member %q is outside the archive root", src, h.Name)
		}
		target := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(out, tr)
			if err := out.Close(); err != nil && cerr == nil {
				cerr = err
			}
			if cerr != nil {
				return cerr
			}
		default:
			return fmt.Errorf("%s: member %q has type %q; an OCI layout holds only files and directories", src, h.Name, h.Typeflag)
		}
	}
}
