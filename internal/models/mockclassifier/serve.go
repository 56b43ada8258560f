package mockclassifier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/sdep-dev/sdep/internal/grpcflow"
)

// Ports is where the classifier listens.
type Ports struct {
	HTTP, GRPC int
}

// PortsFromEnv reads the ports the operator gives graph containers:
// PREDICTIVE_UNIT_HTTP_SERVICE_PORT (0.x: PREDICTIVE_UNIT_SERVICE_PORT,
// default 9000) and PREDICTIVE_UNIT_GRPC_SERVICE_PORT (default 5000).
func PortsFromEnv(getenv func(string) string) (Ports, error) {
	p := Ports{HTTP: 9000, GRPC: 5000}
	for _, v := range []struct {
		keys []string
		dst  *int
	}{
		{[]string{"PREDICTIVE_UNIT_SERVICE_PORT", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT"}, &p.HTTP},
		{[]string{"PREDICTIVE_UNIT_GRPC_SERVICE_PORT"}, &p.GRPC},
	} {
		for _, k := range v.keys {
			s := getenv(k)
			if s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 65535 {
				return p, fmt.Errorf("%s: %q is not a port", k, s)
			}
			*v.dst = n
		}
	}
	return p, nil
}

// ConfigFromEnv reads PREDICTIVE_UNIT_PARAMETERS, PREDICTIVE_UNIT_ID and
// PREDICTIVE_UNIT_IMAGE.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{ID: getenv("PREDICTIVE_UNIT_ID"), Image: getenv("PREDICTIVE_UNIT_IMAGE")}
	err := ParseParameters(getenv("PREDICTIVE_UNIT_PARAMETERS"), &cfg)
	return cfg, err
}

// Serve runs REST and gRPC until ctx is cancelled, keeps serving for drain
// (gRPC health turns NOT_SERVING), then
// shuts down within grace. ready, when set, gets the bound addresses.
//
// The drain matters in a pod: the kubelet stops the model container and the
// executor at the same time, and the executor keeps calling the model on
// loopback while it drains. The operator's default preStop hook
// (/bin/sh -c sleep) fails in an image without a shell, so SIGTERM arrives
// at once; the model must outlive the executor's drain instead of closing
// its port under it.
func (s *Server) Serve(ctx context.Context, host string, p Ports, drain, grace time.Duration, ready func(httpAddr, grpcAddr net.Addr)) error {
	// gRPC first: a readiness check on the REST port (sdep serve's, a
	// pod's) then implies both ports accept. The other order left a window
	// in which a caller that saw REST ready had its first gRPC dial refused.
	gl, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p.GRPC)))
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p.HTTP)))
	if err != nil {
		_ = gl.Close()
		return err
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	gs := grpc.NewServer(grpcflow.ServerOptions()...)
	s.RegisterGRPC(gs)
	hsrv := health.NewServer()
	healthpb.RegisterHealthServer(gs, hsrv)
	reflection.Register(gs)
	errs := make(chan error, 2)
	go func() { errs <- hs.Serve(hl) }()
	go func() { errs <- gs.Serve(gl) }()
	if ready != nil {
		ready(hl.Addr(), gl.Addr())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	if drain > 0 && serveErr == nil {
		// Keep-alive connections stay open: the executor's pooled
		// connection closed under a request in flight would fail it.
		hsrv.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		select {
		case <-time.After(drain):
		case serveErr = <-errs:
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = hs.Shutdown(sctx)
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		gs.Stop()
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
