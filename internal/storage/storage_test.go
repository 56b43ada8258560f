package storage

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sdep-dev/sdep/internal/storage/storagetest"
)

func noEnv(string) string { return "" }

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := readTree(t, dir)
	if len(got) != len(want) {
		t.Errorf("%s: got files %v, want %v", dir, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", dir, k, got[k], v)
		}
	}
}

var bucketObjects = map[string]map[string][]byte{
	"models": {
		"iris/model.joblib":    []byte("joblib bytes"),
		"iris/sub/extra.txt":   []byte("extra"),
		"iris/metadata.yaml":   []byte("name: iris"),
		"iris-other/model.bst": []byte("not this one"),
		"single.json":          []byte(`{"a":1}`),
	},
}

var irisTree = map[string]string{
	"model.joblib": "joblib bytes", "sub/extra.txt": "extra", "metadata.yaml": "name: iris",
}

func TestParse(t *testing.T) {
	env := Options{Getenv: noEnv, Env: map[string]string{"RCLONE_CONFIG_MINIO_TYPE": "s3", "RCLONE_CONFIG_WEB_TYPE": "http"}}
	for _, c := range []struct {
		uri  string
		want Source
		err  string
	}{
		{uri: "/models/iris", want: Source{Scheme: "file", Path: "/models/iris"}},
		{uri: "file:///models/iris", want: Source{Scheme: "file", Path: "/models/iris"}},
		{uri: "s3://bucket/a/b/", want: Source{Scheme: "s3", Bucket: "bucket", Path: "a/b"}},
		{uri: "gs://seldon-models/sklearn/iris", want: Source{Scheme: "gs", Bucket: "seldon-models", Path: "sklearn/iris"}},
		{uri: "s3:bucket/x", want: Source{Scheme: "s3", Bucket: "bucket", Path: "x", Remote: "s3"}},
		{uri: "minio:bucket/x", want: Source{Scheme: "s3", Bucket: "bucket", Path: "x", Remote: "minio"}},
		{uri: "./rel:dir", want: Source{Scheme: "file", Path: "./rel:dir"}},
		{uri: "", err: "modelUri is empty"},
		{uri: "s3://", err: "no bucket"},
		{uri: "pvc://claim/path", err: "PersistentVolumeClaim"},
		{uri: "https://example.invalid/m", err: `scheme "https" is not supported`},
		{uri: "web:path", err: `type "http"`},
		{uri: "nope:path", err: "RCLONE_CONFIG_NOPE_TYPE"},
	} {
		got, err := Parse(c.uri, env)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.uri, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.uri, got, err, c.want)
		}
	}
}

func TestDownloadLocal(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range irisTree {
		if err := os.WriteFile(filepath.Join(src, filepath.FromSlash(k)), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, uri := range []string{src, "file://" + src} {
		dst := filepath.Join(t.TempDir(), "out")
		if err := Download(context.Background(), uri, dst, Options{Getenv: noEnv}); err != nil {
			t.Fatal(err)
		}
		wantTree(t, dst, irisTree)
	}
	dst := t.TempDir()
	if err := Download(context.Background(), filepath.Join(src, "model.joblib"), dst, Options{Getenv: noEnv}); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, map[string]string{"model.joblib": "joblib bytes"})
	err := Download(context.Background(), filepath.Join(src, "missing"), t.TempDir(), Options{Getenv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: %v", err)
	}
	// A target in the source (as storage-initializer /mnt /mnt/models)
	// would copy its own copy; the source itself would truncate its files.
	for _, in := range []string{filepath.Join(src, "models"), src, filepath.Join(src, "sub")} {
		err := Download(context.Background(), src, in, Options{Getenv: noEnv})
		if err == nil || !strings.Contains(err.Error(), "give a target outside the source") {
			t.Errorf("target %s in the source: %v", in, err)
		}
	}
	wantTree(t, src, irisTree)
	// A sibling whose name starts with the source's is outside it.
	sibling := src + "-copy"
	t.Cleanup(func() { _ = os.RemoveAll(sibling) })
	if err := Download(context.Background(), src, sibling, Options{Getenv: noEnv}); err != nil {
		t.Errorf("sibling target: %v", err)
	}
}

func s3Env(url string) Options {
	return Options{Getenv: noEnv, Env: map[string]string{
		"AWS_ACCESS_KEY_ID": storagetest.AccessKey, "AWS_SECRET_ACCESS_KEY": storagetest.SecretKey,
		"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1",
	}}
}

func TestDownloadS3(t *testing.T) {
	s3 := storagetest.StartS3(t, bucketObjects)
	ctx := context.Background()
	dst := t.TempDir()
	if err := Download(ctx, "s3://models/iris", dst, s3Env(s3.URL)); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, irisTree)

	// One object; the rclone remote form with the remote's own variables
	// (what upstream's docs put in the envSecretRefName secret).
	dst = t.TempDir()
	rclone := Options{Getenv: noEnv, Env: map[string]string{
		"RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_ENDPOINT": s3.URL,
		"RCLONE_CONFIG_S3_ACCESS_KEY_ID": storagetest.AccessKey, "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": storagetest.SecretKey,
	}}
	if err := Download(ctx, "s3:models/single.json", dst, rclone); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, map[string]string{"single.json": `{"a":1}`})

	// S3_ENDPOINT is host:port, with S3_USE_HTTPS=0 for plain http.
	dst = t.TempDir()
	o := s3Env("")
	delete(o.Env, "AWS_ENDPOINT_URL")
	o.Env["S3_ENDPOINT"] = strings.TrimPrefix(s3.URL, "http://")
	o.Env["S3_USE_HTTPS"] = "0"
	if err := Download(ctx, "s3://models/iris/", dst, o); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, irisTree)

	for _, c := range []struct {
		uri  string
		o    Options
		want string
	}{
		{"s3://models/nothing-here", s3Env(s3.URL), "no objects under models/nothing-here"},
		{"s3://absent/iris", s3Env(s3.URL), "check the bucket name"},
		{"s3://models/iris", Options{Getenv: noEnv, Env: map[string]string{
			"AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL": s3.URL}}, "AWS_ACCESS_KEY_ID"},
		{"s3://models/iris", Options{Getenv: noEnv, Env: map[string]string{
			"AWS_ACCESS_KEY_ID": "only-id", "AWS_ENDPOINT_URL": s3.URL}}, "incomplete"},
		{"s3://models/iris", Options{Getenv: noEnv, Env: map[string]string{"AWS_ENDPOINT_URL": "ftp://x"}}, "not a URL"},
	} {
		err := Download(ctx, c.uri, t.TempDir(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.uri) {
			t.Errorf("%s: error %v, want one naming the URI and %q", c.uri, err, c.want)
		}
	}
}

func TestUnsafeObjectNames(t *testing.T) {
	s3 := storagetest.StartS3(t, map[string]map[string][]byte{"evil": {"m/../../escape": []byte("x")}})
	dst := filepath.Join(t.TempDir(), "d")
	err := Download(context.Background(), "s3://evil/m", dst, s3Env(s3.URL))
	if _, serr := os.Stat(filepath.Join(filepath.Dir(dst), "escape")); serr == nil {
		t.Fatal("an object was written outside the target directory")
	}
	if err == nil || !strings.Contains(err.Error(), "leaves the target directory") {
		t.Errorf("error %v, want one about leaving the target directory", err)
	}
}

func TestDownloadGCS(t *testing.T) {
	ctx := context.Background()
	gcs := storagetest.StartGCS(t, bucketObjects, "")
	emu := Options{Getenv: noEnv, Env: map[string]string{"STORAGE_EMULATOR_HOST": strings.TrimPrefix(gcs.URL, "http://")}}
	dst := t.TempDir()
	if err := Download(ctx, "gs://models/iris", dst, emu); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, irisTree)
	dst = t.TempDir()
	if err := Download(ctx, "gs://models/single.json", dst, emu); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, map[string]string{"single.json": `{"a":1}`})
	if err := Download(ctx, "gs://absent/x", t.TempDir(), emu); err == nil || !strings.Contains(err.Error(), "check the bucket name") {
		t.Errorf("absent bucket: %v", err)
	}
}

// TestGCSServiceAccount fetches with a service account key whose token
// endpoint is a server of the test: the token exchange is the real
// OAuth2 JWT flow of golang.org/x/oauth2/google.
func TestGCSServiceAccount(t *testing.T) {
	var mu sync.Mutex
	exchanges := 0
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.Form.Get("assertion") == "" {
			http.Error(w, "bad grant", http.StatusBadRequest)
			return
		}
		mu.Lock()
		exchanges++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}`))
	}))
	defer tokenSrv.Close()
	gcs := storagetest.StartGCS(t, bucketObjects, "tok-123")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "reader@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenSrv.URL,
	})
	saFile := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(saFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{Getenv: noEnv, Env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": saFile, "RCLONE_CONFIG_GS_ENDPOINT": gcs.URL}}
	dst := t.TempDir()
	if err := Download(context.Background(), "gs://models/iris", dst, o); err != nil {
		t.Fatal(err)
	}
	wantTree(t, dst, irisTree)
	mu.Lock()
	n := exchanges
	mu.Unlock()
	if n == 0 {
		t.Error("the token endpoint was never called")
	}
	// Without credentials the server refuses, and the error says what to set.
	anon := Options{Getenv: noEnv, Env: map[string]string{"RCLONE_CONFIG_GS_ENDPOINT": gcs.URL}}
	err = Download(context.Background(), "gs://models/iris", t.TempDir(), anon)
	if err == nil || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
		t.Errorf("anonymous: %v", err)
	}
}

func TestCacheFetchesOnce(t *testing.T) {
	s3 := storagetest.StartS3(t, bucketObjects)
	c := &Cache{Dir: t.TempDir()}
	o := s3Env(s3.URL)
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = c.Fetch(context.Background(), "s3://models/iris", o)
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Fatalf("fetch %d got %s, fetch 0 %s", i, dirs[i], dirs[0])
		}
	}
	wantTree(t, dirs[0], irisTree)
	if g := s3.Gets(); g != len(irisTree) {
		t.Errorf("%d object downloads for 8 concurrent fetches of %d objects", g, len(irisTree))
	}
	// A second cache on the same directory (another process) reuses it.
	again, err := (&Cache{Dir: c.Dir}).Fetch(context.Background(), "s3://models/iris", o)
	if err != nil || again != dirs[0] || s3.Gets() != len(irisTree) {
		t.Errorf("second cache: %s %v, %d downloads", again, err, s3.Gets())
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no temporary leftovers)", len(entries))
	}
	// A failed fetch leaves nothing behind.
	if _, err := c.Fetch(context.Background(), "s3://models/absent", o); err == nil {
		t.Error("absent prefix: no error")
	}
	entries, _ = os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Errorf("after a failed fetch the cache holds %d entries", len(entries))
	}
	// A local directory is used in place.
	local := t.TempDir()
	got, err := c.Fetch(context.Background(), local, Options{Getenv: noEnv})
	if err != nil || got != local {
		t.Errorf("local dir: %s %v", got, err)
	}
}

// TestCacheWaiterRetriesAfterTheFirstCallerCancels: a fetch that stopped
// because its own caller gave up is fetched again for a waiter whose
// context is still live, rather than handing it context.Canceled.
func TestCacheWaiterRetriesAfterTheFirstCallerCancels(t *testing.T) {
	s3 := storagetest.StartS3(t, bucketObjects)
	target, _ := url.Parse(s3.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	blocked := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first { // the first caller's first request never answers
			close(blocked)
			<-r.Context().Done()
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := &Cache{Dir: t.TempDir()}
	o := s3Env(srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Fetch(ctx, "s3://models/iris", o)
		first <- err
	}()
	<-blocked
	waiter := make(chan error, 1)
	var dir string
	go func() {
		var err error
		dir, err = c.Fetch(context.Background(), "s3://models/iris", o)
		waiter <- err
	}()
	time.Sleep(200 * time.Millisecond) // the waiter joins the fetch in flight
	cancel()
	if err := <-first; err == nil {
		t.Error("the cancelled caller: no error")
	}
	select {
	case err := <-waiter:
		if err != nil {
			t.Fatalf("the waiter: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter never returned")
	}
	wantTree(t, dir, irisTree)
}

// TestGCSServerThatNeverAnswersTimesOut: a storage server that accepts
// the request and never answers fails the fetch once the answer headers
// are overdue, with no deadline on the caller's context.
func TestGCSServerThatNeverAnswersTimesOut(t *testing.T) {
	old := responseHeaderTimeout
	responseHeaderTimeout = 200 * time.Millisecond
	t.Cleanup(func() { responseHeaderTimeout = old })
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	done := make(chan error, 1)
	go func() {
		done <- Download(context.Background(), "gs://models/iris", t.TempDir(),
			Options{Getenv: noEnv, Env: map[string]string{"STORAGE_EMULATOR_HOST": srv.URL}})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
			t.Errorf("a server that never answers: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fetch from a server that never answers did not end")
	}
}
