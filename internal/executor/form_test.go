package executor

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
)

func rawPost(t *testing.T, target, contentType string, body []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func multipartBody(t *testing.T, parts map[string]string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, v := range parts {
		fw, err := mw.CreateFormFile(name, name+".txt")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(v))
	}
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// The bodies upstream's clients send reach the component as the same
// SeldonMessage; other Content-Types are answered 415.
func TestRequestBodyShapes(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	mp, mpType := multipartBody(t, map[string]string{"strData": "x"})
	mpJSON, mpJSONType := multipartBody(t, map[string]string{"json": `{"strData":"x"}`})
	mpBad, mpBadType := multipartBody(t, map[string]string{"pictures": "x"})
	cases := []struct {
		name, contentType, path string
		body                    []byte
		wantCode                int
		wantBody                string
	}{
		{"json", "application/json", "", []byte(`{"strData":"x"}`), 200, `"m(x)"`},
		{"no content type", "", "", []byte(`{"strData":"x"}`), 200, `"m(x)"`},
		{"json with charset", "application/json; charset=utf-8", "", []byte(`{"strData":"x"}`), 200, `"m(x)"`},
		{"form json=", "application/x-www-form-urlencoded", "", []byte("json=" + url.QueryEscape(`{"strData":"x"}`)), 200, `"m(x)"`},
		{"curl -d JSON (form type)", "application/x-www-form-urlencoded", "", []byte(`{"strData":"x"}`), 200, `"m(x)"`},
		{"query json=", "", "?json=" + url.QueryEscape(`{"strData":"x"}`), nil, 200, `"m(x)"`},
		{"multipart strData file", mpType, "", mp, 200, `"m(x)"`},
		{"multipart json part", mpJSONType, "", mpJSON, 200, `"m(x)"`},
		{"form without json", "application/x-www-form-urlencoded", "", []byte("data=1"), 400, "no json field"},
		{"multipart unknown part", mpBadType, "", mpBad, 400, `pictures`},
		{"text/plain", "text/plain", "", []byte(`{"strData":"x"}`), 415, "Content-Type"},
		{"xml", "application/xml", "", []byte(`<x/>`), 415, "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawPost(t, s.restURL+"/api/v1.0/predictions"+tc.path, tc.contentType, tc.body)
			if resp.StatusCode != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Errorf("HTTP %d %s; want %d containing %s", resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
	resp, body := rawPost(t, s.restURL+"/api/v1.0/feedback", "application/x-www-form-urlencoded",
		[]byte("json="+url.QueryEscape(`{"request":{"strData":"x"},"reward":1}`)))
	if resp.StatusCode != 200 || !strings.Contains(body, "fb:m") {
		t.Errorf("form feedback: HTTP %d %s", resp.StatusCode, body)
	}
}

func TestCORSOnEveryAnswer(t *testing.T) {
	t.Setenv(EnvCORSAllowedOrigins, "https://app.example")
	t.Setenv(EnvCORSAllowedHeaders, "Content-Type, X-Team")
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	check := func(what string, h http.Header, preflight bool) {
		t.Helper()
		if h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Headers") != "Content-Type, X-Team" {
			t.Errorf("%s: CORS headers %v", what, h)
		}
		if got := h.Get("Access-Control-Allow-Methods"); (got != "") != preflight {
			t.Errorf("%s: Access-Control-Allow-Methods %q", what, got)
		}
	}
	resp, _ := rawPost(t, s.restURL+"/api/v1.0/predictions", "application/json", []byte(`{"strData":"x"}`))
	check("prediction", resp.Header, false)
	resp, _ = rawPost(t, s.restURL+"/nowhere", "application/json", nil)
	check("404", resp.Header, false)
	req, _ := http.NewRequest(http.MethodOptions, s.restURL+"/api/v1.0/predictions", nil)
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = pre.Body.Close()
	if pre.StatusCode != 200 {
		t.Errorf("OPTIONS: HTTP %d", pre.StatusCode)
	}
	check("OPTIONS", pre.Header, true)
	if m.count("/predict") != 1 {
		t.Errorf("component called %d times, want once (OPTIONS never reaches it)", m.count("/predict"))
	}

	t.Setenv(EnvCORSAllowedOrigins, "")
	t.Setenv(EnvCORSAllowedHeaders, "")
	h := newCORSHeaders("", "")
	if h.origin[0] != "*" || h.headers[0] != DefaultCORSAllowedHeaders {
		t.Errorf("defaults: %v", h)
	}
}

func TestCloudEventRequestGetsCloudEventAnswer(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m), WithNamespace("ns"))
	resp, _ := rawPost(t, s.restURL+"/api/v1.0/predictions", "application/json", []byte(`{"strData":"x"}`),
		"Ce-Specversion", "1.0", "Ce-Id", "in-1", PuidHeader, "puid-7")
	want := map[string]string{"Ce-Id": "puid-7", "Ce-Specversion": "0.3", "Ce-Path": "/api/v1.0/predictions",
		"Ce-Type": "seldon.sd.ns.response", "Ce-Source": "seldon.sd"}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// A plain request gets none.
	resp, _ = rawPost(t, s.restURL+"/api/v1.0/predictions", "application/json", []byte(`{"strData":"x"}`))
	if resp.Header.Get("Ce-Id") != "" || resp.Header.Get("Ce-Specversion") != "" {
		t.Errorf("plain request got Ce-* headers: %v", resp.Header)
	}
}

// Upstream's per-model routes reach the named node's component.
func TestPerModelMetadataAndStatusRoutes(t *testing.T) {
	mc := httptest.NewServer(mockclassifier.New(mockclassifier.Config{}).Handler())
	t.Cleanup(mc.Close)
	ep := &v1.Endpoint{ServiceHost: "127.0.0.1", HTTPPort: port(t, mc.Listener.Addr())}
	s := serve(t, v1.PredictiveUnit{Name: "classifier", Type: v1.Model, Endpoint: ep})
	for path, want := range map[string]string{
		"/api/v1.0/metadata/classifier": `"mean_classifier"`,
		"/api/v0.1/metadata/classifier": `"mean_classifier"`,
		"/api/v1.0/status/classifier":   `"status":"ok"`,
		"/api/v0.1/status/classifier":   `"status":"ok"`,
	} {
		resp, err := http.Get(s.restURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: HTTP %d %s, want 200 containing %s", path, resp.StatusCode, b, want)
		}
	}
	resp, err := http.Get(s.restURL + "/api/v1.0/metadata/nobody")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "classifier") {
		t.Errorf("unknown model: HTTP %d %s, want 404 naming the nodes there are", resp.StatusCode, b)
	}
}
