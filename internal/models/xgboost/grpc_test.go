package xgboost

import (
	"context"
	"math"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

func TestGRPCPredict(t *testing.T) {
	m, err := Parse([]byte(handModel), false)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	NewServer(m).RegisterGRPC(gs)
	go func() { _ = gs.Serve(l) }()
	defer gs.Stop()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewModelClient(conn)
	nd, _ := structpb.NewList([]any{[]any{0.0, 0.0}, []any{nil, nil}})
	out, err := c.Predict(context.Background(), &pb.SeldonMessage{
		Meta:      &pb.Meta{Puid: "p"},
		DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{DataOneof: &pb.DefaultData_Ndarray{Ndarray: nd}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	vals := out.GetData().GetNdarray().GetValues()
	for i, want := range []float64{sigmoid(-0.525), sigmoid(0.55)} {
		if math.Abs(vals[i].GetNumberValue()-want) > 1e-6 {
			t.Errorf("row %d: %v, want %v", i, vals[i], want)
		}
	}
	if out.GetMeta().GetPuid() != "p" {
		t.Errorf("puid %q", out.GetMeta().GetPuid())
	}
	out, err = c.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{
		DataOneof: &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: []int32{1, 2}, Values: []float64{1, -2}}}}}})
	if err != nil || math.Abs(out.GetData().GetTensor().GetValues()[0]-sigmoid(0.55)) > 1e-6 {
		t.Errorf("tensor: %v %v", out, err)
	}
	if _, err := c.Predict(context.Background(), &pb.SeldonMessage{}); err == nil {
		t.Error("no data: no error")
	}
}
