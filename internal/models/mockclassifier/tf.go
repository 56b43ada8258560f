package mockclassifier

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tfpb "github.com/sdep-dev/sdep/internal/proto/tfservingpb"
)

// tfHandler serves TensorFlow Serving's REST API for any model name:
// :predict (row "instances" or columnar "inputs"), :classify and :regress
// (examples of numeric features), model status and metadata.
func (s *Server) tfHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/v1/models/")
		if !ok || rest == "" {
			writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
			return
		}
		verb := ""
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			rest, verb = rest[:i], rest[i+1:]
		}
		seg := strings.Split(rest, "/")
		model, tail := seg[0], seg[1:]
		version := ""
		if len(tail) >= 2 && tail[0] == "versions" {
			version, tail = tail[1], tail[2:]
		}
		switch {
		case verb != "" && r.Method == http.MethodPost:
			s.serveTFVerb(w, r, verb)
		case verb == "" && len(tail) == 0 && r.Method == http.MethodGet:
			v := version
			if v == "" {
				v = "1"
			}
			writeValue(w, map[string]any{"model_version_status": []any{map[string]any{
				"version": v, "state": "AVAILABLE", "status": map[string]string{"error_code": "OK", "error_message": ""}}}})
		case verb == "" && len(tail) == 1 && tail[0] == "metadata" && r.Method == http.MethodGet:
			writeValue(w, map[string]any{"model_spec": map[string]string{"name": model, "signature_name": "", "version": "1"},
				"metadata": map[string]any{"signature_def": map[string]any{"signature_def": map[string]any{
					"serving_default": map[string]any{"method_name": "tensorflow/serving/predict",
						"inputs":  map[string]any{"x": map[string]any{"dtype": "DT_DOUBLE", "name": "x:0"}},
						"outputs": map[string]any{"proba": map[string]any{"dtype": "DT_DOUBLE", "name": "proba:0"}}}}}}})
		default:
			writeError(w, http.StatusNotFound, "no such path or method: "+r.Method+" "+r.URL.Path)
		}
	})
}

func (s *Server) serveTFVerb(w http.ResponseWriter, r *http.Request, verb string) {
	var in struct {
		Instances json.RawMessage              `json:"instances"`
		Inputs    json.RawMessage              `json:"inputs"`
		Examples  []map[string]json.RawMessage `json:"examples"`
	}
	if err := readJSON(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var rows [][]float64
	switch verb {
	case "predict":
		src := in.Instances
		if src == nil {
			src = in.Inputs
		}
		if src == nil {
			writeError(w, http.StatusBadRequest, `send "instances" (rows) or "inputs" (columnar)`)
			return
		}
		if err := json.Unmarshal(src, &rows); err != nil || len(rows) == 0 {
			writeError(w, http.StatusBadRequest, "expected a list of rows of numbers, e.g. [[1,2,3,4]]")
			return
		}
	case "classify", "regress":
		for i, ex := range in.Examples {
			var row []float64
			for _, k := range slices.Sorted(maps.Keys(ex)) {
				vals, err := flatten(ex[k])
				if err != nil {
					writeError(w, http.StatusBadRequest, "examples["+itoa(i)+"]."+k+": "+err.Error())
					return
				}
				row = append(row, vals...)
			}
			if len(row) == 0 {
				writeError(w, http.StatusBadRequest, "examples["+itoa(i)+"] has no numeric features")
				return
			}
			rows = append(rows, row)
		}
		if len(rows) == 0 {
			writeError(w, http.StatusBadRequest, `send "examples": [{"feature": number, ...}]`)
			return
		}
	default:
		writeError(w, http.StatusNotFound, "unknown method :"+verb)
		return
	}
	for _, row := range rows {
		if len(row) == 0 {
			writeError(w, http.StatusBadRequest, "a row is empty")
			return
		}
	}
	if err := s.sleep(r.Context()); err != nil {
		return
	}
	probs := Predict(rows, s.cfg.IntValue)
	switch {
	case verb == "classify":
		results := make([][][2]any, len(probs))
		for i, p := range probs {
			results[i] = [][2]any{{"0", 1 - p}, {"1", p}}
		}
		writeValue(w, map[string]any{"results": results})
	case verb == "regress":
		writeValue(w, map[string]any{"results": probs})
	case in.Instances != nil:
		writeValue(w, map[string]any{"predictions": column(probs)})
	default:
		writeValue(w, map[string]any{"outputs": column(probs)})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

type tfGRPC struct {
	tfpb.UnimplementedPredictionServiceServer
	s *Server
}

func (s *Server) registerTF(reg grpc.ServiceRegistrar) {
	tfpb.RegisterPredictionServiceServer(reg, &tfGRPC{s: s})
}

// tensorValues reads a numeric TensorProto's values, typed or packed in
// tensor_content.
func tensorValues(t *tfpb.TensorProto) ([]float64, error) {
	var out []float64
	if c := t.GetTensorContent(); len(c) > 0 {
		size := map[tfpb.DataType]int{tfpb.DataType_DT_DOUBLE: 8, tfpb.DataType_DT_FLOAT: 4, tfpb.DataType_DT_INT32: 4, tfpb.DataType_DT_INT64: 8}[t.GetDtype()]
		if size == 0 || len(c)%size != 0 {
			return nil, status.Errorf(codes.InvalidArgument, "tensor_content of %s: send DT_DOUBLE, DT_FLOAT, DT_INT32 or DT_INT64", t.GetDtype())
		}
		for i := 0; i < len(c); i += size {
			switch t.GetDtype() {
			case tfpb.DataType_DT_DOUBLE:
				out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(c[i:])))
			case tfpb.DataType_DT_FLOAT:
				out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(c[i:]))))
			case tfpb.DataType_DT_INT32:
				out = append(out, float64(int32(binary.LittleEndian.Uint32(c[i:]))))
			default:
				out = append(out, float64(int64(binary.LittleEndian.Uint64(c[i:]))))
			}
		}
		return out, nil
	}
	out = append(out, t.GetDoubleVal()...)
	for _, v := range t.GetFloatVal() {
		out = append(out, float64(v))
	}
	for _, v := range t.GetIntVal() {
		out = append(out, float64(v))
	}
	for _, v := range t.GetInt64Val() {
		out = append(out, float64(v))
	}
	return out, nil
}

// Predict reads the request's one input (the first by name when there are
// several) as [rows, columns] and answers "proba" as DT_DOUBLE [rows, 1].
func (g *tfGRPC) Predict(ctx context.Context, in *tfpb.PredictRequest) (*tfpb.PredictResponse, error) {
	if len(in.GetInputs()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no inputs: send one tensor of shape [rows, columns]")
	}
	keys := make([]string, 0, len(in.GetInputs()))
	for k := range in.GetInputs() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	t := in.GetInputs()[keys[0]]
	values, err := tensorValues(t)
	if err != nil {
		return nil, err
	}
	var shape []int64
	for _, d := range t.GetTensorShape().GetDim() {
		shape = append(shape, d.GetSize())
	}
	rows, err := batch(shape, values)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "inputs["+keys[0]+"]: "+err.Error())
	}
	if err := g.s.sleep(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	probs := Predict(rows, g.s.cfg.IntValue)
	return &tfpb.PredictResponse{ModelSpec: &tfpb.ModelSpec{Name: in.GetModelSpec().GetName(), SignatureName: "serving_default"},
		Outputs: map[string]*tfpb.TensorProto{"proba": {Dtype: tfpb.DataType_DT_DOUBLE,
			TensorShape: &tfpb.TensorShapeProto{Dim: []*tfpb.TensorShapeProto_Dim{{Size: int64(len(probs))}, {Size: 1}}},
			DoubleVal:   probs}}}, nil
}

func (g *tfGRPC) GetModelMetadata(_ context.Context, in *tfpb.GetModelMetadataRequest) (*tfpb.GetModelMetadataResponse, error) {
	return &tfpb.GetModelMetadataResponse{ModelSpec: &tfpb.ModelSpec{Name: in.GetModelSpec().GetName(), SignatureName: "serving_default"}}, nil
}
