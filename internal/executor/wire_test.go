package executor

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// The bytes below are built by hand from the protocol's field numbers (as
// upstream clients send them; docs/compatibility.md#rest-and-grpc-api), not
// by sdep's generated code, so these tests catch a .proto that drifts from
// what upstream clients send.

func field(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func str(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func varint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func packedDoubles(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendFixed64(b, math.Float64bits(v))
	}
	return b
}

func packedVarints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

// handMessage is a SeldonMessage with status, meta (puid, a tag, routing,
// requestPath, a metric) and a tensor.
func handMessage() []byte {
	var status []byte
	status = varint(status, 1, 200)
	status = str(status, 2, "info")
	status = str(status, 3, "reason")
	status = varint(status, 4, 1) // FAILURE

	tagValue := str(nil, 3, "v") // google.protobuf.Value.string_value
	var meta []byte
	meta = str(meta, 1, "puid-1")
	meta = field(meta, 2, field(str(nil, 1, "k"), 2, tagValue))
	meta = field(meta, 3, varint(str(nil, 1, "router"), 2, 1))
	meta = field(meta, 4, str(str(nil, 1, "model"), 2, "img:1"))
	var metric []byte
	metric = str(metric, 1, "hits")
	metric = varint(metric, 2, 1) // GAUGE
	metric = protowire.AppendTag(metric, 3, protowire.Fixed32Type)
	metric = protowire.AppendFixed32(metric, math.Float32bits(2.5))
	meta = field(meta, 5, metric)

	var tensor []byte
	tensor = field(tensor, 1, packedVarints(1, 2))
	tensor = field(tensor, 2, packedDoubles(0.5, 1.5))
	var data []byte
	data = str(data, 1, "a")
	data = str(data, 1, "b")
	data = field(data, 2, tensor)

	var m []byte
	m = field(m, 1, status)
	m = field(m, 2, meta)
	m = field(m, 3, data)
	return m
}

func TestWireDecodesHandEncodedMessage(t *testing.T) {
	var m pb.SeldonMessage
	if err := proto.Unmarshal(handMessage(), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.ProtoReflect().GetUnknown()) != 0 {
		t.Errorf("fields landed in unknown fields: %x", m.ProtoReflect().GetUnknown())
	}
	st := m.GetStatus()
	if st.GetCode() != 200 || st.GetInfo() != "info" || st.GetReason() != "reason" || st.GetStatus() != pb.Status_FAILURE {
		t.Errorf("status = %v", st)
	}
	meta := m.GetMeta()
	if meta.GetPuid() != "puid-1" || meta.GetTags()["k"].GetStringValue() != "v" ||
		meta.GetRouting()["router"] != 1 || meta.GetRequestPath()["model"] != "img:1" {
		t.Errorf("meta = %v", meta)
	}
	if mt := meta.GetMetrics(); len(mt) != 1 || mt[0].GetKey() != "hits" || mt[0].GetType() != pb.Metric_GAUGE || mt[0].GetValue() != 2.5 {
		t.Errorf("meta.metrics = %v", mt)
	}
	d := m.GetData()
	if diff := cmp.Diff([]string{"a", "b"}, d.GetNames()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int32{1, 2}, d.GetTensor().GetShape()); diff != "" {
		t.Errorf("shape (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{0.5, 1.5}, d.GetTensor().GetValues()); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
}

func TestWireOneofAndFeedbackFieldNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  proto.Message
		want []byte
	}{
		{"binData is field 4", &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_BinData{BinData: []byte{1, 2}}},
			field(nil, 4, []byte{1, 2})},
		{"strData is field 5", &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "s"}},
			str(nil, 5, "s")},
		{"jsonData is field 6 (a google.protobuf.Value)", &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_JsonData{
			JsonData: mustValue(t, 1.0)}}, field(nil, 6, protowire.AppendFixed64(protowire.AppendTag(nil, 2, protowire.Fixed64Type), math.Float64bits(1)))},
		{"ndarray is DefaultData field 3", &pb.DefaultData{DataOneof: &pb.DefaultData_Ndarray{Ndarray: mustList(t)}},
			field(nil, 3, nil)},
		{"tftensor is DefaultData field 4, carried as its bytes", &pb.DefaultData{DataOneof: &pb.DefaultData_Tftensor{
			Tftensor: varint(nil, 1, 1)}}, field(nil, 4, varint(nil, 1, 1))},
		{"feedback fields", &pb.Feedback{Request: &pb.SeldonMessage{}, Response: &pb.SeldonMessage{}, Reward: 1, Truth: &pb.SeldonMessage{}},
			field(protowire.AppendFixed32(protowire.AppendTag(field(field(nil, 1, nil), 2, nil), 3, protowire.Fixed32Type), math.Float32bits(1)), 4, nil)},
		{"message list", &pb.SeldonMessageList{SeldonMessages: []*pb.SeldonMessage{{}, {}}}, field(field(nil, 1, nil), 1, nil)},
		{"metadata request", &pb.SeldonModelMetadataRequest{Name: "m"}, str(nil, 1, "m")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("encoded %x, want %x", got, tc.want)
			}
		})
	}
}

// rawCodec lets a test talk gRPC with bytes it built itself.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// TestWireExecutorAnswersHandEncodedRequest calls the executor's
// seldon.protos.Seldon/Predict with hand-built bytes and reads the answer by
// field number.
func TestWireExecutorAnswersHandEncodedRequest(t *testing.T) {
	s := serve(t, v1.PredictiveUnit{Name: "sm", Implementation: v1.SimpleModel})
	req := handMessage()
	var resp []byte
	if err := s.grpcConn.Invoke(context.Background(), "/seldon.protos.Seldon/Predict", &req, &resp,
		grpc.ForceCodecV2(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	fields := parseFields(t, resp)
	meta := parseFields(t, fields[2][0])
	if got := string(meta[1][0]); got != "puid-1" {
		t.Errorf("meta.puid (2.1) = %q, want the request's", got)
	}
	routing := parseFields(t, meta[3][0]) // one map entry: key 1, value 2
	if string(routing[1][0]) != "sm" || len(routing[2]) != 1 {
		t.Errorf("meta.routing entry = %v", routing)
	}
	data := parseFields(t, fields[3][0])
	tensor := parseFields(t, data[2][0])
	values := tensor[2][0]
	var got []float64
	for len(values) > 0 {
		v, n := protowire.ConsumeFixed64(values)
		got = append(got, math.Float64frombits(v))
		values = values[n:]
	}
	if diff := cmp.Diff([]float64{0.1, 0.9, 0.5}, got); diff != "" {
		t.Errorf("data.tensor.values (3.2.2) (-want +got):\n%s", diff)
	}
	if names := data[1]; len(names) != 3 || string(names[0]) != "class0" {
		t.Errorf("data.names (3.1) = %q", names)
	}
}

// parseFields splits a message into its length-delimited and varint fields
// by number (varints are rendered as decimal text).
func parseFields(t *testing.T, b []byte) map[protowire.Number][][]byte {
	t.Helper()
	out := map[protowire.Number][][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				t.Fatalf("bad bytes: %v", protowire.ParseError(n))
			}
			out[num] = append(out[num], v)
			b = b[n:]
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			out[num] = append(out[num], []byte(fmt.Sprint(v)))
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				t.Fatalf("bad field: %v", protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return out
}

func mustValue(t *testing.T, v any) *structpb.Value {
	t.Helper()
	x, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustList(t *testing.T) *structpb.ListValue {
	t.Helper()
	l, err := structpb.NewList(nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
