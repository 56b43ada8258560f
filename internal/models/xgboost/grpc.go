package xgboost

import (
	"context"
	"fmt"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// RegisterGRPC registers the Seldon Model service (Predict, SendFeedback)
// on reg.
func (s *Server) RegisterGRPC(reg grpc.ServiceRegistrar) {
	pb.RegisterModelServer(reg, &grpcModel{s: s})
}

type grpcModel struct {
	pb.UnimplementedModelServer
	s *Server
}

func (g *grpcModel) Predict(_ context.Context, in *pb.SeldonMessage) (*pb.SeldonMessage, error) {
	d := in.GetData()
	var rows [][]float32
	tensor := false
	switch {
	case d.GetTensor() != nil:
		t := d.GetTensor()
		tensor = true
		sh := t.GetShape()
		if len(sh) != 2 || sh[0] < 0 || sh[1] <= 0 || int(sh[0])*int(sh[1]) != len(t.GetValues()) {
			return nil, status.Error(codes.InvalidArgument, "data.tensor: want a 2-dimensional shape [rows, features] matching len(values)")
		}
		rows = make([][]float32, sh[0])
		for i := range rows {
			rows[i] = make([]float32, sh[1])
			for j := range rows[i] {
				rows[i][j] = float32(t.GetValues()[i*int(sh[1])+j])
			}
		}
	case d.GetNdarray() != nil:
		for i, rv := range d.GetNdarray().GetValues() {
			l := rv.GetListValue()
			if l == nil {
				return nil, status.Errorf(codes.InvalidArgument, "data.ndarray[%d]: want a row of numbers", i)
			}
			row := make([]float32, len(l.GetValues()))
			for j, v := range l.GetValues() {
				switch k := v.GetKind().(type) {
				case *structpb.Value_NumberValue:
					row[j] = float32(k.NumberValue)
				case *structpb.Value_NullValue:
					row[j] = float32(math.NaN())
				default:
					return nil, status.Errorf(codes.InvalidArgument, "data.ndarray[%d][%d] is not a number (use null for a missing value)", i, j)
				}
			}
			rows = append(rows, row)
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "no data: send data.ndarray or data.tensor")
	}
	if err := g.s.checkWidth(rows); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	preds := g.s.m.Predict(rows)
	cols := g.s.m.Columns()
	out := &pb.DefaultData{Names: []string{}}
	if cols > 1 {
		for i := range cols {
			out.Names = append(out.Names, fmt.Sprintf("t:%d", i))
		}
	}
	if tensor {
		vals := make([]float64, 0, len(preds)*cols)
		for _, p := range preds {
			vals = append(vals, p...)
		}
		shape := []int32{int32(len(preds))}
		if cols > 1 {
			shape = append(shape, int32(cols))
		}
		out.DataOneof = &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: shape, Values: vals}}
	} else {
		vals := make([]*structpb.Value, len(preds))
		for i, p := range preds {
			if cols > 1 {
				row := make([]*structpb.Value, len(p))
				for k, v := range p {
					row[k] = structpb.NewNumberValue(v)
				}
				vals[i] = structpb.NewListValue(&structpb.ListValue{Values: row})
			} else {
				vals[i] = structpb.NewNumberValue(p[0])
			}
		}
		out.DataOneof = &pb.DefaultData_Ndarray{Ndarray: &structpb.ListValue{Values: vals}}
	}
	return &pb.SeldonMessage{Meta: &pb.Meta{Puid: in.GetMeta().GetPuid()}, DataOneof: &pb.SeldonMessage_Data{Data: out}}, nil
}

func (g *grpcModel) SendFeedback(_ context.Context, fb *pb.Feedback) (*pb.SeldonMessage, error) {
	return &pb.SeldonMessage{Meta: &pb.Meta{Puid: fb.GetRequest().GetMeta().GetPuid()}}, nil
}
