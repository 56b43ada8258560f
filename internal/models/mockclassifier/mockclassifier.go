// Package mockclassifier is sdep's built-in copy of Seldon's mock classifier
// (docs/compatibility.md#the-mock-classifier): a logistic function of each
// row's mean, thresholded on a fixed 3×4 matrix. It speaks the component
// side of the Seldon protocol over REST and gRPC, or the v2 or tensorflow
// protocol (Config.Protocol), so graphs and benchmarks run without a model
// image.
package mockclassifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// modelMean is the mean of the classifier's weights,
// [[1,5,3,4],[2,3,1,4],[6,3,2,1]]: 35/12.
const modelMean = 35.0 / 12

// Config is the classifier's parameters.
type Config struct {
	// IntValue shifts the threshold (parameter intValue).
	IntValue int
	// Delay is slept before each prediction (parameter delaySecs).
	Delay time.Duration
	// ID and Image fill meta.requestPath when both are set
	// (PREDICTIVE_UNIT_ID, PREDICTIVE_UNIT_IMAGE).
	ID, Image string
	// Protocol is seldon (default), v2 or tensorflow (see CheckProtocol):
	// the API served over REST and gRPC.
	Protocol string
}

// ParseParameters reads PREDICTIVE_UNIT_PARAMETERS (a JSON list of
// {name, value, type}); unknown names are ignored, as the Python wrapper
// passes only the ones the model accepts.
func ParseParameters(js string, cfg *Config) error {
	if strings.TrimSpace(js) == "" {
		return nil
	}
	var params []v1.Parameter
	if err := json.Unmarshal([]byte(js), &params); err != nil {
		return fmt.Errorf("PREDICTIVE_UNIT_PARAMETERS: %w", err)
	}
	for _, p := range params {
		switch p.Name {
		case "intValue":
			n, err := strconv.Atoi(p.Value)
			if err != nil {
				return fmt.Errorf("PREDICTIVE_UNIT_PARAMETERS: intValue %q is not an integer", p.Value)
			}
			cfg.IntValue = n
		case "delaySecs":
			n, err := strconv.ParseFloat(p.Value, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("PREDICTIVE_UNIT_PARAMETERS: delaySecs %q is not a number of seconds", p.Value)
			}
			cfg.Delay = time.Duration(n * float64(time.Second))
		}
	}
	return nil
}

// Predict returns each row's probability: 1/(1+exp(-(mean(row)-threshold)))
// with threshold = 35/12 + intValue.
func Predict(rows [][]float64, intValue int) []float64 {
	threshold := modelMean + float64(intValue)
	out := make([]float64, len(rows))
	for i, r := range rows {
		sum := 0.0
		for _, v := range r {
			sum += v
		}
		out[i] = 1 / (1 + math.Exp(-(sum/float64(len(r)) - threshold)))
	}
	return out
}

// Server serves the classifier.
type Server struct {
	cfg Config
}

// New returns a classifier server.
func New(cfg Config) *Server { return &Server{cfg: cfg} }

// errBadData is the user-facing error for inputs the model cannot use.
type errBadData struct{ msg string }

func (e errBadData) Error() string { return e.msg }

// input is the part of a SeldonMessage the classifier reads.
type input struct {
	Meta struct {
		Puid string          `json:"puid"`
		Tags json.RawMessage `json:"tags"` // echoed, as upstream's Python wrapper does
	} `json:"meta"`
	Data *struct {
		Names   []string    `json:"names"`
		Ndarray [][]float64 `json:"ndarray"`
		Tensor  *struct {
			Shape  []int     `json:"shape"`
			Values []float64 `json:"values"`
		} `json:"tensor"`
	} `json:"data"`
}

// rows turns the input into a batch, and reports whether the answer should
// be a tensor (the input was one).
func (in *input) rows() ([][]float64, bool, error) {
	if in.Data == nil {
		return nil, false, errBadData{"no data: send data.ndarray or data.tensor"}
	}
	if t := in.Data.Tensor; t != nil {
		if len(t.Shape) != 2 || t.Shape[0] < 0 || t.Shape[1] <= 0 || t.Shape[0]*t.Shape[1] != len(t.Values) {
			return nil, true, errBadData{"Incorrect shape: expected a 2-dimensional tensor"}
		}
		rows := make([][]float64, t.Shape[0])
		for i := range rows {
			rows[i] = t.Values[i*t.Shape[1] : (i+1)*t.Shape[1]]
		}
		return rows, true, nil
	}
	if in.Data.Ndarray == nil {
		return nil, false, errBadData{"no data: send data.ndarray or data.tensor"}
	}
	for _, r := range in.Data.Ndarray {
		if len(r) == 0 {
			return nil, false, errBadData{"Incorrect shape: rows must not be empty"}
		}
	}
	return in.Data.Ndarray, false, nil
}

func (s *Server) sleep(ctx context.Context) error {
	if s.cfg.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(s.cfg.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handler serves the REST routes of the configured protocol: the Python
// wrapper's for seldon.
func (s *Server) Handler() http.Handler {
	switch s.cfg.Protocol {
	case ProtocolV2, "kfserving":
		return s.v2Handler()
	case ProtocolTensorflow:
		return s.tfHandler()
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/predict", "/api/v1.0/predictions", "/api/v0.1/predictions"} {
		mux.HandleFunc(p, s.servePredict)
	}
	for _, p := range []string{"/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback"} {
		mux.HandleFunc(p, s.serveFeedback)
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
			writeJSON(w, http.StatusOK, []byte(metadataJSON))
		})
	}
	return mux
}

const metadataJSON = `{"name":"mean_classifier","versions":[],"platform":"sdep",` +
	`"inputs":[{"messagetype":"ndarray","schema":{"shape":[-1,-1]}}],` +
	`"outputs":[{"messagetype":"ndarray","schema":{"names":["proba"],"shape":[-1,1]}}],` +
	`"custom":{"modelName":"mean_classifier"}}`

// maxBody bounds request bodies.
const maxBody = 64 << 20

// payload returns the SeldonMessage JSON of a request: the form or query
// parameter "json" (how the 0.x engine and GET requests send it) when there
// is one, else the body.
func payload(r *http.Request) ([]byte, error) {
	if v := r.URL.Query().Get("json"); v != "" {
		return []byte(v), nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errBadData{"request body too large"}
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

func (s *Server) servePredict(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeFailure(w, http.StatusMethodNotAllowed, "use GET or POST", "MICROSERVICE_BAD_DATA")
		return
	}
	body, err := payload(r)
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error(), "MICROSERVICE_BAD_DATA")
		return
	}
	var in input
	if err := json.Unmarshal(body, &in); err != nil {
		writeFailure(w, http.StatusBadRequest, "invalid SeldonMessage JSON: "+err.Error(), "MICROSERVICE_BAD_DATA")
		return
	}
	rows, tensor, err := in.rows()
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error(), "MICROSERVICE_BAD_DATA")
		return
	}
	if err := s.sleep(r.Context()); err != nil {
		return
	}
	probs := Predict(rows, s.cfg.IntValue)
	writeJSON(w, http.StatusOK, s.appendResponse(make([]byte, 0, 128+24*len(probs)+len(in.Meta.Tags)), probs, tensor, in.Meta.Puid, in.Meta.Tags))
}

// appendResponse writes {"data":{"names":["proba"],...},"meta":{...}}.
func (s *Server) appendResponse(b []byte, probs []float64, tensor bool, puid string, tags ...json.RawMessage) []byte {
	b = append(b, `{"data":{"names":["proba"],`...)
	if tensor {
		b = append(b, `"tensor":{"shape":[`...)
		b = strconv.AppendInt(b, int64(len(probs)), 10)
		b = append(b, `,1],"values":[`...)
		for i, p := range probs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, p)
		}
		b = append(b, "]}"...)
	} else {
		b = append(b, `"ndarray":[`...)
		for i, p := range probs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendFloat(b, p)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, `},"meta":`...)
	return s.appendMeta(b, puid, tags...)
}

// appendMeta writes meta: the puid, the request's tags (an object) and the
// request path.
func (s *Server) appendMeta(b []byte, puid string, tags ...json.RawMessage) []byte {
	b = append(b, '{')
	if puid != "" {
		q, _ := json.Marshal(puid)
		b = append(b, `"puid":`...)
		b = append(b, q...)
	}
	if len(tags) > 0 && len(tags[0]) > 0 && tags[0][0] == '{' {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, `"tags":`...)
		b = append(b, tags[0]...)
	}
	if s.cfg.ID != "" && s.cfg.Image != "" {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		rp, _ := json.Marshal(map[string]string{s.cfg.ID: s.cfg.Image})
		b = append(b, `"requestPath":`...)
		b = append(b, rp...)
	}
	return append(b, "}}"...)
}

// appendFloat formats like encoding/json (shortest representation that
// round-trips), which is also what Python prints for these values.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

func (s *Server) serveFeedback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeFailure(w, http.StatusMethodNotAllowed, "use GET or POST", "MICROSERVICE_BAD_DATA")
		return
	}
	body, err := payload(r)
	if err != nil {
		writeFailure(w, http.StatusBadRequest, err.Error(), "MICROSERVICE_BAD_DATA")
		return
	}
	var fb struct {
		Request *input `json:"request"`
	}
	if err := json.Unmarshal(body, &fb); err != nil {
		writeFailure(w, http.StatusBadRequest, "invalid Feedback JSON: "+err.Error(), "MICROSERVICE_BAD_DATA")
		return
	}
	puid := ""
	if fb.Request != nil {
		puid = fb.Request.Meta.Puid
	}
	writeJSON(w, http.StatusOK, s.appendMeta([]byte(`{"meta":`), puid))
}

func writeJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeFailure answers as the Python wrapper does for model errors.
func writeFailure(w http.ResponseWriter, code int, info, reason string) {
	b, _ := json.Marshal(map[string]any{"status": map[string]any{
		"status": 1, "info": info, "code": -1, "reason": reason}})
	writeJSON(w, code, b)
}

// RegisterGRPC registers the configured protocol's service on s: the Model
// service for seldon, inference.GRPCInferenceService for v2,
// tensorflow.serving.PredictionService for tensorflow.
func (s *Server) RegisterGRPC(reg grpc.ServiceRegistrar) {
	switch s.cfg.Protocol {
	case ProtocolV2, "kfserving":
		s.registerV2(reg)
		return
	case ProtocolTensorflow:
		s.registerTF(reg)
		return
	}
	pb.RegisterModelServer(reg, &grpcModel{s: s})
}

type grpcModel struct {
	pb.UnimplementedModelServer
	s *Server
}

func (g *grpcModel) Predict(ctx context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	d := in.GetData()
	var (
		rows   [][]float64
		tensor bool
	)
	switch {
	case d.GetTensor() != nil:
		t := d.GetTensor()
		tensor = true
		if len(t.GetShape()) != 2 || t.GetShape()[0] < 0 || t.GetShape()[1] <= 0 ||
			int(t.GetShape()[0])*int(t.GetShape()[1]) != len(t.GetValues()) {
			return nil, status.Error(codes.InvalidArgument, "Incorrect shape: expected a 2-dimensional tensor")
		}
		cols := int(t.GetShape()[1])
		rows = make([][]float64, t.GetShape()[0])
		for i := range rows {
			rows[i] = t.GetValues()[i*cols : (i+1)*cols]
		}
	case d.GetNdarray() != nil:
		for _, rv := range d.GetNdarray().GetValues() {
			l := rv.GetListValue()
			if l == nil || len(l.GetValues()) == 0 {
				return nil, status.Error(codes.InvalidArgument, "Incorrect shape: expected a 2-dimensional ndarray")
			}
			row := make([]float64, len(l.GetValues()))
			for j, v := range l.GetValues() {
				n, ok := v.GetKind().(*structpb.Value_NumberValue)
				if !ok {
					return nil, status.Error(codes.InvalidArgument, "ndarray values must be numbers")
				}
				row[j] = n.NumberValue
			}
			rows = append(rows, row)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "no data: send data.ndarray or data.tensor")
	}
	if err := g.s.sleep(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	probs := Predict(rows, g.s.cfg.IntValue)
	out := &pb.DefaultData{Names: []string{"proba"}}
	if tensor {
		out.DataOneof = &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: []int32{int32(len(probs)), 1}, Values: probs}}
	} else {
		vals := make([]*structpb.Value, len(probs))
		for i, p := range probs {
			vals[i] = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(p)}})
		}
		out.DataOneof = &pb.DefaultData_Ndarray{Ndarray: &structpb.ListValue{Values: vals}}
	}
	meta := &pb.Meta{Puid: in.GetMeta().GetPuid(), Tags: in.GetMeta().GetTags()}
	if g.s.cfg.ID != "" && g.s.cfg.Image != "" {
		meta.RequestPath = map[string]string{g.s.cfg.ID: g.s.cfg.Image}
	}
	return &pb.SeldonMessage{Meta: meta, DataOneof: &pb.SeldonMessage_Data{Data: out}}, nil
}

func (g *grpcModel) SendFeedback(_ context.Context, fb *pb.Feedback) (*pb.SeldonMessage, error) {
	return &pb.SeldonMessage{Meta: &pb.Meta{Puid: fb.GetRequest().GetMeta().GetPuid()}}, nil
}

func (g *grpcModel) Metadata(context.Context, *emptypb.Empty) (*pb.SeldonModelMetadata, error) {
	return &pb.SeldonModelMetadata{
		Name:     "mean_classifier",
		Platform: "sdep",
		Inputs:   []*pb.SeldonMessageMetadata{{Messagetype: "ndarray", Shape: []int64{-1, -1}}},
		Outputs:  []*pb.SeldonMessageMetadata{{Messagetype: "ndarray", Shape: []int64{-1, 1}}},
		Custom:   map[string]string{"modelName": "mean_classifier"},
	}, nil
}
