package executor

import (
	"encoding/json"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// The built-in implementations behave as the 0.x Java engine's did (docs/compatibility.md#built-in-implementations).

// SIMPLE_MODEL's fixed answer.
var (
	simpleModelNames  = []string{"class0", "class1", "class2"}
	simpleModelShape  = []int32{1, 3}
	simpleModelValues = []float64{0.1, 0.9, 0.5}
)

const (
	simpleModelData    = `{"names":["class0","class1","class2"],"tensor":{"shape":[1,3],"values":[0.1,0.9,0.5]}}`
	simpleModelMetrics = `[{"key":"mymetric_counter","type":"COUNTER","value":1},` +
		`{"key":"mymetric_gauge","type":"GAUGE","value":100},` +
		`{"key":"mymetric_timer","type":"TIMER","value":22.1}]`
	successStatus = `{"code":0,"info":"","reason":"","status":"SUCCESS"}`
)

func (c restCodec) simpleModel(st *walkState, in *Message) *Message {
	out := &Message{
		Status: json.RawMessage(successStatus),
		Meta:   Meta{Puid: st.puid, Metrics: json.RawMessage(simpleModelMetrics)},
	}
	switch {
	case in.BinData != nil:
		out.BinData = in.BinData
	case in.StrData != nil:
		out.StrData = in.StrData
	default:
		out.Data = json.RawMessage(simpleModelData)
	}
	return out
}

func (c grpcCodec) simpleModel(st *walkState, in *pb.SeldonMessage) *pb.SeldonMessage {
	out := &pb.SeldonMessage{
		Status: &pb.Status{Status: pb.Status_SUCCESS},
		Meta: &pb.Meta{Puid: st.puid, Metrics: []*pb.Metric{
			{Key: "mymetric_counter", Type: pb.Metric_COUNTER, Value: 1},
			{Key: "mymetric_gauge", Type: pb.Metric_GAUGE, Value: 100},
			{Key: "mymetric_timer", Type: pb.Metric_TIMER, Value: 22.1},
		}},
	}
	switch d := in.GetDataOneof().(type) {
	case *pb.SeldonMessage_BinData:
		out.DataOneof = &pb.SeldonMessage_BinData{BinData: d.BinData}
	case *pb.SeldonMessage_StrData:
		out.DataOneof = &pb.SeldonMessage_StrData{StrData: d.StrData}
	default:
		out.DataOneof = &pb.SeldonMessage_Data{Data: &pb.DefaultData{
			Names: append([]string(nil), simpleModelNames...),
			DataOneof: &pb.DefaultData_Tensor{Tensor: &pb.Tensor{
				Shape:  append([]int32(nil), simpleModelShape...),
				Values: append([]float64(nil), simpleModelValues...),
			}},
		}}
	}
	return out
}

// matrix is a 2-D batch of numbers, row-major.
type matrix struct {
	rows, cols int
	values     []float64
}

// averageMatrices is AVERAGE_COMBINER's arithmetic: the element-wise mean of
// same-shaped 2-D inputs.
func averageMatrices(n *node, ms []matrix) (matrix, error) {
	if len(ms) == 0 {
		return matrix{}, graphError(n, "combiner received no inputs")
	}
	sum := matrix{rows: ms[0].rows, cols: ms[0].cols, values: make([]float64, len(ms[0].values))}
	for i, m := range ms {
		if m.rows != sum.rows {
			return matrix{}, graphError(n, "AVERAGE_COMBINER: expected batch length %d but input %d has %d", sum.rows, i, m.rows)
		}
		if m.cols != sum.cols {
			return matrix{}, graphError(n, "AVERAGE_COMBINER: expected %d values per row but input %d has %d", sum.cols, i, m.cols)
		}
		for j, v := range m.values {
			sum.values[j] += v
		}
	}
	for j := range sum.values {
		sum.values[j] /= float64(len(ms))
	}
	return sum, nil
}

type restData struct {
	Names   []string        `json:"names,omitempty"`
	Ndarray json.RawMessage `json:"ndarray,omitempty"`
	Tensor  *restTensor     `json:"tensor,omitempty"`
}

type restTensor struct {
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

func (c restCodec) average(n *node, ins []*Message) (*Message, error) {
	ms := make([]matrix, len(ins))
	var firstData restData
	for i, in := range ins {
		if in.Data == nil {
			return nil, graphError(n, "AVERAGE_COMBINER: input %d has no data (need data.ndarray or data.tensor)", i)
		}
		var d restData
		if err := json.Unmarshal(in.Data, &d); err != nil {
			return nil, graphError(n, "AVERAGE_COMBINER: input %d: %v", i, err)
		}
		m, err := restMatrix(d)
		if err != nil {
			return nil, graphError(n, "AVERAGE_COMBINER: input %d: %v", i, err)
		}
		if i == 0 {
			firstData = d
		}
		ms[i] = m
	}
	avg, err := averageMatrices(n, ms)
	if err != nil {
		return nil, err
	}
	// The answer keeps the first input's status, meta, names and encoding.
	out := *ins[0]
	d := restData{Names: firstData.Names}
	if firstData.Tensor != nil {
		d.Tensor = &restTensor{Shape: []int{avg.rows, avg.cols}, Values: avg.values}
	} else {
		rows := make([][]float64, avg.rows)
		for r := range rows {
			rows[r] = avg.values[r*avg.cols : (r+1)*avg.cols]
		}
		d.Ndarray, _ = json.Marshal(rows)
	}
	out.Data, _ = json.Marshal(d)
	return &out, nil
}

func restMatrix(d restData) (matrix, error) {
	if d.Tensor != nil {
		return tensorMatrix(d.Tensor.Shape, d.Tensor.Values)
	}
	if d.Ndarray == nil {
		return matrix{}, errors.New("need data.ndarray or data.tensor")
	}
	var rows [][]float64
	if err := json.Unmarshal(d.Ndarray, &rows); err != nil {
		return matrix{}, errors.New("data.ndarray is not 2 dimensional numeric")
	}
	return rowsMatrix(len(rows), func(i int) []float64 { return rows[i] })
}

func tensorMatrix(shape []int, values []float64) (matrix, error) {
	if len(shape) != 2 {
		return matrix{}, fmt.Errorf("data.tensor has shape %v, not 2 dimensional", shape)
	}
	if shape[0] < 0 || shape[1] < 0 || shape[0]*shape[1] != len(values) {
		return matrix{}, fmt.Errorf("data.tensor has shape %v but %d values", shape, len(values))
	}
	return matrix{rows: shape[0], cols: shape[1], values: values}, nil
}

func rowsMatrix(n int, row func(int) []float64) (matrix, error) {
	m := matrix{rows: n}
	for i := range n {
		r := row(i)
		if i == 0 {
			m.cols = len(r)
		} else if len(r) != m.cols {
			return matrix{}, fmt.Errorf("data.ndarray row %d has %d values, row 0 has %d", i, len(r), m.cols)
		}
		m.values = append(m.values, r...)
	}
	return m, nil
}

func (c grpcCodec) average(n *node, ins []*pb.SeldonMessage) (*pb.SeldonMessage, error) {
	ms := make([]matrix, len(ins))
	for i, in := range ins {
		m, err := pbMatrix(in.GetData())
		if err != nil {
			return nil, graphError(n, "AVERAGE_COMBINER: input %d: %v", i, err)
		}
		ms[i] = m
	}
	avg, err := averageMatrices(n, ms)
	if err != nil {
		return nil, err
	}
	first := ins[0]
	d := &pb.DefaultData{Names: first.GetData().GetNames()}
	if first.GetData().GetTensor() != nil {
		d.DataOneof = &pb.DefaultData_Tensor{Tensor: &pb.Tensor{
			Shape: []int32{int32(avg.rows), int32(avg.cols)}, Values: avg.values}}
	} else {
		rows := make([]*structpb.Value, avg.rows)
		for r := range rows {
			vals := make([]*structpb.Value, avg.cols)
			for j := range vals {
				vals[j] = structpb.NewNumberValue(avg.values[r*avg.cols+j])
			}
			rows[r] = structpb.NewListValue(&structpb.ListValue{Values: vals})
		}
		d.DataOneof = &pb.DefaultData_Ndarray{Ndarray: &structpb.ListValue{Values: rows}}
	}
	return &pb.SeldonMessage{Status: first.GetStatus(), Meta: first.GetMeta(),
		DataOneof: &pb.SeldonMessage_Data{Data: d}}, nil
}

func pbMatrix(d *pb.DefaultData) (matrix, error) {
	switch {
	case d == nil:
		return matrix{}, errors.New("no data (need data.ndarray or data.tensor)")
	case d.GetTensor() != nil:
		t := d.GetTensor()
		shape := make([]int, len(t.GetShape()))
		for i, s := range t.GetShape() {
			shape[i] = int(s)
		}
		return tensorMatrix(shape, t.GetValues())
	case d.GetNdarray() != nil:
		rows := d.GetNdarray().GetValues()
		var bad error
		m, err := rowsMatrix(len(rows), func(i int) []float64 {
			l := rows[i].GetListValue()
			if l == nil {
				bad = errors.New("data.ndarray is not 2 dimensional")
				return nil
			}
			out := make([]float64, len(l.GetValues()))
			for j, v := range l.GetValues() {
				x, ok := v.GetKind().(*structpb.Value_NumberValue)
				if !ok {
					bad = errors.New("data.ndarray holds a value that is not a number")
				} else {
					out[j] = x.NumberValue
				}
			}
			return out
		})
		if bad != nil {
			return matrix{}, bad
		}
		return m, err
	}
	return matrix{}, errors.New("need data.ndarray or data.tensor")
}
