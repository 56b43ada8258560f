package mockclassifier

import (
	"context"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// The classifier answers with the request's meta.tags, as upstream's
// Python wrapper does.
func TestPredictKeepsRequestTags(t *testing.T) {
	srv := httptest.NewServer(New(Config{ID: "c", Image: "img:1"}).Handler())
	defer srv.Close()
	code, m := post(t, srv.URL+"/predict", "application/json",
		`{"meta":{"puid":"p1","tags":{"team":"a","n":2}},"data":{"ndarray":[[1,2,5]]}}`)
	if code != 200 {
		t.Fatalf("HTTP %d: %v", code, m)
	}
	meta, _ := m["meta"].(map[string]any)
	tags, _ := meta["tags"].(map[string]any)
	if tags["team"] != "a" || tags["n"] != 2.0 || meta["puid"] != "p1" || meta["requestPath"] == nil {
		t.Errorf("meta = %v, want the request's tags, puid and the request path", meta)
	}
	code, m = post(t, srv.URL+"/predict", "application/json", `{"data":{"ndarray":[[1,2,5]]}}`)
	if meta, _ := m["meta"].(map[string]any); code != 200 || meta["tags"] != nil {
		t.Errorf("without tags: HTTP %d, meta %v", code, m["meta"])
	}

	tag, _ := structpb.NewValue("a")
	out, err := (&grpcModel{s: New(Config{})}).Predict(context.Background(), &pb.SeldonMessage{
		Meta:      &pb.Meta{Tags: map[string]*structpb.Value{"team": tag}},
		DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{DataOneof: &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: []int32{1, 1}, Values: []float64{1}}}}},
	})
	if err != nil || out.GetMeta().GetTags()["team"].GetStringValue() != "a" {
		t.Errorf("gRPC: %v, meta %v", err, out.GetMeta())
	}
}
