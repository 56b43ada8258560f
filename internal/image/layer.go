package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one normalised layer member.
type entry struct {
	name string // relative, no leading slash; directories end without slash
	dir  bool
	mode int64
	data []byte
}

// buildLayer writes the files as a tar (parents first, then sorted by name,
// every header with uid/gid 0, no user names and the same mtime), gzips it
// with a fixed header, and returns it as an OCI layer.
func buildLayer(files []File, mtime time.Time) (v1.Layer, error) {
	entries, err := layerEntries(files)
	if err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			ModTime: mtime,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
		if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	// The gzip header keeps its zero ModTime and empty Name: no build-time
	// facts leak into the digest.
	if _, err := io.Copy(zw, &raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	blob := gz.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	return plainLayer{l}, nil
}

// plainLayer hides the tarball layer's Descriptor method, whose empty (not
// nil) annotation map makes the in-memory manifest differ from its JSON.
type plainLayer struct{ v1.Layer }

// layerEntries validates the files, reads sources, adds missing parent
// directories and sorts everything by name (a parent sorts before its
// children because "a" < "a/b").
func layerEntries(files []File) ([]entry, error) {
	byName := map[string]*entry{}
	explicit := map[string]int{}
	for i, f := range files {
		field := fmt.Sprintf("Spec.Files[%d]", i)
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("%s.Path: %q must be absolute (e.g. /usr/local/bin/app)", field, f.Path)
		}
		clean := path.Clean(f.Path)
		if clean != f.Path && clean+"/" != f.Path {
			return nil, fmt.Errorf("%s.Path: %q is not clean; write %q", field, f.Path, clean)
		}
		if clean == "/" {
			return nil, fmt.Errorf("%s.Path: the root directory cannot be an entry", field)
		}
		name := strings.TrimPrefix(clean, "/")
		if j, dup := explicit[name]; dup {
			return nil, fmt.Errorf("%s.Path: %q is also Spec.Files[%d]; list each path once", field, f.Path, j)
		}
		explicit[name] = i
		if f.Mode < 0 || f.Mode > 0o7777 {
			return nil, fmt.Errorf("%s.Mode: %#o: want permission bits between 0 and 07777 (e.g. 0o755)", field, f.Mode)
		}
		e := &entry{name: name, dir: f.Dir, mode: f.Mode}
		switch {
		case f.Dir:
			if f.Data != nil || f.Source != "" {
				return nil, fmt.Errorf("%s: a directory (Dir: true) takes neither Data nor Source", field)
			}
			if e.mode == 0 {
				e.mode = 0o755
			}
		case f.Source != "" && f.Data != nil:
			return nil, fmt.Errorf("%s: set Data or Source, not both", field)
		case f.Source != "":
			b, err := os.ReadFile(f.Source)
			if err != nil {
				return nil, fmt.Errorf("%s.Source: %w", field, err)
			}
			e.data = b
		default:
			e.data = f.Data
		}
		if !e.dir && e.mode == 0 {
			e.mode = 0o644
		}
		byName[name] = e
	}
	for name := range explicit {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if p, ok := byName[dir]; ok {
				if !p.dir {
					return nil, fmt.Errorf("Spec.Files[%d].Path: /%s needs /%s to be a directory, but Spec.Files[%d] makes it a file", explicit[name], name, dir, explicit[dir])
				}
				continue
			}
			byName[dir] = &entry{name: dir, dir: true, mode: 0o755}
		}
	}
	out := make([]entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
