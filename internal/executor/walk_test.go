package executor

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	v1 "github.com/sdep-dev/sdep/api/v1"
	pb "github.com/sdep-dev/sdep/internal/proto/seldonpb"
)

func grpcInsecure() grpc.DialOption {
	return grpc.WithTransportCredentials(insecure.NewCredentials())
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// graphCase is one graph, what it answers to strData "x", and the routing
// the walk reports.
type graphCase struct {
	name    string
	graph   func(f func(name string, route int) *fake) v1.PredictiveUnit
	want    string
	routing map[string]float64
	// calls that must not happen (node name -> REST path).
	notCalled map[string]string
}

func graphCases() []graphCase {
	twoModels := func(f func(string, int) *fake) []v1.PredictiveUnit {
		return []v1.PredictiveUnit{unit("a", v1.Model, f("a", 0)), unit("b", v1.Model, f("b", 0))}
	}
	router := func(route int) func(f func(string, int) *fake) v1.PredictiveUnit {
		return func(f func(string, int) *fake) v1.PredictiveUnit {
			return unit("r", v1.Router, f("r", route), twoModels(f)...)
		}
	}
	return []graphCase{
		{
			name:    "single model",
			graph:   func(f func(string, int) *fake) v1.PredictiveUnit { return unit("m", v1.Model, f("m", 0)) },
			want:    "m(x)",
			routing: map[string]float64{"m": -1},
		},
		{
			name: "transformer then model",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				return unit("t", v1.Transformer, f("t", 0), unit("m", v1.Model, f("m", 0)))
			},
			want:    "m(t.in(x))",
			routing: map[string]float64{"t": -1, "m": -1},
		},
		{
			name: "model with a child is a chain",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				return unit("m1", v1.Model, f("m1", 0), unit("m2", v1.Model, f("m2", 0)))
			},
			want:    "m2(m1(x))",
			routing: map[string]float64{"m1": -1, "m2": -1},
		},
		{
			name: "output transformer",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				return unit("o", v1.OutputTransformer, f("o", 0), unit("m", v1.Model, f("m", 0)))
			},
			want:    "o.out(m(x))",
			routing: map[string]float64{"o": -1, "m": -1},
		},
		{
			name:      "router picks child 1",
			graph:     router(1),
			want:      "b(x)",
			routing:   map[string]float64{"r": 1, "b": -1},
			notCalled: map[string]string{"a": "/predict"},
		},
		{
			name:      "router picks child 0",
			graph:     router(0),
			want:      "a(x)",
			routing:   map[string]float64{"r": 0, "a": -1},
			notCalled: map[string]string{"b": "/predict"},
		},
		{
			name:    "router sends to all children, first answer wins",
			graph:   router(-1),
			want:    "a(x)",
			routing: map[string]float64{"r": -1, "a": -1, "b": -1},
		},
		{
			name:      "router stops the walk",
			graph:     router(-2),
			want:      "x",
			routing:   map[string]float64{"r": -2},
			notCalled: map[string]string{"a": "/predict", "b": "/predict"},
		},
		{
			name: "combiner",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				return unit("c", v1.Combiner, f("c", 0), twoModels(f)...)
			},
			want:    "c[a(x),b(x)]",
			routing: map[string]float64{"c": -1, "a": -1, "b": -1},
		},
		{
			name: "methods override the type",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				u := unit("n", v1.UnknownType, f("n", 0), unit("m", v1.Model, f("m", 0)))
				u.Methods = []v1.PredictiveUnitMethod{v1.TransformInput, v1.TransformOutput}
				return u
			},
			want:    "n.out(m(n.in(x)))",
			routing: map[string]float64{"n": -1, "m": -1},
		},
		{
			name: "router with aggregate method combines its single branch",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				u := unit("r", v1.Router, f("r", 1), twoModels(f)...)
				u.Methods = []v1.PredictiveUnitMethod{v1.Route, v1.Aggregate}
				return u
			},
			want:    "r[b(x)]",
			routing: map[string]float64{"r": 1, "b": -1},
		},
		{
			name: "SIMPLE_ROUTER always takes child 0",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				u := unit("sr", v1.Router, nil, twoModels(f)...)
				u.Implementation = v1.SimpleRouter
				return u
			},
			want:      "a(x)",
			routing:   map[string]float64{"sr": 0, "a": -1},
			notCalled: map[string]string{"b": "/predict"},
		},
		{
			name: "RANDOM_ABTEST ratioA 1 takes child 0",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				u := unit("ab", v1.Router, nil, twoModels(f)...)
				u.Implementation = v1.RandomABTest
				u.Parameters = []v1.Parameter{{Name: "ratioA", Value: "1", Type: v1.ParameterFloat}}
				return u
			},
			want:      "a(x)",
			routing:   map[string]float64{"ab": 0, "a": -1},
			notCalled: map[string]string{"b": "/predict"},
		},
		{
			name: "RANDOM_ABTEST ratioA 0 takes child 1",
			graph: func(f func(string, int) *fake) v1.PredictiveUnit {
				u := unit("ab", v1.Router, nil, twoModels(f)...)
				u.Implementation = v1.RandomABTest
				u.Parameters = []v1.Parameter{{Name: "ratioA", Value: "0", Type: v1.ParameterFloat}}
				return u
			},
			want:      "b(x)",
			routing:   map[string]float64{"ab": 1, "b": -1},
			notCalled: map[string]string{"a": "/predict"},
		},
	}
}

// grpcPaths maps the REST paths used in notCalled to the fake's gRPC
// method counters.
var grpcPaths = map[string]string{"/predict": "Predict"}

func TestGraphWalkREST(t *testing.T) {
	for _, tc := range graphCases() {
		t.Run(tc.name, func(t *testing.T) {
			fakes := map[string]*fake{}
			mk := func(name string, route int) *fake {
				f := startFake(t, &fake{name: name, route: route})
				fakes[name] = f
				return f
			}
			s := serve(t, tc.graph(mk))
			code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
			if code != 200 {
				t.Fatalf("status %d: %v", code, out)
			}
			if got := out["strData"]; got != tc.want {
				t.Errorf("strData = %v, want %q", got, tc.want)
			}
			if diff := cmp.Diff(tc.routing, floatMap(dig(out, "meta", "routing"))); diff != "" {
				t.Errorf("meta.routing (-want +got):\n%s", diff)
			}
			for node, path := range tc.notCalled {
				if n := fakes[node].count(path); n != 0 {
					t.Errorf("%s got %d calls to %s, want none", node, n, path)
				}
			}
		})
	}
}

func TestGraphWalkGRPC(t *testing.T) {
	for _, tc := range graphCases() {
		t.Run(tc.name, func(t *testing.T) {
			fakes := map[string]*fake{}
			mk := func(name string, route int) *fake {
				f := startFake(t, &fake{name: name, route: route})
				fakes[name] = f
				return f
			}
			s := serve(t, tc.graph(mk))
			out, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := out.GetStrData(); got != tc.want {
				t.Errorf("strData = %q, want %q", got, tc.want)
			}
			routing := map[string]float64{}
			for k, v := range out.GetMeta().GetRouting() {
				routing[k] = float64(v)
			}
			if diff := cmp.Diff(tc.routing, routing); diff != "" {
				t.Errorf("meta.routing (-want +got):\n%s", diff)
			}
			for node, path := range tc.notCalled {
				if n := fakes[node].count(grpcPaths[path]); n != 0 {
					t.Errorf("%s got %d gRPC calls to %s, want none", node, n, grpcPaths[path])
				}
			}
			// The walk went over gRPC only.
			for name, f := range fakes {
				for _, p := range []string{"/predict", "/route", "/aggregate", "/transform-input", "/transform-output"} {
					if n := f.count(p); n != 0 {
						t.Errorf("%s got %d REST calls to %s during a gRPC request", name, n, p)
					}
				}
			}
		})
	}
}

func TestRouterToAllChildrenCallsEveryChild(t *testing.T) {
	a := startFake(t, &fake{name: "a"})
	b := startFake(t, &fake{name: "b"})
	r := startFake(t, &fake{name: "r", route: -1})
	s := serve(t, unit("r", v1.Router, r, unit("a", v1.Model, a), unit("b", v1.Model, b)))
	for range 3 {
		if code, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`); code != 200 {
			t.Fatalf("status %d: %v", code, out)
		}
	}
	if a.count("/predict") != 3 || b.count("/predict") != 3 {
		t.Errorf("children called %d and %d times, want 3 each", a.count("/predict"), b.count("/predict"))
	}
}

func TestPuidIsGeneratedAndEchoed(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	_, out, hdr := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	puid, _ := dig(out, "meta", "puid").(string)
	if !uuidPattern.MatchString(puid) {
		t.Fatalf("meta.puid = %q, want a random UUID", puid)
	}
	if got := hdr.Get(PuidHeader); got != puid {
		t.Errorf("%s header = %q, want meta.puid %q", PuidHeader, got, puid)
	}
	// The component saw the same puid in the body and the header.
	var sent Message
	if err := json.Unmarshal(m.lastBody, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Meta.Puid != puid || m.lastHdr.Get(PuidHeader) != puid {
		t.Errorf("component got puid %q (header %q), want %q", sent.Meta.Puid, m.lastHdr.Get(PuidHeader), puid)
	}
	_, out2, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	if dig(out2, "meta", "puid") == puid {
		t.Error("two requests got the same puid")
	}
}

func TestPuidFromRequestIsKept(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	for _, tc := range []struct {
		name, body string
		hdr        []string
		want       string
	}{
		{"from the header", `{"strData":"x"}`, []string{PuidHeader, "hdr-1"}, "hdr-1"},
		{"from meta", `{"strData":"x","meta":{"puid":"meta-1"}}`, nil, "meta-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, hdr := s.post(t, "/api/v0.1/predictions", tc.body, tc.hdr...)
			if got := dig(out, "meta", "puid"); got != tc.want {
				t.Errorf("meta.puid = %v, want %q", got, tc.want)
			}
			if got := hdr.Get(PuidHeader); got != tc.want {
				t.Errorf("%s = %q, want %q", PuidHeader, got, tc.want)
			}
		})
	}
}

func TestGRPCPuid(t *testing.T) {
	m := startFake(t, &fake{name: "m"})
	s := serve(t, unit("m", v1.Model, m))
	var hdr metadata.MD
	out, err := s.client.Predict(context.Background(), &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	puid := out.GetMeta().GetPuid()
	if !uuidPattern.MatchString(puid) {
		t.Fatalf("meta.puid = %q, want a random UUID", puid)
	}
	if got := hdr.Get("seldon-puid"); len(got) != 1 || got[0] != puid {
		t.Errorf("seldon-puid header = %v, want %q", got, puid)
	}
	if got := m.lastMD.Get("seldon-puid"); len(got) != 1 || got[0] != puid {
		t.Errorf("component got seldon-puid %v, want %q", got, puid)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "seldon-puid", "given")
	out, err = s.client.Predict(ctx, &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_StrData{StrData: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.GetMeta().GetPuid() != "given" {
		t.Errorf("meta.puid = %q, want the seldon-puid header's", out.GetMeta().GetPuid())
	}
}

func TestRequestPathNamesImages(t *testing.T) {
	a := startFake(t, &fake{name: "a"})
	t1 := startFake(t, &fake{name: "t"})
	pred := v1.PredictorSpec{Name: "p", Graph: unit("t", v1.Transformer, t1, unit("a", v1.Model, a))}
	pred.ComponentSpecs = []v1.SeldonPodSpec{{}}
	pred.ComponentSpecs[0].Spec.Containers = append(pred.ComponentSpecs[0].Spec.Containers,
		containerNamed("a", "repo/classifier:1.2"), containerNamed("t", "repo/transformer:0.1"))
	s := servePredictor(t, pred)
	_, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
	want := map[string]any{"a": "repo/classifier:1.2", "t": "repo/transformer:0.1"}
	if diff := cmp.Diff(want, dig(out, "meta", "requestPath")); diff != "" {
		t.Errorf("meta.requestPath (-want +got):\n%s", diff)
	}
	// Tags from the component pass through.
	if got := dig(out, "meta", "tags", "from"); got != "a" {
		t.Errorf("meta.tags.from = %v, want a", got)
	}
}

func TestRandomABTestDrawsAgainstRatio(t *testing.T) {
	for _, tc := range []struct {
		draw float64
		want string
	}{{0.29, "a(x)"}, {0.3, "b(x)"}, {0.9, "b(x)"}} {
		a := startFake(t, &fake{name: "a"})
		b := startFake(t, &fake{name: "b"})
		u := unit("ab", v1.Router, nil, unit("a", v1.Model, a), unit("b", v1.Model, b))
		u.Implementation = v1.RandomABTest
		u.Parameters = []v1.Parameter{{Name: "ratioA", Value: "0.3", Type: v1.ParameterFloat}}
		s := serve(t, u, WithRandom(func() float64 { return tc.draw }))
		_, out, _ := s.post(t, "/api/v1.0/predictions", `{"strData":"x"}`)
		if out["strData"] != tc.want {
			t.Errorf("draw %v with ratioA 0.3: got %v, want %s", tc.draw, out["strData"], tc.want)
		}
	}
}

// The executor refuses what the validator refuses, with the validator's
// words: both read the rules from predictor.Compile.
func TestNewRefusesBrokenBuiltins(t *testing.T) {
	a := v1.PredictiveUnit{Name: "a", Implementation: v1.SimpleModel}
	b := v1.PredictiveUnit{Name: "b", Implementation: v1.SimpleModel}
	c := v1.PredictiveUnit{Name: "c", Implementation: v1.SimpleModel}
	for _, tc := range []struct {
		name string
		unit v1.PredictiveUnit
		want string
	}{
		{"no ratioA", v1.PredictiveUnit{Name: "ab", Implementation: v1.RandomABTest, Children: []v1.PredictiveUnit{a, b}},
			"spec.graph.parameters: Parameter 'ratioA' is missing"},
		{"three children", v1.PredictiveUnit{Name: "ab", Implementation: v1.RandomABTest, Children: []v1.PredictiveUnit{a, b, c},
			Parameters: []v1.Parameter{{Name: "ratioA", Value: "0.5"}}}, "spec.graph.children: RANDOM_ABTEST routes to one of exactly 2 children, it has 3"},
		{"ratio out of range", v1.PredictiveUnit{Name: "ab", Implementation: v1.RandomABTest, Children: []v1.PredictiveUnit{a, b},
			Parameters: []v1.Parameter{{Name: "ratioA", Value: "1.5"}}}, "spec.graph.parameters[0].value: ratioA 1.5 is the share of requests for the first child"},
		{"simple router without children", v1.PredictiveUnit{Name: "r", Implementation: v1.SimpleRouter},
			"spec.graph.children: SIMPLE_ROUTER sends every request to its first child"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(v1.PredictorSpec{Name: "p", Graph: tc.unit})
			if err == nil || !regexp.MustCompile("^"+regexp.QuoteMeta(tc.want)).MatchString(err.Error()) {
				t.Errorf("New() error = %v, want one starting %q", err, tc.want)
			}
		})
	}
}

func TestSimpleModel(t *testing.T) {
	s := serve(t, v1.PredictiveUnit{Name: "sm", Implementation: v1.SimpleModel})
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"data":{"ndarray":[[1,2]]}}`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	wantData := map[string]any{"names": []any{"class0", "class1", "class2"},
		"tensor": map[string]any{"shape": []any{1.0, 3.0}, "values": []any{0.1, 0.9, 0.5}}}
	if diff := cmp.Diff(wantData, out["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	wantMetrics := []any{
		map[string]any{"key": "mymetric_counter", "type": "COUNTER", "value": 1.0},
		map[string]any{"key": "mymetric_gauge", "type": "GAUGE", "value": 100.0},
		map[string]any{"key": "mymetric_timer", "type": "TIMER", "value": 22.1},
	}
	if diff := cmp.Diff(wantMetrics, dig(out, "meta", "metrics")); diff != "" {
		t.Errorf("meta.metrics (-want +got):\n%s", diff)
	}
	if got := dig(out, "status", "status"); got != "SUCCESS" {
		t.Errorf("status.status = %v, want SUCCESS", got)
	}
	_, out, _ = s.post(t, "/api/v1.0/predictions", `{"strData":"echo me"}`)
	if out["strData"] != "echo me" || out["data"] != nil {
		t.Errorf("SIMPLE_MODEL with strData: got %v, want strData echoed and no data", out)
	}

	g, err := s.client.Predict(context.Background(), &pb.SeldonMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{0.1, 0.9, 0.5}, g.GetData().GetTensor().GetValues()); diff != "" {
		t.Errorf("gRPC tensor values (-want +got):\n%s", diff)
	}
	if len(g.GetMeta().GetMetrics()) != 3 || g.GetMeta().GetMetrics()[2].GetValue() != float32(22.1) {
		t.Errorf("gRPC meta.metrics = %v", g.GetMeta().GetMetrics())
	}
}

func TestAverageCombiner(t *testing.T) {
	a := startFake(t, &fake{name: "a", fixed: `{"data":{"names":["p","q"],"ndarray":[[1,2],[3,4]]}}`,
		fixedPB: ndarrayMessage([][]float64{{1, 2}, {3, 4}})})
	b := startFake(t, &fake{name: "b", fixed: `{"data":{"names":["r","s"],"tensor":{"shape":[2,2],"values":[3,6,5,10]}}}`,
		fixedPB: tensorMessage([]int32{2, 2}, []float64{3, 6, 5, 10})})
	u := unit("avg", v1.Combiner, nil, unit("a", v1.Model, a), unit("b", v1.Model, b))
	u.Implementation = v1.AverageCombiner
	s := serve(t, u)
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"data":{"ndarray":[[0]]}}`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	want := map[string]any{"names": []any{"p", "q"}, "ndarray": []any{[]any{2.0, 4.0}, []any{4.0, 7.0}}}
	if diff := cmp.Diff(want, out["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	g, err := s.client.Predict(context.Background(), &pb.SeldonMessage{})
	if err != nil {
		t.Fatal(err)
	}
	got := [][]float64{}
	for _, row := range g.GetData().GetNdarray().AsSlice() {
		var r []float64
		for _, v := range row.([]any) {
			r = append(r, v.(float64))
		}
		got = append(got, r)
	}
	if diff := cmp.Diff([][]float64{{2, 4}, {4, 7}}, got); diff != "" {
		t.Errorf("gRPC ndarray (-want +got):\n%s", diff)
	}
}

func TestAverageCombinerRejectsMismatchedShapes(t *testing.T) {
	a := startFake(t, &fake{name: "a", fixed: `{"data":{"ndarray":[[1,2]]}}`})
	b := startFake(t, &fake{name: "b", fixed: `{"data":{"ndarray":[[1,2],[3,4]]}}`})
	u := unit("avg", v1.Combiner, nil, unit("a", v1.Model, a), unit("b", v1.Model, b))
	u.Implementation = v1.AverageCombiner
	s := serve(t, u)
	code, out, _ := s.post(t, "/api/v1.0/predictions", `{"data":{"ndarray":[[0]]}}`)
	if code != 500 {
		t.Fatalf("status %d, want 500", code)
	}
	if got, want := dig(out, "status", "info"), `node "avg": AVERAGE_COMBINER: expected batch length 1 but input 1 has 2`; got != want {
		t.Errorf("status.info = %v, want %q", got, want)
	}
}

func ndarrayMessage(rows [][]float64) *pb.SeldonMessage {
	var m pb.SeldonMessage
	raw, _ := json.Marshal(map[string]any{"data": map[string]any{"ndarray": rows}})
	if err := protojsonUnmarshal(raw, &m); err != nil {
		panic(err)
	}
	return &m
}

func tensorMessage(shape []int32, values []float64) *pb.SeldonMessage {
	return &pb.SeldonMessage{DataOneof: &pb.SeldonMessage_Data{Data: &pb.DefaultData{
		DataOneof: &pb.DefaultData_Tensor{Tensor: &pb.Tensor{Shape: shape, Values: values}}}}}
}

func TestFeedbackFollowsRecordedRouting(t *testing.T) {
	a := startFake(t, &fake{name: "a"})
	b := startFake(t, &fake{name: "b"})
	r := startFake(t, &fake{name: "r"})
	s := serve(t, unit("r", v1.Router, r, unit("a", v1.Model, a), unit("b", v1.Model, b)))
	code, out, _ := s.post(t, "/api/v1.0/feedback",
		`{"request":{"strData":"x"},"response":{"strData":"b(x)","meta":{"routing":{"r":1}}},"reward":1}`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	if out["strData"] != "fb:r" {
		t.Errorf("strData = %v, want the router's own feedback answer fb:r", out["strData"])
	}
	if a.count("/send-feedback") != 0 || b.count("/send-feedback") != 1 || r.count("/send-feedback") != 1 {
		t.Errorf("feedback calls a=%d b=%d r=%d, want 0 1 1", a.count("/send-feedback"), b.count("/send-feedback"), r.count("/send-feedback"))
	}
	// The body went to the component as it came.
	var fb map[string]any
	if err := json.Unmarshal(b.lastBody, &fb); err != nil || fb["reward"] != 1.0 {
		t.Errorf("component got feedback %s", b.lastBody)
	}

	// Without routing, every child gets it.
	if code, _, _ := s.post(t, "/api/v0.1/feedback", `{"request":{"strData":"x"},"reward":0.5}`); code != 200 {
		t.Fatalf("status %d", code)
	}
	if a.count("/send-feedback") != 1 || b.count("/send-feedback") != 2 {
		t.Errorf("feedback calls a=%d b=%d, want 1 2", a.count("/send-feedback"), b.count("/send-feedback"))
	}

	// Over gRPC, the same walk over gRPC.
	g, err := s.client.SendFeedback(context.Background(), &pb.Feedback{
		Response: &pb.SeldonMessage{Meta: &pb.Meta{Routing: map[string]int32{"r": 0}}}, Reward: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g.GetStrData() != "fb:r" || a.count("SendFeedback") != 1 || b.count("SendFeedback") != 0 {
		t.Errorf("gRPC feedback: %q, a=%d b=%d, want fb:r 1 0", g.GetStrData(), a.count("SendFeedback"), b.count("SendFeedback"))
	}
}

func TestFeedbackToNodesWithoutFeedbackAnswersWithChild(t *testing.T) {
	a := startFake(t, &fake{name: "a"})
	tr := startFake(t, &fake{name: "t"})
	s := serve(t, unit("t", v1.Transformer, tr, unit("a", v1.Model, a)))
	_, out, _ := s.post(t, "/api/v1.0/feedback", `{"reward":1}`)
	if out["strData"] != "fb:a" || tr.count("/send-feedback") != 0 {
		t.Errorf("got %v and %d transformer feedback calls, want fb:a and none", out["strData"], tr.count("/send-feedback"))
	}
}

// floatMap converts a decoded JSON object of numbers.
func floatMap(v any) map[string]float64 {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, x := range m {
		f, _ := x.(float64)
		out[k] = f
	}
	return out
}
