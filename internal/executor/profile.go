package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	runtimepprof "runtime/pprof"
)

// ServeProfiling serves the runtime's profiles (net/http/pprof's
// /debug/pprof/ pages) on addr, a loopback address of its own, until ctx
// ends. Profiles show the process's internals, so they never share the
// REST port and never listen beyond loopback.
func ServeProfiling(ctx context.Context, addr string) (net.Addr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr %q: %w; use host:port, e.g. 127.0.0.1:6060", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof-addr %q: profiles are served on loopback only; use 127.0.0.1:<port> and reach it with kubectl port-forward", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A CPU profile or trace takes as long as its ?seconds= asks.
	s := &http.Server{Handler: mux, ReadHeaderTimeout: maxHeaderTimeout}
	go func() { _ = s.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return l.Addr(), nil
}

// StartProfiles starts a CPU profile written to cpuPath; stop ends it and
// writes the allocation profile of the same run next to it (cpuPath +
// ".allocs"). Call stop once, as the process exits.
func StartProfiles(cpuPath string) (stop func() error, err error) {
	f, err := os.Create(cpuPath)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := runtimepprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() error {
		runtimepprof.StopCPUProfile()
		err := f.Close()
		h, herr := os.Create(cpuPath + ".allocs")
		if herr != nil {
			return errors.Join(err, herr)
		}
		runtime.GC()
		return errors.Join(err, runtimepprof.Lookup("allocs").WriteTo(h, 0), h.Close())
	}, nil
}
