package executor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Upstream's per-model routes: GET /api/v0.1|v1.0/metadata/{model} and
// /status/{model} proxy to that graph node's component (GET /metadata and
// GET /health/status) and pass its answer on.

// modelRoute splits a per-model path into the component path it proxies
// to and the model's name.
func modelRoute(p string) (componentPath, model string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(p, "/api/v1.0/"):
		rest = p[len("/api/v1.0/"):]
	case strings.HasPrefix(p, "/api/v0.1/"):
		rest = p[len("/api/v0.1/"):]
	default:
		return "", "", false
	}
	if model, ok = strings.CutPrefix(rest, "metadata/"); ok && model != "" && !strings.Contains(model, "/") {
		return "/metadata", model, true
	}
	if model, ok = strings.CutPrefix(rest, "status/"); ok && model != "" && !strings.Contains(model, "/") {
		return "/health/status", model, true
	}
	return "", "", false
}

func (e *Executor) serveModelRoute(w http.ResponseWriter, r *http.Request, componentPath, model string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, OPTIONS")
		writeStatus(w, &Error{HTTPStatus: http.StatusMethodNotAllowed, Reason: reasonBadRequest,
			Message: fmt.Sprintf("%s %s: use GET", r.Method, r.URL.Path)}, "")
		return
	}
	n, ok := e.byName[model]
	if !ok || n.endpoints == nil {
		writeStatus(w, &Error{HTTPStatus: http.StatusNotFound, Reason: reasonNotFound,
			Message: fmt.Sprintf("no graph node %q with a component (have: %s)", model, strings.Join(e.NodesWithEndpoints(), ", "))}, "")
		return
	}
	m, err := n.endpoints.pickNow()
	if err != nil {
		writeStatus(w, noEndpoint(n), "")
		return
	}
	defer m.release()
	timeout := n.restTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	call := "GET " + componentPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.httpBase+componentPath, nil)
	if err != nil {
		writeStatus(w, e.callFailed(n, call, m.httpBase, err), "")
		return
	}
	resp, err := m.http.Do(req)
	if err != nil {
		writeStatus(w, e.callFailed(n, call, m.httpBase, err), "")
		return
	}
	body, _, err := readBody(resp.Body, resp.ContentLength, e.maxBody, nil)
	_ = resp.Body.Close()
	if err != nil {
		writeStatus(w, e.callFailed(n, call, m.httpBase, err), "")
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
