package load

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sdep-dev/sdep/internal/models/mockclassifier"
)

// TestV2LoadAgainstTheV2Mock: --protocol v2 sends the OIP default request,
// REST and gRPC, and the v2 mock classifier answers every one.
func TestV2LoadAgainstTheV2Mock(t *testing.T) {
	m := mockclassifier.New(mockclassifier.Config{Protocol: mockclassifier.ProtocolV2})
	hs := httptest.NewServer(m.Handler())
	t.Cleanup(hs.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	m.RegisterGRPC(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	for _, o := range []Options{
		{Target: hs.URL + "/v2/models/classifier/infer", Protocol: "v2"},
		{Target: lis.Addr().String(), GRPC: true, Protocol: "kfserving"},
	} {
		o.Duration, o.Concurrency = 300*time.Millisecond, 2
		r, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if r.Requests == 0 || r.Succeeded != r.Requests {
			t.Errorf("%s (grpc %v): %d of %d succeeded: %s", o.Target, o.GRPC, r.Succeeded, r.Requests, r.FirstError)
		}
	}
	// The seldon default request is not an OIP request: the mock refuses it.
	r, err := Run(context.Background(), Options{Target: hs.URL + "/v2/models/classifier/infer", Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors["400"] != r.Requests {
		t.Errorf("seldon payload to the v2 mock: errors %v of %d, want all 400", r.Errors, r.Requests)
	}
	if _, err := Run(context.Background(), Options{Target: hs.URL, Duration: time.Second, Protocol: "soap"}); err == nil {
		t.Error("protocol soap accepted")
	}
}
