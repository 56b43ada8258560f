package executor

import (
	"net/http"
	"os"
)

// CORS, as upstream's executor: every answer carries
// Access-Control-Allow-Origin and -Headers from CORS_ALLOWED_ORIGINS and
// CORS_ALLOWED_HEADERS; OPTIONS answers 200 at once.
const (
	EnvCORSAllowedOrigins = "CORS_ALLOWED_ORIGINS"
	EnvCORSAllowedHeaders = "CORS_ALLOWED_HEADERS"
	// DefaultCORSAllowedHeaders is upstream's default.
	DefaultCORSAllowedHeaders = "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, X-CSRF-Token"
)

// corsHeaders are the values set on every answer, resolved once.
type corsHeaders struct {
	origin, headers []string
}

// newCORSHeaders takes the options' values, else the environment's, else
// upstream's defaults.
func newCORSHeaders(origins, headers string) corsHeaders {
	if origins == "" {
		origins = os.Getenv(EnvCORSAllowedOrigins)
	}
	if origins == "" {
		origins = "*"
	}
	if headers == "" {
		headers = os.Getenv(EnvCORSAllowedHeaders)
	}
	if headers == "" {
		headers = DefaultCORSAllowedHeaders
	}
	return corsHeaders{origin: []string{origins}, headers: []string{headers}}
}

var corsMethods = []string{"GET, POST, OPTIONS"}

// set adds the CORS headers to an answer; preflight also gets the methods.
func (c corsHeaders) set(h http.Header, preflight bool) {
	h["Access-Control-Allow-Origin"] = c.origin
	h["Access-Control-Allow-Headers"] = c.headers
	if preflight {
		h["Access-Control-Allow-Methods"] = corsMethods
	}
}
