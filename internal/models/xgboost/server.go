package xgboost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/sdep-dev/sdep/internal/grpcflow"
)

// Server serves a model over the REST side of the Seldon protocol, the
// routes of Seldon's Python wrapper, answering as upstream's XGBoost server
// does: Booster.predict's array (one value per row, or one per class for
// multi:softprob, named t:0..t:k-1).
type Server struct {
	m *Model
}

// NewServer returns a server for m.
func NewServer(m *Model) *Server { return &Server{m: m} }

// maxBody bounds request bodies.
const maxBody = 64 << 20

// Handler serves the prediction, health and metadata routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/predict", "/api/v1.0/predictions", "/api/v0.1/predictions"} {
		mux.HandleFunc(p, s.servePredict)
	}
	for _, p := range []string{"/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"meta":{}}`))
		})
	}
	mux.HandleFunc("/health/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("pong"))
	})
	for _, p := range []string{"/health/status", "/api/v1.0/health/status"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"jsonData":{"status":"ok"},"meta":{}}`))
		})
	}
	for _, p := range []string{"/metadata", "/api/v1.0/metadata"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			b, _ := json.Marshal(map[string]any{
				"name": "xgboost", "versions": []string{}, "platform": "xgboost",
				"inputs":  []any{map[string]any{"messagetype": "ndarray", "schema": map[string]any{"shape": []int{-1, s.m.NumFeature}}}},
				"outputs": []any{map[string]any{"messagetype": "ndarray", "schema": map[string]any{"shape": []int{-1, s.m.Columns()}}}},
				"custom":  map[string]string{"objective": s.m.Objective},
			})
			writeJSON(w, http.StatusOK, b)
		})
	}
	return mux
}

type badData string

func (e badData) Error() string { return string(e) }

// request is the part of a SeldonMessage the server reads. Values are
// kept raw so null (Python's None, a missing value) can become NaN.
type request struct {
	Data *struct {
		Ndarray []json.RawMessage `json:"ndarray"`
		Tensor  *struct {
			Shape  []int             `json:"shape"`
			Values []json.RawMessage `json:"values"`
		} `json:"tensor"`
	} `json:"data"`
	Meta struct {
		Puid string `json:"puid"`
	} `json:"meta"`
}

func value(raw json.RawMessage) (float32, error) {
	s := strings.TrimSpace(string(raw))
	if s == "null" || s == `"nan"` || s == `"NaN"` {
		return float32(math.NaN()), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, badData(fmt.Sprintf("%s is not a number (use null for a missing value)", s))
	}
	return float32(f), nil
}

// rows turns the request into float32 rows, and reports whether the answer
// should be a tensor.
func (r *request) rows() ([][]float32, bool, error) {
	if r.Data == nil {
		return nil, false, badData("no data: send data.ndarray or data.tensor")
	}
	if t := r.Data.Tensor; t != nil {
		// Shape[0] is compared after dividing, so a huge shape cannot
		// overflow the product and pass with few values.
		if len(t.Shape) != 2 || t.Shape[0] < 0 || t.Shape[1] <= 0 ||
			len(t.Values)%t.Shape[1] != 0 || t.Shape[0] != len(t.Values)/t.Shape[1] {
			return nil, true, badData("data.tensor: want a 2-dimensional shape [rows, features] matching len(values)")
		}
		out := make([][]float32, t.Shape[0])
		for i := range out {
			out[i] = make([]float32, t.Shape[1])
			for j := range out[i] {
				v, err := value(t.Values[i*t.Shape[1]+j])
				if err != nil {
					return nil, true, err
				}
				out[i][j] = v
			}
		}
		return out, true, nil
	}
	if r.Data.Ndarray == nil {
		return nil, false, badData("no data: send data.ndarray or data.tensor")
	}
	out := make([][]float32, len(r.Data.Ndarray))
	for i, raw := range r.Data.Ndarray {
		var row []json.RawMessage
		if err := json.Unmarshal(raw, &row); err != nil {
			return nil, false, badData(fmt.Sprintf("data.ndarray[%d]: want a row of numbers, e.g. [[1.0, 2.0]]", i))
		}
		out[i] = make([]float32, len(row))
		for j, e := range row {
			v, err := value(e)
			if err != nil {
				return nil, false, badData(fmt.Sprintf("data.ndarray[%d][%d]: %v", i, j, err))
			}
			out[i][j] = v
		}
	}
	return out, false, nil
}

func (s *Server) servePredict(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeFailure(w, http.StatusMethodNotAllowed, "use GET or POST")
		return
	}
	body, err := payload(r)
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error())
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeFailure(w, http.StatusBadRequest, "invalid SeldonMessage JSON: "+err.Error())
		return
	}
	rows, tensor, err := req.rows()
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.checkWidth(rows); err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error())
		return
	}
	preds := s.m.Predict(rows)
	writeJSON(w, http.StatusOK, s.response(preds, tensor, req.Meta.Puid))
}

// checkWidth refuses rows wider than the model's features (shorter ones
// are allowed: the missing features are missing values).
func (s *Server) checkWidth(rows [][]float32) error {
	for i, row := range rows {
		if len(row) > s.m.NumFeature && s.m.NumFeature > 0 {
			return fmt.Errorf("row %d has %d features; the model was trained on %d", i, len(row), s.m.NumFeature)
		}
	}
	return nil
}

func (s *Server) response(preds [][]float64, tensor bool, puid string) []byte {
	cols := s.m.Columns()
	data := map[string]any{}
	names := []string{}
	if cols > 1 {
		for i := range cols {
			names = append(names, "t:"+strconv.Itoa(i))
		}
	}
	data["names"] = names
	if tensor {
		vals := make([]float64, 0, len(preds)*cols)
		for _, p := range preds {
			vals = append(vals, p...)
		}
		shape := []int{len(preds)}
		if cols > 1 {
			shape = append(shape, cols)
		}
		data["tensor"] = map[string]any{"shape": shape, "values": vals}
	} else if cols > 1 {
		data["ndarray"] = preds
	} else {
		flat := make([]float64, len(preds))
		for i, p := range preds {
			flat[i] = p[0]
		}
		data["ndarray"] = flat
	}
	meta := map[string]any{}
	if puid != "" {
		meta["puid"] = puid
	}
	b, _ := json.Marshal(map[string]any{"data": data, "meta": meta})
	return b
}

// payload returns the SeldonMessage JSON: the form or query parameter
// "json" when there is one, else the body.
func payload(r *http.Request) ([]byte, error) {
	if v := r.URL.Query().Get("json"); v != "" {
		return []byte(v), nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, badData("request body too large")
		}
		return nil, err
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(b)); err == nil && form.Get("json") != "" {
			return []byte(form.Get("json")), nil
		}
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeFailure(w http.ResponseWriter, code int, info string) {
	b, _ := json.Marshal(map[string]any{"status": map[string]any{
		"status": 1, "info": info, "code": -1, "reason": "MICROSERVICE_BAD_DATA"}})
	writeJSON(w, code, b)
}

// Serve listens on host:httpPort (REST) and, when grpcPort > 0,
// host:grpcPort (gRPC), and serves until ctx is cancelled, then shuts
// down within grace. ready, when set, gets the bound REST address.
func (s *Server) Serve(ctx context.Context, host string, httpPort, grpcPort int, grace time.Duration, ready func(net.Addr)) error {
	// gRPC first, so that a readiness check on the REST port implies that
	// both accept.
	var gl net.Listener
	if grpcPort > 0 {
		var err error
		if gl, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(grpcPort))); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(httpPort)))
	if err != nil {
		if gl != nil {
			_ = gl.Close()
		}
		return err
	}
	errc := make(chan error, 2)
	var gs *grpc.Server
	if gl != nil {
		gs = grpc.NewServer(grpcflow.ServerOptions()...)
		s.RegisterGRPC(gs)
		go func() { errc <- gs.Serve(gl) }()
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { errc <- hs.Serve(l) }()
	if ready != nil {
		ready(l.Addr())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = hs.Shutdown(sctx)
	if gs != nil {
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-sctx.Done():
			gs.Stop()
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
