// Package image builds small container images without a container engine and
// without pulling a base image: one reproducible layer written here (sorted
// entries, a fixed modification time, root-owned files, fixed modes) on top of
// an empty image, plus a config with the entrypoint, user, environment, ports
// and labels. Images are collected into an OCI image index and written as an
// OCI image layout in a tar file that `ctr images import`, `docker load` and
// `kind load image-archive` accept.
//
// Two builds from the same inputs give byte-identical blobs, so the same digest.
package image

import (
	"fmt"
	"maps"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPath is the PATH set when a Spec's Env has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Standard OCI annotation and label keys used by the builders.
const (
	AnnotationRefName  = "org.opencontainers.image.ref.name"
	LabelVersion       = "org.opencontainers.image.version"
	LabelRevision      = "org.opencontainers.image.revision"
	LabelSource        = "org.opencontainers.image.source"
	LabelTitle         = "org.opencontainers.image.title"
	createdByThisBuild = "sdep image builder: one layer of listed files"
)

// File is one entry of the image's only layer. Exactly one of Data or Source
// gives a regular file's content; Dir makes a directory instead. Parent
// directories that are not listed are added with mode 0755.
type File struct {
	// Path is absolute inside the image, e.g. /usr/local/bin/sdep.
	Path string
	// Mode holds the permission bits (e.g. 0o755). Zero means 0644 for a file
	// and 0755 for a directory.
	Mode int64
	// Data is the file's content.
	Data []byte
	// Source is a file on the build machine whose content is copied.
	Source string
	// Dir makes the entry a directory (no Data, no Source).
	Dir bool
}

// Spec describes one single-platform image.
type Spec struct {
	// Platform is required: OS and Architecture (Variant for arm/v7 etc.).
	Platform v1.Platform
	// Files make up the single layer.
	Files []File
	// Entrypoint and Cmd as in the OCI image config.
	Entrypoint []string
	Cmd        []string
	// User is "uid" or "uid:gid"; numeric so that runAsNonRoot can verify it.
	User string
	// WorkingDir defaults to "/".
	WorkingDir string
	// Env entries are KEY=VALUE; PATH defaults to DefaultPath when absent.
	Env []string
	// Ports are "8080", "8080/tcp" or "5353/udp".
	Ports []string
	// Labels go into the config (version, revision, ...).
	Labels map[string]string
	// Created is the config's creation time and every layer entry's
	// modification time. Zero means the Unix epoch; see SourceDateEpoch.
	Created time.Time
}

// SourceDateEpoch returns the time in SOURCE_DATE_EPOCH, or the Unix epoch
// when it is unset, for Spec.Created.
func SourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970-01-01 UTC (e.g. the commit time: git log -1 --format=%%ct)", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// Image builds the single-platform image the spec describes.
func Image(spec Spec) (v1.Image, error) {
	if spec.Platform.OS == "" || spec.Platform.Architecture == "" {
		return nil, fmt.Errorf("Spec.Platform: OS and Architecture are required (have %q/%q), e.g. linux/amd64", spec.Platform.OS, spec.Platform.Architecture)
	}
	if len(spec.Entrypoint) == 0 && len(spec.Cmd) == 0 {
		return nil, fmt.Errorf("Spec.Entrypoint: an image needs an Entrypoint or a Cmd to run")
	}
	created := spec.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC().Truncate(time.Second)

	ports, err := exposedPorts(spec.Ports)
	if err != nil {
		return nil, err
	}
	env, err := withPath(spec.Env)
	if err != nil {
		return nil, err
	}
	if err := checkUser(spec.User); err != nil {
		return nil, err
	}
	workdir := spec.WorkingDir
	if workdir == "" {
		workdir = "/"
	}
	if !path.IsAbs(workdir) {
		return nil, fmt.Errorf("Spec.WorkingDir: %q must be an absolute path", workdir)
	}

	layer, err := buildLayer(spec.Files, created)
	if err != nil {
		return nil, err
	}

	cfg := &v1.ConfigFile{
		Architecture: spec.Platform.Architecture,
		OS:           spec.Platform.OS,
		OSVersion:    spec.Platform.OSVersion,
		Variant:      spec.Platform.Variant,
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			Entrypoint:   spec.Entrypoint,
			Cmd:          spec.Cmd,
			User:         spec.User,
			WorkingDir:   workdir,
			Env:          env,
			ExposedPorts: ports,
			Labels:       copyLabels(spec.Labels),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: createdByThisBuild},
	})
	if err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	return img, nil
}

// Index collects single-platform images into an OCI image index whose
// descriptors carry each image's platform, read from its config.
func Index(images ...v1.Image) (v1.ImageIndex, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("image.Index: no images given")
	}
	seen := map[string]int{}
	adds := make([]mutate.IndexAddendum, 0, len(images))
	for i, img := range images {
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("images[%d]: reading config: %w", i, err)
		}
		p := cfg.Platform()
		if p == nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("images[%d]: config has no os/architecture; build it with image.Image", i)
		}
		if j, dup := seen[p.String()]; dup {
			return nil, fmt.Errorf("images[%d]: platform %s already given by images[%d]; an index holds one image per platform", i, p, j)
		}
		seen[p.String()] = i
		mt, err := img.MediaType()
		if err != nil {
			return nil, fmt.Errorf("images[%d]: %w", i, err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: mt, Platform: p},
		})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

func exposedPorts(ports []string) (map[string]struct{}, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	out := make(map[string]struct{}, len(ports))
	for i, p := range ports {
		num, proto, found := strings.Cut(p, "/")
		if !found {
			proto = "tcp"
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("Spec.Ports[%d]: %q: want a port number 1-65535, optionally with /tcp, /udp or /sctp", i, p)
		}
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return nil, fmt.Errorf("Spec.Ports[%d]: %q: protocol must be tcp, udp or sctp", i, p)
		}
		out[strconv.Itoa(n)+"/"+proto] = struct{}{}
	}
	return out, nil
}

func withPath(env []string) ([]string, error) {
	out := make([]string, 0, len(env)+1)
	hasPath := false
	for i, e := range env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("Spec.Env[%d]: %q: want KEY=VALUE", i, e)
		}
		if k == "PATH" {
			hasPath = true
		}
		out = append(out, e)
	}
	if !hasPath {
		out = append([]string{"PATH=" + DefaultPath}, out...)
	}
	return out, nil
}

// checkUser accepts "", a numeric uid or "uid:gid". Names would need an
// /etc/passwd in the image and defeat the kubelet's runAsNonRoot check.
func checkUser(u string) error {
	if u == "" {
		return nil
	}
	uid, gid, hasGid := strings.Cut(u, ":")
	if _, err := strconv.ParseUint(uid, 10, 32); err != nil {
		return fmt.Errorf("Spec.User: %q: use a numeric uid or uid:gid (e.g. 65532:65532); names need an /etc/passwd the image does not have", u)
	}
	if hasGid {
		if _, err := strconv.ParseUint(gid, 10, 32); err != nil {
			return fmt.Errorf("Spec.User: %q: the gid after ':' must be numeric (e.g. 65532:65532)", u)
		}
	}
	return nil
}

func copyLabels(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	return maps.Clone(in)
}
