package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Google Cloud Storage through its JSON API (objects.list and
// objects.get with alt=media), on net/http. Google's own Go client
// (cloud.google.com/go/storage) would pull in gRPC, OpenTelemetry and the
// API discovery machinery: hundreds of packages for two GET requests.
// golang.org/x/oauth2/google does the credential part.
//
// Settings, first match wins:
//
//	endpoint:    STORAGE_EMULATOR_HOST (host:port or URL; no credentials
//	             are sent, as Google's clients do), else
//	             RCLONE_CONFIG_<REMOTE>_ENDPOINT (credentials are sent), else
//	             https://storage.googleapis.com
//	credentials: GOOGLE_APPLICATION_CREDENTIALS (a key file path),
//	             RCLONE_CONFIG_<REMOTE>_SERVICE_ACCOUNT_FILE,
//	             RCLONE_CONFIG_<REMOTE>_SERVICE_ACCOUNT_CREDENTIALS (the
//	             key JSON itself); with none, anonymous, as upstream's
//	             rclone image presets for its gs remote.
//
// <REMOTE> is the rclone remote of a NAME:bucket URI, and GS for gs:// URIs.
type gcsRemote struct {
	client *http.Client
	base   string // scheme://host
	src    Source
}

// responseHeaderTimeout bounds the wait for a storage server's answer
// headers (a variable for the tests).
var responseHeaderTimeout = time.Minute

// fetchClient is an HTTP client whose connections give up on a storage
// server that stops answering: dial and TLS handshake as the default
// transport bounds them, answer headers within responseHeaderTimeout.
// Bodies are bounded by the caller's context.
func fetchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	return &http.Client{Transport: tr}
}

const gcsScope = "https://www.googleapis.com/auth/devstorage.read_only"

func newGCS(ctx context.Context, src Source, o Options) (*gcsRemote, error) {
	remote := src.Remote
	if remote == "" {
		remote = "gs"
	}
	rk := func(k string) string { return "RCLONE_CONFIG_" + strings.ToUpper(remote) + "_" + k }
	r := &gcsRemote{client: fetchClient(), base: "https://storage.googleapis.com", src: src}
	if emu := o.get("STORAGE_EMULATOR_HOST"); emu != "" {
		if !strings.Contains(emu, "://") {
			emu = "http://" + emu
		}
		u, err := url.Parse(emu)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("STORAGE_EMULATOR_HOST %q is not host:port or a URL", emu)
		}
		r.base = u.Scheme + "://" + u.Host
		return r, nil
	}
	if ep := o.get(rk("ENDPOINT")); ep != "" {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("%s %q is not a URL like https://host:port", rk("ENDPOINT"), ep)
		}
		r.base = u.Scheme + "://" + u.Host
	}
	var key []byte
	var from string
	if f := o.first("GOOGLE_APPLICATION_CREDENTIALS", rk("SERVICE_ACCOUNT_FILE")); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading the Google credentials file (GOOGLE_APPLICATION_CREDENTIALS): %w", err)
		}
		key, from = b, f
	} else if js := o.get(rk("SERVICE_ACCOUNT_CREDENTIALS")); js != "" {
		key, from = []byte(js), rk("SERVICE_ACCOUNT_CREDENTIALS")
	}
	if key == nil || strings.EqualFold(o.get(rk("ANONYMOUS")), "true") {
		return r, nil
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(key, &head); err != nil || head.Type == "" {
		return nil, fmt.Errorf("%s is not a Google credentials JSON file (want a service account key with a \"type\" field)", from)
	}
	// The token exchange goes through the same bounded client.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.client)
	creds, err := google.CredentialsFromJSONWithType(ctx, key, google.CredentialsType(head.Type), gcsScope)
	if err != nil {
		return nil, fmt.Errorf("reading the Google credentials in %s: %w", from, err)
	}
	// The client outlives ctx's request scope only as long as the fetch.
	r.client = oauth2.NewClient(context.WithoutCancel(ctx), creds.TokenSource)
	return r, nil
}

// maxListPage bounds one listing response read into memory.
const maxListPage = 32 << 20

func (r *gcsRemote) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		msg := strings.TrimSpace(string(b))
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		err := fmt.Errorf("GCS answered %s: %s", resp.Status, msg)
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			err = fmt.Errorf("%w (set GOOGLE_APPLICATION_CREDENTIALS to a service account key that may read the bucket)", err)
		case http.StatusNotFound:
			err = &notFound{err}
		}
		return nil, err
	}
	return resp, nil
}

type notFound struct{ error }

func (e *notFound) Unwrap() error { return e.error }

type gcsObject struct {
	Name string `json:"name"`
	Size string `json:"size"`
}

func (r *gcsRemote) list(ctx context.Context) ([]object, error) {
	prefix := r.src.Path
	lp := prefix
	if lp != "" {
		lp += "/"
	}
	var out []object
	token := ""
	for {
		q := url.Values{"prefix": {lp}, "fields": {"items(name,size),nextPageToken"}}
		if token != "" {
			q.Set("pageToken", token)
		}
		resp, err := r.get(ctx, r.base+"/storage/v1/b/"+url.PathEscape(r.src.Bucket)+"/o?"+q.Encode())
		if err != nil {
			var nf *notFound
			if errors.As(err, &nf) {
				return nil, fmt.Errorf("%w (check the bucket name in modelUri)", err)
			}
			return nil, err
		}
		var page struct {
			Items         []gcsObject `json:"items"`
			NextPageToken string      `json:"nextPageToken"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxListPage)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("GCS listing: %w", err)
		}
		for _, it := range page.Items {
			if strings.HasSuffix(it.Name, "/") {
				continue
			}
			size, err := strconv.ParseInt(it.Size, 10, 64)
			if err != nil {
				size = -1
			}
			out = append(out, object{key: it.Name, rel: strings.TrimPrefix(it.Name, lp), size: size})
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if len(out) > 0 || prefix == "" {
		return out, nil
	}
	// The prefix may name a single object.
	resp, err := r.get(ctx, r.objectURL(prefix, false))
	if err != nil {
		var nf *notFound
		if errors.As(err, &nf) {
			return nil, nil
		}
		return nil, err
	}
	var meta gcsObject
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("GCS object metadata: %w", err)
	}
	size, err := strconv.ParseInt(meta.Size, 10, 64)
	if err != nil {
		size = -1
	}
	return []object{{key: prefix, rel: prefix[strings.LastIndexByte(prefix, '/')+1:], size: size}}, nil
}

func (r *gcsRemote) objectURL(key string, media bool) string {
	u := r.base + "/storage/v1/b/" + url.PathEscape(r.src.Bucket) + "/o/" + url.PathEscape(key)
	if media {
		u += "?alt=media"
	}
	return u
}

func (r *gcsRemote) open(ctx context.Context, key string) (io.ReadCloser, error) {
	resp, err := r.get(ctx, r.objectURL(key, true))
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
