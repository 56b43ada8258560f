package executor

import (
	"net/http"
	"time"
)

// NewHTTPServer is the http.Server sdep serves HTTP with: the executor's
// REST port, and any other HTTP port next to it (sdep serve's status), so
// that they all have the same timeouts and header limit.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: maxHeaderTimeout,
		IdleTimeout:       65 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// newHTTPServer is the REST server Serve runs: headers must arrive within
// the read timeout (at most 10 s); the handler bounds each body's read
// itself (see readRequest), so a slow component never runs into a server
// read deadline.
func (e *Executor) newHTTPServer(h http.Handler) *http.Server {
	s := NewHTTPServer(h)
	if t := e.cfg.readTimeout; t > 0 && t < s.ReadHeaderTimeout {
		s.ReadHeaderTimeout = t
	}
	return s
}
