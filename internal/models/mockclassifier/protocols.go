package mockclassifier

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
)

// Protocols the classifier speaks (Config.Protocol).
const (
	ProtocolSeldon     = "seldon"
	ProtocolV2         = "v2"
	ProtocolTensorflow = "tensorflow"
)

// CheckProtocol accepts the protocols the classifier speaks; kfserving is
// v2 and empty is seldon.
func CheckProtocol(p string) (string, error) {
	switch p {
	case "", ProtocolSeldon:
		return ProtocolSeldon, nil
	case ProtocolV2, "kfserving":
		return ProtocolV2, nil
	case ProtocolTensorflow:
		return ProtocolTensorflow, nil
	}
	return "", fmt.Errorf("protocol %q: use seldon, v2 (or kfserving) or tensorflow", p)
}

// batch cuts flat row-major values of a [rows, cols] (or [cols]) shape into
// rows.
func batch(shape []int64, values []float64) ([][]float64, error) {
	var n, k int64
	switch len(shape) {
	case 1:
		n, k = 1, shape[0]
	case 2:
		n, k = shape[0], shape[1]
	default:
		return nil, fmt.Errorf("shape %v: expected [rows, columns] or [columns]", shape)
	}
	// Bounded before multiplying: a huge shape must not overflow into a
	// match (or an allocation).
	if total := int64(len(values)); n < 0 || k <= 0 || n > total || k > total || n*k != total {
		return nil, fmt.Errorf("shape %v does not hold the %d values sent", shape, len(values))
	}
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = values[int64(i)*k : int64(i+1)*k]
	}
	return rows, nil
}

// flatten reads a JSON number, or nested arrays of numbers, row-major.
func flatten(raw json.RawMessage) ([]float64, error) {
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil, err
	}
	var out []float64
	var walk func(any) error
	walk = func(v any) error {
		switch t := v.(type) {
		case float64:
			out = append(out, t)
		case bool:
			if t {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		case []any:
			for _, e := range t {
				if err := walk(e); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%v is not a number", v)
		}
		return nil
	}
	return out, walk(x)
}

// rawValues decodes a little-endian, row-major tensor buffer.
func rawValues(datatype string, b []byte) ([]float64, error) {
	size := map[string]int{"FP64": 8, "FP32": 4, "INT64": 8, "INT32": 4, "UINT8": 1, "INT8": 1, "INT16": 2, "UINT16": 2}[datatype]
	if size == 0 {
		return nil, fmt.Errorf("datatype %q: raw contents of FP64, FP32, INT64, INT32, INT16, UINT16, INT8 or UINT8 only", datatype)
	}
	if len(b)%size != 0 {
		return nil, fmt.Errorf("raw contents of %d bytes are not a whole number of %s elements", len(b), datatype)
	}
	out := make([]float64, len(b)/size)
	for i := range out {
		p := b[i*size:]
		switch datatype {
		case "FP64":
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(p))
		case "FP32":
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(p)))
		case "INT64":
			out[i] = float64(int64(binary.LittleEndian.Uint64(p)))
		case "INT32":
			out[i] = float64(int32(binary.LittleEndian.Uint32(p)))
		case "INT16":
			out[i] = float64(int16(binary.LittleEndian.Uint16(p)))
		case "UINT16":
			out[i] = float64(binary.LittleEndian.Uint16(p))
		case "INT8":
			out[i] = float64(int8(p[0]))
		case "UINT8":
			out[i] = float64(p[0])
		}
	}
	return out, nil
}

// readJSON decodes a bounded request body.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the body is not the expected JSON: %w", err)
	}
	return nil
}

// writeError answers {"error": msg}, the Open Inference Protocol's and
// TensorFlow Serving's error shape.
func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	writeJSON(w, code, b)
}

func writeValue(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func column(probs []float64) [][]float64 {
	out := make([][]float64, len(probs))
	for i, p := range probs {
		out[i] = []float64{p}
	}
	return out
}
