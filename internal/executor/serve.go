package executor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	v1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/validation"
)

// PredictorFromEnv decodes ENGINE_PREDICTOR: base64 of the predictor's JSON,
// as the operator injects it. Unknown fields are errors.
func PredictorFromEnv(b64 string) (v1.PredictorSpec, error) {
	var p v1.PredictorSpec
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return p, fmt.Errorf("ENGINE_PREDICTOR is not base64: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("ENGINE_PREDICTOR is not a predictor's JSON: %w", err)
	}
	return p, nil
}

// PredictorFromFile reads a SeldonDeployment document (JSON or YAML),
// validates and defaults it, and returns the named predictor (the only one
// when predictor is empty) and the SeldonDeployment's name. sdep selects a
// document by name when the file holds several.
func PredictorFromFile(path, sdep, predictorName string) (v1.PredictorSpec, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return v1.PredictorSpec{}, "", err
	}
	docs, err := decode.Documents(path, data)
	if err != nil {
		return v1.PredictorSpec{}, "", err
	}
	var sd *v1.SeldonDeployment
	var names []string
	for _, d := range docs {
		names = append(names, d.Object.Name)
		if sdep == "" && len(docs) == 1 || d.Object.Name == sdep {
			sd = d.Object
		}
	}
	if sd == nil {
		return v1.PredictorSpec{}, "", fmt.Errorf("%s: no SeldonDeployment named %q (have: %s); choose one with --sdep", path, sdep, strings.Join(names, ", "))
	}
	// A node with an explicit endpoint and no container is called as written.
	if err := validation.ValidateWith(sd, validation.Policy{ExplicitEndpoints: true}).Err(); err != nil {
		return v1.PredictorSpec{}, "", fmt.Errorf("%s: %w", path, err)
	}
	validation.Default(sd, predictor.DefaultOptions())
	var preds []string
	for _, p := range sd.Spec.Predictors {
		preds = append(preds, p.Name)
		if p.Name == predictorName || predictorName == "" && len(sd.Spec.Predictors) == 1 {
			return p, sd.Name, nil
		}
	}
	return v1.PredictorSpec{}, "", fmt.Errorf("%s: SeldonDeployment %q has no predictor %q (have: %s); choose one with --predictor",
		path, sd.Name, predictorName, strings.Join(preds, ", "))
}

// maxAnnotationLine bounds one line of the annotations file. A pod's
// annotations may total 256 KiB and the kubelet writes each value quoted,
// where one byte may take 4 characters (\x01), so a line can exceed 1 MiB;
// with bufio's default of 64 KiB such a pod's executor would not start.
const maxAnnotationLine = 2 << 20

// ReadPodAnnotations parses the downward API annotations file (key="value"
// per line). A missing file is no annotations.
func ReadPodAnnotations(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxAnnotationLine)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[k] = v
	}
	return out, sc.Err()
}

// ServeOptions say where and how Serve listens.
type ServeOptions struct {
	HTTPAddr, GRPCAddr string
	MetricsPath        string
	// DrainPeriod is how long the executor keeps serving after ctx is
	// cancelled, reporting not ready and closing keep-alive connections
	// (see Serve); 0 stops at once.
	DrainPeriod time.Duration
	// GracePeriod bounds how long in-flight requests may take to finish
	// after the drain period.
	GracePeriod time.Duration
	Log         logr.Logger
	// Ready, when set, receives the bound addresses once both listeners
	// accept connections.
	Ready func(httpAddr, grpcAddr net.Addr)
}

// idleCloseAfter is when, into the drain, keep-alive connections that have
// stayed idle are closed. A server closing an idle HTTP/1.1 connection
// races the client's next request on it (which then fails), so connections
// in use are left to close after their next answer (Connection: close), and
// only those idle this long are closed, well before a 1 s grace period ends.
const idleCloseAfter = 500 * time.Millisecond

// Serve runs the REST and gRPC servers until ctx is cancelled, then drains
// for o.DrainPeriod, stops accepting, lets in-flight requests finish within
// the grace period, and closes the component connections.
//
// The drain is for a pod being deleted. The kubelet sends SIGTERM (after
// the preStop hook, which the executor container has none of) at the same
// time as the EndpointSlice controller marks the pod not ready; kube-proxy
// then rewrites its rules, typically within a second, and until it has,
// new connections to the Service may still land here. Established
// keep-alive connections keep landing here whatever kube-proxy does. So,
// while draining, the executor:
//   - answers /ready with 503 and gRPC health NOT_SERVING (probes agree
//     with the EndpointSlice; a slow proxy or a load balancer probing
//     /ready stops sending too);
//   - keeps both listeners open and serves every request that arrives;
//   - answers each REST request with "Connection: close", and closes
//     keep-alive connections still idle 0.5 s into the drain (see
//     idleCloseAfter), so clients reconnect through the updated Service
//     to another pod;
//   - after the drain period, stops gRPC gracefully (GOAWAY, streams in
//     flight finish) and waits for REST requests in flight, both within
//     the grace period.
//
// With the seed's terminationGracePeriodSeconds: 1 the kubelet's SIGKILL
// comes 1 s after SIGTERM, before the default 5 s drain ends: requests
// arriving in that second are served, keep-alive clients have moved on
// after their next answer, and kube-proxy has normally synced; a request
// still in flight at the SIGKILL is lost, which at a trickle to a fast
// model is rare but possible. For a longer grace period, set
// terminationGracePeriodSeconds to at least the drain period plus the
// slowest request (e.g. 30 s with the default 5 s drain), and raise
// --drain-period where kube-proxy or an external load balancer takes
// longer than 5 s to stop routing to a terminating pod.
func (e *Executor) Serve(ctx context.Context, o ServeOptions) error {
	hl, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("REST listener: %w", err)
	}
	gl, err := net.Listen("tcp", o.GRPCAddr)
	if err != nil {
		_ = hl.Close()
		return fmt.Errorf("gRPC listener: %w", err)
	}
	hs := e.newHTTPServer(e.Handler(HandlerOptions{MetricsPath: o.MetricsPath}))
	health := newHealth()
	gs := e.newGRPCServer(health)
	errs := make(chan error, 2)
	go func() { errs <- hs.Serve(hl) }()
	go func() { errs <- gs.Serve(gl) }()
	o.Log.Info("serving", "rest", hl.Addr().String(), "grpc", gl.Addr().String(), "metrics", o.MetricsPath)
	if o.Ready != nil {
		o.Ready(hl.Addr(), gl.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	if o.DrainPeriod > 0 && serveErr == nil {
		o.Log.Info("draining: not ready, closing keep-alive connections, still serving", "drainPeriod", o.DrainPeriod.String())
		e.draining.Store(true) // every answer says Connection: close
		health.notServing()
		closeIdle := time.NewTimer(min(idleCloseAfter, o.DrainPeriod/2))
		end := time.NewTimer(o.DrainPeriod)
	drain:
		for {
			select {
			case <-closeIdle.C:
				// Connections idle since the drain began; the others have
				// been answered with Connection: close already.
				hs.SetKeepAlivesEnabled(false)
			case <-end.C:
				break drain
			case serveErr = <-errs:
				break drain
			}
		}
		closeIdle.Stop()
	}
	o.Log.Info("shutting down", "gracePeriod", o.GracePeriod.String())
	grace, cancel := context.WithTimeout(context.Background(), o.GracePeriod)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	if err := hs.Shutdown(grace); err != nil {
		o.Log.Info("REST requests still running after the grace period were cut off", "err", err.Error())
	}
	select {
	case <-stopped:
	case <-grace.Done():
		gs.Stop()
		<-stopped
	}
	e.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
