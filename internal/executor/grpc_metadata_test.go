package executor

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

// Inbound gRPC metadata reaches gRPC components under the same allow-list
// as REST headers: tracing keys, the v2 routing keys and the puid, never
// authorization or cookie unless the annotation names them.
func TestOnlyAllowListedGRPCMetadataReachesComponents(t *testing.T) {
	md := metadata.Pairs("authorization", "Bearer secret", "cookie", "session=1", "x-internal", "1",
		"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate", "a=b",
		"b3", "1-2-1", "x-b3-traceid", "abc", "x-b3-spanid", "def", "x-b3-sampled", "1",
		"seldon-model", "m", "namespace", "ns", "seldon-puid", "p-42")
	predict := func(s *served) {
		t.Helper()
		ctx := metadata.NewOutgoingContext(context.Background(), md)
		// A transformer then a model: both calls carry the metadata.
		if _, err := s.client.Predict(ctx, &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(f *fake, want, never []string) {
		t.Helper()
		f.mu.Lock()
		got := f.lastMD
		f.mu.Unlock()
		for _, k := range want {
			if g, w := got.Get(k), md.Get(k); len(g) != 1 || len(w) != 1 || g[0] != w[0] {
				t.Errorf("%s: component %q got %q, want %q", k, f.name, g, w)
			}
		}
		for _, k := range never {
			if v := got.Get(k); len(v) > 0 {
				t.Errorf("%s reached component %q: %q", k, f.name, v)
			}
		}
	}
	allowed := []string{"traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "seldon-model", "namespace", "seldon-puid"}

	m := startFake(t, &fake{name: "m"})
	tr := startFake(t, &fake{name: "t"})
	graph := unit("t", v1.Transformer, tr, unit("m", v1.Model, m))
	predict(serve(t, graph))
	check(tr, allowed, []string{"authorization", "cookie", "x-internal"})
	check(m, allowed, []string{"authorization", "cookie", "x-internal"})

	m2 := startFake(t, &fake{name: "m"})
	predict(serve(t, unit("m", v1.Model, m2), WithAnnotations(map[string]string{AnnotationForwardHeaders: "Authorization, X-Internal"})))
	check(m2, append(allowed, "authorization", "x-internal"), []string{"cookie"})
}

// Without inbound metadata, components still get the puid (a new one).
func TestGRPCComponentsGetThePuidWithoutInboundMetadata(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	out, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	got := m.lastMD.Get("seldon-puid")
	m.mu.Unlock()
	if len(got) != 1 || got[0] == "" || got[0] != out.GetMeta().GetPuid() {
		t.Errorf("component got seldon-puid %q, the answer's puid is %q", got, out.GetMeta().GetPuid())
	}
}
