package mockclassifier

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

func post(t *testing.T, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, m
}

func TestRESTPredictions(t *testing.T) {
	srv := httptest.NewServer(New(Config{}).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, path, body string
		want             map[string]any
	}{
		{"three features", "/predict", `{"data":{"ndarray":[[1,2,5]]}}`,
			map[string]any{"names": []any{"proba"}, "ndarray": []any{[]any{0.43782349911420193}}}},
		{"four features", "/api/v1.0/predictions", `{"data":{"names":["a","b","c","d"],"ndarray":[[1,2,5,6]]}}`,
			map[string]any{"names": []any{"proba"}, "ndarray": []any{[]any{0.6418340450887311}}}},
		{"two rows", "/api/v0.1/predictions", `{"data":{"ndarray":[[1,2,5],[1,2,5,6]]}}`,
			map[string]any{"names": []any{"proba"}, "ndarray": []any{[]any{0.43782349911420193}, []any{0.6418340450887311}}}},
		{"tensor in, tensor out", "/predict", `{"data":{"tensor":{"shape":[1,1],"values":[0.43531007521220577]}}}`,
			map[string]any{"names": []any{"proba"}, "tensor": map[string]any{"shape": []any{1.0, 1.0}, "values": []any{0.07717553097868499}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, srv.URL+tc.path, "application/json", tc.body)
			if code != 200 {
				t.Fatalf("status %d: %v", code, out)
			}
			if diff := cmp.Diff(tc.want, out["data"]); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRESTFormParameterAndPuidEcho(t *testing.T) {
	srv := httptest.NewServer(New(Config{ID: "classifier", Image: "seldonio/mock_classifier:1.0"}).Handler())
	defer srv.Close()
	form := url.Values{"json": {`{"meta":{"puid":"abc"},"data":{"ndarray":[[1,2,5]]}}`}}.Encode()
	code, out := post(t, srv.URL+"/predict", "application/x-www-form-urlencoded", form)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	wantMeta := map[string]any{"puid": "abc", "requestPath": map[string]any{"classifier": "seldonio/mock_classifier:1.0"}}
	if diff := cmp.Diff(wantMeta, out["meta"]); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
}

func TestIntValueShiftsThreshold(t *testing.T) {
	var cfg Config
	if err := ParseParameters(`[{"name":"intValue","value":"-1","type":"INT"},{"name":"delaySecs","value":"0","type":"INT"}]`, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.IntValue != -1 {
		t.Fatalf("intValue = %d, want -1", cfg.IntValue)
	}
	// mean 8/3 against threshold 35/12 - 1: sigmoid(0.75).
	got := Predict([][]float64{{1, 2, 5}}, cfg.IntValue)[0]
	if want := 0.679178699175393; got != want {
		t.Errorf("Predict = %v, want %v", got, want)
	}
	if err := ParseParameters(`[{"name":"intValue","value":"x","type":"INT"}]`, &cfg); err == nil {
		t.Error("a non-integer intValue was accepted")
	}
}

func TestRESTErrorsAndHealth(t *testing.T) {
	srv := httptest.NewServer(New(Config{}).Handler())
	defer srv.Close()
	for _, body := range []string{`{"data":{"ndarray":[1,2]}}`, `{"data":`, `{"meta":{}}`, `{"data":{"tensor":{"shape":[3],"values":[1,2,3]}}}`} {
		code, out := post(t, srv.URL+"/predict", "application/json", body)
		if code != 400 || dig(out, "status", "reason") != "MICROSERVICE_BAD_DATA" || dig(out, "status", "status") != 1.0 {
			t.Errorf("%s: got %d %v, want 400 MICROSERVICE_BAD_DATA", body, code, out)
		}
	}
	resp, err := http.Get(srv.URL + "/health/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "pong" {
		t.Errorf("/health/ping = %q", b)
	}
	code, out := post(t, srv.URL+"/send-feedback", "application/json", `{"request":{"meta":{"puid":"q"}},"reward":1}`)
	if code != 200 || dig(out, "meta", "puid") != "q" {
		t.Errorf("feedback: %d %v", code, out)
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestGRPCPredict(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	New(Config{}).RegisterGRPC(gs)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	c := pb.NewModelClient(conn)

	nd, _ := structpb.NewList([]any{[]any{1, 2, 5, 6}})
	out, err := c.Predict(context.Background(), &pb.SeldonMessage{Meta: &pb.Meta{Puid: "g"},
		DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{DataOneof: &pb.DefaultData_Ndarray{Ndarray: nd}}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{[]any{0.6418340450887311}}, out.GetData().GetNdarray().AsSlice()); diff != "" {
		t.Errorf("ndarray (-want +got):\n%s", diff)
	}
	if out.GetMeta().GetPuid() != "g" || cmp.Diff([]string{"proba"}, out.GetData().GetNames()) != "" {
		t.Errorf("meta/names = %v %v", out.GetMeta(), out.GetData().GetNames())
	}
	out, err = c.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{
		DataOneof: &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: []int32{1, 3}, Values: []float64{1, 2, 5}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.GetData().GetTensor(); cmp.Diff([]int32{1, 1}, got.GetShape()) != "" || cmp.Diff([]float64{0.43782349911420193}, got.GetValues()) != "" {
		t.Errorf("tensor = %v", got)
	}
	_, err = c.Predict(context.Background(), &pb.SeldonMessage{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("no data: %v, want InvalidArgument", err)
	}
	md, err := c.Metadata(context.Background(), &emptypb.Empty{})
	if err != nil || md.GetName() != "mean_classifier" {
		t.Errorf("Metadata = %v, %v", md, err)
	}
}

func TestPortsFromEnv(t *testing.T) {
	env := map[string]string{"PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "9001", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "9501"}
	p, err := PortsFromEnv(func(k string) string { return env[k] })
	if err != nil || p != (Ports{HTTP: 9001, GRPC: 9501}) {
		t.Errorf("PortsFromEnv = %v, %v", p, err)
	}
	env["PREDICTIVE_UNIT_GRPC_SERVICE_PORT"] = "x"
	if _, err := PortsFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Error("a bad port was accepted")
	}
}

// FuzzPredictHandler: the REST handler answers every body with 200 or 400
// and JSON.
func FuzzPredictHandler(f *testing.F) {
	f.Add([]byte(`{"data":{"ndarray":[[1,2,5]]}}`))
	f.Add([]byte(`{"data":{"tensor":{"shape":[1,2],"values":[1]}}}`))
	h := New(Config{}).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/predict", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %s", rec.Body)
		}
	})
}
