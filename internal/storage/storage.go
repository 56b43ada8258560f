// Package storage fetches a SeldonDeployment modelUri into a local
// directory: what the storage initializer init container does in a pod
// (`sdep storage-initializer URI DIR`), and what `sdep serve` does before
// it starts a prepackaged model server.
//
// Sources: plain paths and file:// URIs, s3://bucket/prefix (any
// S3-compatible endpoint) and gs://bucket/prefix (Google Cloud Storage's
// JSON API). rclone's remote form NAME:bucket/prefix is accepted too when
// RCLONE_CONFIG_<NAME>_TYPE says s3 or google cloud storage, as upstream's
// rclone-based initializer takes it. A prefix naming a directory is copied
// with its tree into the target; a prefix naming one object copies that
// object into the target, as `rclone copy` does.
//
// Objects are streamed to disk, never held in memory. Credentials and
// endpoints come from the environment, with the keys of the node's
// envSecretRefName secret (Options.Env) taking precedence.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// Options configure a fetch.
type Options struct {
	// Env holds variables that take precedence over the process
	// environment: the keys of the envSecretRefName secret.
	Env map[string]string
	// Getenv reads the process environment; os.Getenv when nil.
	Getenv func(string) string
}

func (o Options) get(key string) string {
	if v, ok := o.Env[key]; ok {
		return v
	}
	if o.Getenv != nil {
		return o.Getenv(key)
	}
	return os.Getenv(key)
}

// first returns the first non-empty variable of keys.
func (o Options) first(keys ...string) string {
	for _, k := range keys {
		if v := o.get(k); v != "" {
			return v
		}
	}
	return ""
}

// Source is a parsed modelUri.
type Source struct {
	// Scheme is "file", "s3" or "gs".
	Scheme string
	// Bucket is the bucket of s3 and gs sources.
	Bucket string
	// Path is the local path (file) or the object prefix (s3, gs), without
	// a leading slash.
	Path string
	// Remote is the rclone remote name for NAME:bucket/prefix URIs.
	Remote string
}

// Parse reads a modelUri.
func Parse(uri string, o Options) (Source, error) {
	switch {
	case uri == "":
		return Source{}, errors.New("modelUri is empty: give a path, file://, s3:// or gs:// URI")
	case strings.HasPrefix(uri, "file://"):
		p := strings.TrimPrefix(uri, "file://")
		if p == "" {
			return Source{}, fmt.Errorf("%s: no path after file://", uri)
		}
		return Source{Scheme: "file", Path: p}, nil
	case strings.HasPrefix(uri, "s3://"), strings.HasPrefix(uri, "gs://"):
		return bucketSource(uri, uri[:2], strings.TrimPrefix(uri[3:], "//"), "")
	case strings.HasPrefix(uri, "pvc://"):
		return Source{}, fmt.Errorf("%s: pvc:// names a PersistentVolumeClaim, which only exists in a cluster: "+
			"give the directory's local path instead", uri)
	case strings.Contains(uri, "://"):
		return Source{}, fmt.Errorf("%s: scheme %q is not supported: use a path, file://, s3:// or gs://",
			uri, strings.SplitN(uri, "://", 2)[0])
	}
	if i := strings.IndexByte(uri, ':'); i > 0 && !strings.ContainsAny(uri[:i], `/\.`) {
		name := uri[:i]
		rest := strings.TrimPrefix(uri[i+1:], "//")
		typ := strings.ToLower(o.get("RCLONE_CONFIG_" + strings.ToUpper(name) + "_TYPE"))
		switch {
		case typ == "s3" || (typ == "" && strings.EqualFold(name, "s3")):
			return bucketSource(uri, "s3", rest, name)
		case typ == "google cloud storage" || typ == "gcs" || (typ == "" && (strings.EqualFold(name, "gs") || strings.EqualFold(name, "gcs"))):
			return bucketSource(uri, "gs", rest, name)
		case typ != "":
			return Source{}, fmt.Errorf("%s: rclone remote %s has type %q; sdep fetches s3 and google cloud storage remotes only", uri, name, typ)
		}
		return Source{}, fmt.Errorf("%s: unknown remote %q: use s3://bucket/path or gs://bucket/path, "+
			"or set RCLONE_CONFIG_%s_TYPE", uri, name, strings.ToUpper(name))
	}
	return Source{Scheme: "file", Path: uri}, nil
}

func bucketSource(uri, scheme, rest, remote string) (Source, error) {
	rest = strings.TrimLeft(rest, "/")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Source{}, fmt.Errorf("%s: no bucket: want %s://BUCKET/PATH", uri, scheme)
	}
	return Source{Scheme: scheme, Bucket: bucket, Path: strings.Trim(prefix, "/"), Remote: remote}, nil
}

// object is one file of a remote listing.
type object struct {
	key  string // full key
	rel  string // path under the target directory, slash-separated
	size int64
}

// remote is what an object store offers the copier.
type remote interface {
	// list returns the objects under prefix + "/" (recursively), or the
	// single object named prefix.
	list(ctx context.Context) ([]object, error)
	// open streams one object.
	open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Download copies uri's contents into dir, creating it.
func Download(ctx context.Context, uri, dir string, o Options) error {
	src, err := Parse(uri, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if src.Scheme == "file" {
		if err := copyLocal(src.Path, dir); err != nil {
			return fmt.Errorf("fetching %s: %w", uri, err)
		}
		return nil
	}
	var r remote
	switch src.Scheme {
	case "s3":
		r, err = newS3(src, o)
	case "gs":
		r, err = newGCS(ctx, src, o)
	}
	if err != nil {
		return fmt.Errorf("fetching %s: %w", uri, err)
	}
	objs, err := r.list(ctx)
	if err != nil {
		return fmt.Errorf("fetching %s: listing: %w", uri, err)
	}
	if len(objs) == 0 {
		return fmt.Errorf("fetching %s: no objects under %s/%s: check the bucket and path", uri, src.Bucket, src.Path)
	}
	for _, obj := range objs {
		if err := fetchObject(ctx, r, obj, dir); err != nil {
			return fmt.Errorf("fetching %s: %s: %w", uri, obj.key, err)
		}
	}
	return nil
}

// safeRel checks that a remote-supplied relative path stays inside the
// target directory.
func safeRel(rel string) (string, error) {
	clean := path.Clean("/" + rel)
	if rel == "" || clean == "/" || strings.Contains(rel, `\`) || strings.Contains(rel, "\x00") {
		return "", fmt.Errorf("object path %q cannot be written safely", rel)
	}
	for _, part := range strings.Split(rel, "/") {
		if part == ".." {
			return "", fmt.Errorf("object path %q leaves the target directory", rel)
		}
	}
	return filepath.FromSlash(clean[1:]), nil
}

func fetchObject(ctx context.Context, r remote, obj object, dir string) error {
	rel, err := safeRel(obj.rel)
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	body, err := r.open(ctx, obj.key)
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return err
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && obj.size >= 0 && n != obj.size {
		err = fmt.Errorf("got %d bytes, the listing said %d", n, obj.size)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), dst)
}

// copyLocal copies a file into dir, or a directory's tree into dir.
func copyLocal(src, dir string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyFile(src, filepath.Join(dir, filepath.Base(src)), st.Mode())
	}
	if inside, err := within(dir, src); err != nil {
		return err
	} else if inside {
		return fmt.Errorf("the target %s is %s itself or inside it: the copy would copy itself; give a target outside the source", dir, src)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, dst, info.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			if info.IsDir() {
				return fmt.Errorf("%s: symbolic link to a directory is not followed", p)
			}
			return copyFile(p, dst, info.Mode())
		}
		return nil // sockets, devices: skipped
	})
}

// within says whether dir is root or under it, symbolic links resolved
// (both exist).
func within(dir, root string) (bool, error) {
	d, err := filepath.EvalSymlinks(dir)
	if err == nil {
		d, err = filepath.Abs(d)
	}
	if err != nil {
		return false, err
	}
	r, err := filepath.EvalSymlinks(root)
	if err == nil {
		r, err = filepath.Abs(r)
	}
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(r, d)
	if err != nil {
		return false, nil // on another volume
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)), nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// Cache keeps fetched URIs under Dir, one directory per URI (named by the
// URI's SHA-256), so a second fetch of a URI, by this or another process,
// reuses the first. A fetch is written to a temporary directory and
// renamed into place, so a directory under Dir is always complete.
// Concurrent Fetch calls of one URI in a process fetch it once.
type Cache struct {
	Dir string

	mu       sync.Mutex
	inflight map[string]*call
}

type call struct {
	done chan struct{}
	dir  string
	err  error
	// cancelled: the fetch failed once its caller's context was done, so
	// waiters with a live context fetch again rather than take err.
	cancelled bool
}

// Key is the cache directory name of uri.
func Key(uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(sum[:16])
}

// Fetch returns a directory holding uri's contents. A local directory is
// returned as it is (no copy); anything else is fetched into the cache
// unless already there.
func (c *Cache) Fetch(ctx context.Context, uri string, o Options) (string, error) {
	src, err := Parse(uri, o)
	if err != nil {
		return "", err
	}
	if src.Scheme == "file" {
		st, err := os.Stat(src.Path)
		if err != nil {
			return "", fmt.Errorf("modelUri %s: %w", uri, err)
		}
		if st.IsDir() {
			return filepath.Abs(src.Path)
		}
	}
	final := filepath.Join(c.Dir, Key(uri))
	c.mu.Lock()
	if cl, ok := c.inflight[final]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			if cl.cancelled && ctx.Err() == nil {
				// The fetch stopped for its caller's context, not
				// for this one: fetch again.
				return c.Fetch(ctx, uri, o)
			}
			return cl.dir, cl.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if c.inflight == nil {
		c.inflight = map[string]*call{}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[final] = cl
	c.mu.Unlock()

	cl.dir, cl.err = c.fetch(ctx, uri, final, o)
	cl.cancelled = cl.err != nil && ctx.Err() != nil
	c.mu.Lock()
	delete(c.inflight, final)
	c.mu.Unlock()
	close(cl.done)
	return cl.dir, cl.err
}

func (c *Cache) fetch(ctx context.Context, uri, final string, o Options) (string, error) {
	if st, err := os.Stat(final); err == nil && st.IsDir() {
		return final, nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("model cache %s: %w", c.Dir, err)
	}
	tmp, err := os.MkdirTemp(c.Dir, ".fetch-*")
	if err != nil {
		return "", fmt.Errorf("model cache %s: %w", c.Dir, err)
	}
	if err := Download(ctx, uri, tmp, o); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		// Another process renamed its complete copy first: use it.
		if st, serr := os.Stat(final); serr == nil && st.IsDir() {
			return final, nil
		}
		return "", fmt.Errorf("model cache: %w", err)
	}
	return final, nil
}
