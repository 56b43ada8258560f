package mockclassifier

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ipb "github.com/sdep-dev/sdep/internal/proto/inferencepb"
)

// The v2 mock answers every model name: it is whatever model the executor
// asks for. Its metadata describes one FP64 input of [rows, columns] and
// the output "proba" of [rows, 1].
const v2Platform = "sdep-mock"

type v2Tensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type v2Request struct {
	ID         string          `json:"id,omitempty"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Inputs     []v2Tensor      `json:"inputs"`
}

type v2Output struct {
	Name     string    `json:"name"`
	Shape    []int64   `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float64 `json:"data"`
}

type v2Response struct {
	ModelName    string     `json:"model_name"`
	ModelVersion string     `json:"model_version,omitempty"`
	ID           string     `json:"id,omitempty"`
	Outputs      []v2Output `json:"outputs"`
}

type v2TensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func v2Metadata(name, version string) any {
	versions := []string{}
	if version != "" {
		versions = append(versions, version)
	}
	return struct {
		Name     string         `json:"name"`
		Versions []string       `json:"versions"`
		Platform string         `json:"platform"`
		Inputs   []v2TensorMeta `json:"inputs"`
		Outputs  []v2TensorMeta `json:"outputs"`
	}{name, versions, v2Platform,
		[]v2TensorMeta{{"input", "FP64", []int64{-1, -1}}}, []v2TensorMeta{{"proba", "FP64", []int64{-1, 1}}}}
}

// v2Handler serves the Open Inference Protocol's REST routes.
func (s *Server) v2Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"live":true}`))
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"ready":true}`))
	})
	mux.HandleFunc("GET /v2", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"name":"mock-classifier","version":"1","extensions":[]}`))
	})
	for _, v := range []string{"", "/versions/{version}"} {
		mux.HandleFunc("GET /v2/models/{model}"+v, func(w http.ResponseWriter, r *http.Request) {
			writeValue(w, v2Metadata(r.PathValue("model"), r.PathValue("version")))
		})
		mux.HandleFunc("GET /v2/models/{model}"+v+"/ready", func(w http.ResponseWriter, r *http.Request) {
			writeValue(w, map[string]any{"name": r.PathValue("model"), "ready": true})
		})
		mux.HandleFunc("POST /v2/models/{model}"+v+"/infer", s.serveV2Infer)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
	})
	return mux
}

func (s *Server) serveV2Infer(w http.ResponseWriter, r *http.Request) {
	var in v2Request
	if err := readJSON(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(in.Inputs) == 0 {
		writeError(w, http.StatusBadRequest, "no inputs: send one input tensor of shape [rows, columns]")
		return
	}
	t := in.Inputs[0]
	values, err := flatten(t.Data)
	if err != nil {
		writeError(w, http.StatusBadRequest, "inputs[0].data: "+err.Error())
		return
	}
	rows, err := batch(t.Shape, values)
	if err != nil {
		writeError(w, http.StatusBadRequest, "inputs[0]: "+err.Error())
		return
	}
	if err := s.sleep(r.Context()); err != nil {
		return
	}
	probs := Predict(rows, s.cfg.IntValue)
	writeValue(w, v2Response{ModelName: r.PathValue("model"), ModelVersion: r.PathValue("version"), ID: in.ID,
		Outputs: []v2Output{{Name: "proba", Shape: []int64{int64(len(probs)), 1}, Datatype: "FP64", Data: probs}}})
}

type v2GRPC struct {
	ipb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func (s *Server) registerV2(reg grpc.ServiceRegistrar) {
	ipb.RegisterGRPCInferenceServiceServer(reg, &v2GRPC{s: s})
}

func (g *v2GRPC) ServerLive(context.Context, *ipb.ServerLiveRequest) (*ipb.ServerLiveResponse, error) {
	return &ipb.ServerLiveResponse{Live: true}, nil
}

func (g *v2GRPC) ServerReady(context.Context, *ipb.ServerReadyRequest) (*ipb.ServerReadyResponse, error) {
	return &ipb.ServerReadyResponse{Ready: true}, nil
}

func (g *v2GRPC) ServerMetadata(context.Context, *ipb.ServerMetadataRequest) (*ipb.ServerMetadataResponse, error) {
	return &ipb.ServerMetadataResponse{Name: "mock-classifier", Version: "1", Extensions: []string{}}, nil
}

func (g *v2GRPC) ModelReady(context.Context, *ipb.ModelReadyRequest) (*ipb.ModelReadyResponse, error) {
	return &ipb.ModelReadyResponse{Ready: true}, nil
}

func (g *v2GRPC) ModelMetadata(_ context.Context, in *ipb.ModelMetadataRequest) (*ipb.ModelMetadataResponse, error) {
	out := &ipb.ModelMetadataResponse{Name: in.GetName(), Platform: v2Platform,
		Inputs:  []*ipb.ModelMetadataResponse_TensorMetadata{{Name: "input", Datatype: "FP64", Shape: []int64{-1, -1}}},
		Outputs: []*ipb.ModelMetadataResponse_TensorMetadata{{Name: "proba", Datatype: "FP64", Shape: []int64{-1, 1}}}}
	if in.GetVersion() != "" {
		out.Versions = []string{in.GetVersion()}
	}
	return out, nil
}

// ModelInfer reads the first input from its typed contents or from
// raw_input_contents[0]; it answers raw when it was asked raw.
func (g *v2GRPC) ModelInfer(ctx context.Context, in *ipb.ModelInferRequest) (*ipb.ModelInferResponse, error) {
	if len(in.GetInputs()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no inputs: send one input tensor of shape [rows, columns]")
	}
	t := in.GetInputs()[0]
	raw := len(in.GetRawInputContents()) > 0
	var values []float64
	if raw {
		var err error
		if values, err = rawValues(t.GetDatatype(), in.GetRawInputContents()[0]); err != nil {
			return nil, status.Error(codes.InvalidArgument, "raw_input_contents[0]: "+err.Error())
		}
	} else {
		c := t.GetContents()
		values = append(values, c.GetFp64Contents()...)
		for _, v := range c.GetFp32Contents() {
			values = append(values, float64(v))
		}
		for _, v := range c.GetIntContents() {
			values = append(values, float64(v))
		}
		for _, v := range c.GetInt64Contents() {
			values = append(values, float64(v))
		}
		for _, v := range c.GetUintContents() {
			values = append(values, float64(v))
		}
		for _, v := range c.GetUint64Contents() {
			values = append(values, float64(v))
		}
	}
	rows, err := batch(t.GetShape(), values)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "inputs[0]: "+err.Error())
	}
	if err := g.s.sleep(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	probs := Predict(rows, g.s.cfg.IntValue)
	out := &ipb.ModelInferResponse{ModelName: in.GetModelName(), ModelVersion: in.GetModelVersion(), Id: in.GetId()}
	o := &ipb.ModelInferResponse_InferOutputTensor{Name: "proba", Datatype: "FP64", Shape: []int64{int64(len(probs)), 1}}
	if raw {
		b := make([]byte, 8*len(probs))
		for i, p := range probs {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(p))
		}
		out.RawOutputContents = [][]byte{b}
	} else {
		o.Contents = &ipb.InferTensorContents{Fp64Contents: probs}
	}
	out.Outputs = []*ipb.ModelInferResponse_InferOutputTensor{o}
	return out, nil
}
