package executor

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
)

// Inbound REST headers that reach components. Everything else (notably
// Authorization and Cookie) stays at the executor unless the annotation
// seldon.io/executor-forward-headers names it. Content-Type and Seldon-Puid
// are set by the executor itself.
var defaultForward = map[string]bool{
	"Traceparent":  true, // W3C trace context
	"Tracestate":   true,
	"B3":           true, // Zipkin single header
	"Seldon-Model": true, // v2 routing headers
	"Namespace":    true,
}

// Prefixes of forwarded headers (canonical form): Zipkin's multi-header B3
// and CloudEvents' binary mode.
var defaultForwardPrefixes = []string{"X-B3-", "Ce-"}

func forwardedByDefault(canonical string) bool {
	if defaultForward[canonical] {
		return true
	}
	for _, p := range defaultForwardPrefixes {
		if strings.HasPrefix(canonical, p) {
			return true
		}
	}
	return false
}

// Headers that describe one hop or one body: never forwarded, even when
// the annotation names them.
var hopHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Proxy-Authorization": true, "Proxy-Authenticate": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Accept-Encoding": true,
	"Host": true, "Expect": true, PuidHeader: true,
}

// forwardAllowList parses seldon.io/executor-forward-headers: header names
// separated by commas.
func forwardAllowList(v string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		for _, c := range name {
			if c != '-' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
				return nil, fmt.Errorf("annotation %s: %q is not a header name", AnnotationForwardHeaders, name)
			}
		}
		k := textproto.CanonicalMIMEHeaderKey(name)
		if hopHeaders[k] {
			return nil, fmt.Errorf("annotation %s: %s is set per hop and cannot be forwarded", AnnotationForwardHeaders, k)
		}
		out[k] = true
	}
	return out, nil
}

// grpcForward is the inbound gRPC metadata that reaches gRPC components by
// default: the REST allow-list as metadata keys, with B3's multi-header
// keys spelled out (metadata is looked up by key, without copying all of
// it, to keep the request path's allocations as they were).
var grpcForward = []string{
	"traceparent", "tracestate", "b3",
	"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags",
	"seldon-model", "namespace",
}

// grpcKeys is the gRPC metadata keys forwarded: the defaults and the
// annotation's names in lower case, except those gRPC sets per hop and the
// puid, which the executor sets.
func grpcKeys(annotated map[string]bool) []string {
	keys := append([]string(nil), grpcForward...)
	for k := range annotated {
		k = strings.ToLower(k)
		if k == grpcPuidKey || k == "user-agent" || strings.HasPrefix(k, "grpc-") || slices.Contains(keys, k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
