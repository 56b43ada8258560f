package executor

import (
	"net/http"
	"time"
)

// newHTTPServer is the REST server Serve runs: headers must arrive within
// the read timeout (at most 10 s); the handler bounds each body's read
// itself (see readRequest), so a slow component never runs into a server
// read deadline.
func (e *Executor) newHTTPServer(h http.Handler) *http.Server {
	header := maxHeaderTimeout
	if t := e.cfg.readTimeout; t > 0 && t < header {
		header = t
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: header,
		IdleTimeout:       65 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
