// Package storagetest starts object stores on loopback for tests: an
// S3-compatible server (gofakes3, in process) and a server of the part of
// Google Cloud Storage's JSON API the fetcher uses (objects list, get,
// alt=media). Only tests import it.
package storagetest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Test credentials the S3 server accepts.
const (
	AccessKey = "sdep-test-access"
	SecretKey = "sdep-test-secret"
)

// S3 is a running S3-compatible server.
type S3 struct {
	URL string
	// Requests counts object GETs (downloads).
	mu   sync.Mutex
	gets int
}

// Gets returns how many object downloads the server answered.
func (s *S3) Gets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// StartS3 serves buckets holding objects (bucket → key → content). Every
// request must be signed with AccessKey (the fake does not check
// signatures, so the wrapper checks the key id in the Authorization
// header).
func StartS3(t testing.TB, objects map[string]map[string][]byte) *S3 {
	t.Helper()
	be := s3mem.New()
	modified := time.Now().UTC().Format(http.TimeFormat)
	for bucket, objs := range objects {
		if err := be.CreateBucket(bucket); err != nil {
			t.Fatal(err)
		}
		for key, b := range objs {
			if _, err := be.PutObject(bucket, key, map[string]string{"Last-Modified": modified}, bytes.NewReader(b), int64(len(b)), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := gofakes3.New(be).Server()
	s := &S3{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+AccessKey+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>` +
				`<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`))
			return
		}
		if r.Method == http.MethodGet && !r.URL.Query().Has("list-type") && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			s.mu.Lock()
			s.gets++
			s.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// GCS is a running server of GCS's JSON API subset.
type GCS struct {
	URL string
	// Token, when set, is the bearer token every request must carry.
	Token string
}

// StartGCS serves buckets holding objects. token, when not empty, is
// required as "Authorization: Bearer <token>". Listings are paged two
// items at a time so paging is exercised.
func StartGCS(t testing.TB, objects map[string]map[string][]byte, token string) *GCS {
	t.Helper()
	g := &GCS{Token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /storage/v1/b/{bucket}/o", func(w http.ResponseWriter, r *http.Request) {
		if !g.authorized(w, r) {
			return
		}
		objs, ok := objects[r.PathValue("bucket")]
		if !ok {
			gcsError(w, http.StatusNotFound, "The specified bucket does not exist.")
			return
		}
		prefix := r.URL.Query().Get("prefix")
		var names []string
		for k := range objs {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		start, _ := strconv.Atoi(r.URL.Query().Get("pageToken"))
		end := min(start+2, len(names))
		page := map[string]any{"kind": "storage#objects"}
		var items []map[string]string
		for _, n := range names[min(start, len(names)):end] {
			items = append(items, map[string]string{"name": n, "size": strconv.Itoa(len(objs[n]))})
		}
		if items != nil {
			page["items"] = items
		}
		if end < len(names) {
			page["nextPageToken"] = strconv.Itoa(end)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	})
	mux.HandleFunc("GET /storage/v1/b/{bucket}/o/{object...}", func(w http.ResponseWriter, r *http.Request) {
		if !g.authorized(w, r) {
			return
		}
		name, err := url.PathUnescape(r.PathValue("object"))
		if err != nil {
			gcsError(w, http.StatusBadRequest, "bad object name")
			return
		}
		b, ok := objects[r.PathValue("bucket")][name]
		if !ok {
			gcsError(w, http.StatusNotFound, "No such object: "+r.PathValue("bucket")+"/"+name)
			return
		}
		if r.URL.Query().Get("alt") == "media" {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(b)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"name": name, "size": strconv.Itoa(len(b))})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *GCS) authorized(w http.ResponseWriter, r *http.Request) bool {
	if g.Token == "" || r.Header.Get("Authorization") == "Bearer "+g.Token {
		return true
	}
	gcsError(w, http.StatusUnauthorized, "Anonymous caller does not have storage.objects.list access.")
	return false
}

func gcsError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}
