package executor

import (
	"net/http"
	"net/url"
	"strings"
)

// serveTF serves TensorFlow Serving's REST API (docs/protocols.md#tensorflow):
// POST /v1/models/{m}[/versions/{v}]:predict|:classify|:regress walk the
// graph (classify and regress only for a graph of one model), GET
// /v1/models/{m}[/versions/{v}] and .../metadata go to the node named {m}.
func (h *restHandler) serveTF(w http.ResponseWriter, r *http.Request) {
	e := h.e
	p := r.URL.Path
	switch p {
	case "/v1/models:predict", "/v1/models/:predict":
		// Seldon's extension: every node is called by its own name.
		if h.tfPost(w, r) {
			defer e.admit.leave()
			e.serveRawPredict(w, r, restRawCodec{e: e, proto: protoTensorflow})
		}
		return
	case "/api/v0.1/feedback", "/api/v1.0/feedback":
		// Upstream's tensorflow client answers feedback with the request.
		if h.tfPost(w, r) {
			defer e.admit.leave()
			body, reserved, failed := e.readRequest(w, r)
			if failed != 0 {
				return
			}
			defer e.admit.release(reserved)
			e.logTFFeedback(r, body)
			w.Header()["Content-Type"] = jsonContentType
			_, _ = w.Write(body)
		}
		return
	}
	rest, ok := strings.CutPrefix(p, "/v1/models/")
	if !ok || rest == "" {
		writeOIPError(w, http.StatusNotFound, "no such path: "+p)
		return
	}
	// {m}[/versions/{v}][/]:verb, or {m}[/versions/{v}][/metadata].
	verb := ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "/") {
		rest, verb = strings.TrimSuffix(rest[:i], "/"), rest[i+1:]
	}
	seg := strings.Split(rest, "/")
	model, err := url.PathUnescape(seg[0])
	if err != nil || model == "" {
		writeOIPError(w, http.StatusBadRequest, "bad model name in "+p)
		return
	}
	version := ""
	tail := seg[1:]
	if len(tail) >= 2 && (tail[0] == "versions" || tail[0] == "labels") {
		if version, err = url.PathUnescape(tail[1]); err != nil || version == "" {
			writeOIPError(w, http.StatusBadRequest, "bad model version in "+p)
			return
		}
		if tail[0] == "labels" {
			// A label is not a version the component paths carry: pass the
			// path on only for status and metadata.
			version = ""
		}
		tail = tail[2:]
	}
	switch {
	case verb != "" && len(tail) == 0:
		switch verb {
		case "predict", "classify", "regress":
		default:
			writeOIPError(w, http.StatusNotFound, "unknown method :"+verb+" in "+p+": use :predict, :classify or :regress")
			return
		}
		if verb != "predict" && len(e.NodesWithEndpoints()) != 1 {
			writeOIPError(w, http.StatusBadRequest, ":"+verb+" answers cannot be chained: it is served only for a graph of one model; use :predict")
			return
		}
		if h.tfPost(w, r) {
			defer e.admit.leave()
			e.serveRawPredict(w, r, restRawCodec{e: e, proto: protoTensorflow, model: model, version: version, verb: verb})
		}
	case verb == "" && (len(tail) == 0 || len(tail) == 1 && tail[0] == "metadata"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, OPTIONS")
			writeOIPError(w, http.StatusMethodNotAllowed, r.Method+" "+p+": use GET")
			return
		}
		e.proxyGet(w, r, model, p)
	default:
		writeOIPError(w, http.StatusNotFound, "no such path: "+p)
	}
}

// tfPost checks the method and admits the request under the in-flight cap;
// when it returns true the caller must call e.admit.leave.
func (h *restHandler) tfPost(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeOIPError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": use POST")
		return false
	}
	return h.enter(w)
}
