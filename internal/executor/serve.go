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
	if err := validation.Validate(sd).Err(); err != nil {
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
	// GracePeriod bounds how long in-flight requests may take to finish
	// after ctx is cancelled.
	GracePeriod time.Duration
	Log         logr.Logger
	// Ready, when set, receives the bound addresses once both listeners
	// accept connections.
	Ready func(httpAddr, grpcAddr net.Addr)
}

// Serve runs the REST and gRPC servers until ctx is cancelled, then stops
// accepting, lets in-flight requests finish within the grace period, and
// closes the component connections.
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
	gs := e.NewGRPCServer()
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
