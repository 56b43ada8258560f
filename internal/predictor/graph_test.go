package predictor

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// decisions is what Compile decided for one node, without the pointers.
type decisions struct {
	Name, Path      string
	Input           Input
	Router          Router
	Combiner        Combiner
	RatioA          float64
	SimpleModel     bool
	TransformOutput bool
	Feedback        bool
	RouterFeedback  bool
	Calls           bool
}

func decided(g *Graph) []decisions {
	var out []decisions
	for _, n := range g.Nodes {
		out = append(out, decisions{n.Name, n.Path, n.Input, n.Router, n.Combiner, n.RatioA, n.SimpleModel,
			n.TransformOutput, n.Feedback, n.RouterFeedback, n.CallsComponent()})
	}
	return out
}

func TestCompileDecidesEachNode(t *testing.T) {
	g := sdepv1.PredictiveUnit{
		Name: "router", Type: sdepv1.Router,
		Children: []sdepv1.PredictiveUnit{
			{Name: "combiner", Type: sdepv1.Combiner, Children: []sdepv1.PredictiveUnit{
				{Name: "model", Type: sdepv1.Model},
				{Name: "sklearn", Implementation: sdepv1.SKLearnServer},
			}},
			{Name: "transformer", Type: sdepv1.Transformer, Children: []sdepv1.PredictiveUnit{
				{Name: "ab", Implementation: sdepv1.RandomABTest,
					Parameters: []sdepv1.Parameter{{Name: "ratioA", Value: "0.25", Type: sdepv1.ParameterFloat}},
					Children: []sdepv1.PredictiveUnit{
						{Name: "a", Implementation: sdepv1.SimpleModel},
						{Name: "avg", Implementation: sdepv1.AverageCombiner, Children: []sdepv1.PredictiveUnit{
							{Name: "simple-router", Implementation: sdepv1.SimpleRouter, Children: []sdepv1.PredictiveUnit{{Name: "b", Implementation: sdepv1.SimpleModel}}},
						}},
					}},
			}},
			{Name: "methods", Methods: []sdepv1.PredictiveUnitMethod{sdepv1.TransformInput, sdepv1.TransformOutput, sdepv1.SendFeedback}},
			{Name: "output", Type: sdepv1.OutputTransformer},
		},
	}
	compiled, problems := Compile(&g, "spec.graph")
	if problems != nil {
		t.Fatalf("Compile: %v", problems)
	}
	want := []decisions{
		{Name: "router", Path: "spec.graph", Router: RouteComponent, Feedback: true, RouterFeedback: true, Calls: true},
		{Name: "combiner", Path: "spec.graph.children[0]", Combiner: CombineComponent, Calls: true},
		{Name: "model", Path: "spec.graph.children[0].children[0]", Input: InputPredict, Feedback: true, Calls: true},
		{Name: "sklearn", Path: "spec.graph.children[0].children[1]", Input: InputPredict, Feedback: true, Calls: true},
		{Name: "transformer", Path: "spec.graph.children[1]", Input: InputTransformInput, Calls: true},
		{Name: "ab", Path: "spec.graph.children[1].children[0]", Router: RouteABTest, RatioA: 0.25},
		{Name: "a", Path: "spec.graph.children[1].children[0].children[0]", SimpleModel: true},
		{Name: "avg", Path: "spec.graph.children[1].children[0].children[1]", Combiner: CombineAverage},
		{Name: "simple-router", Path: "spec.graph.children[1].children[0].children[1].children[0]", Router: RouteSimple},
		{Name: "b", Path: "spec.graph.children[1].children[0].children[1].children[0].children[0]", SimpleModel: true},
		{Name: "methods", Path: "spec.graph.children[2]", Input: InputTransformInput, TransformOutput: true, Feedback: true, Calls: true},
		{Name: "output", Path: "spec.graph.children[3]", TransformOutput: true, Calls: true},
	}
	if diff := cmp.Diff(want, decided(compiled)); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if compiled.Root != compiled.Nodes[0] || len(compiled.Root.Children) != 4 || compiled.Root.Children[1].Children[0].Unit != &g.Children[1].Children[0] {
		t.Error("Root, Children and Unit do not point into the graph as compiled")
	}
}

func TestCompileReportsEveryStructuralProblem(t *testing.T) {
	deep := sdepv1.PredictiveUnit{Name: "leaf", Implementation: sdepv1.SimpleModel}
	for i := 0; i < sdepv1.MaxGraphDepth; i++ {
		deep = sdepv1.PredictiveUnit{Name: "n" + strings.Repeat("x", i), Children: []sdepv1.PredictiveUnit{deep}}
	}
	for _, tc := range []struct {
		name  string
		graph sdepv1.PredictiveUnit
		want  Problems
	}{
		{"unnamed and duplicate nodes", sdepv1.PredictiveUnit{Name: "a", Children: []sdepv1.PredictiveUnit{{}, {Name: "a"}}}, Problems{
			{"g.children[0].name", "required: a graph node is matched to its container by name"},
			{"g.children[1].name", `"a" is also the name of g: graph node names must be unique`},
		}},
		{"abtest with one child and no ratio", sdepv1.PredictiveUnit{Name: "ab", Implementation: sdepv1.RandomABTest,
			Children: []sdepv1.PredictiveUnit{{Name: "x", Implementation: sdepv1.SimpleModel}}}, Problems{
			{"g.children", "RANDOM_ABTEST routes to one of exactly 2 children, it has 1"},
			{"g.parameters", "Parameter 'ratioA' is missing: RANDOM_ABTEST needs {name: ratioA, type: FLOAT, value: <share of requests for the first child>}"},
		}},
		{"abtest ratio NaN", sdepv1.PredictiveUnit{Name: "ab", Implementation: sdepv1.RandomABTest,
			Parameters: []sdepv1.Parameter{{Name: "other", Value: "1"}, {Name: "ratioA", Value: "NaN"}},
			Children:   []sdepv1.PredictiveUnit{{Name: "x", Implementation: sdepv1.SimpleModel}, {Name: "y", Implementation: sdepv1.SimpleModel}}}, Problems{
			{"g.parameters[1].value", "ratioA NaN is the share of requests for the first child: use a number between 0 and 1"},
		}},
		{"simple router without children", sdepv1.PredictiveUnit{Name: "r", Implementation: sdepv1.SimpleRouter}, Problems{
			{"g.children", "SIMPLE_ROUTER sends every request to its first child, and it has none: add a child"},
		}},
		{"too deep", deep, Problems{
			{"g" + strings.Repeat(".children[0]", sdepv1.MaxGraphDepth), "the graph is deeper than 32 levels: flatten it"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, got := Compile(&tc.graph, "g")
			if g != nil {
				t.Error("a graph with problems compiled")
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWalkStopsAtTheDepthLimit(t *testing.T) {
	root := &sdepv1.PredictiveUnit{Name: "0"}
	n := root
	for i := 1; i < 3*sdepv1.MaxGraphDepth; i++ {
		n.Children = []sdepv1.PredictiveUnit{{Name: "deeper"}}
		n = &n.Children[0]
	}
	var paths []string
	Walk(root, "graph", func(path string, _ *sdepv1.PredictiveUnit) { paths = append(paths, path) })
	if len(paths) != sdepv1.MaxGraphDepth || Size(root) != sdepv1.MaxGraphDepth {
		t.Errorf("visited %d nodes (Size %d), want %d", len(paths), Size(root), sdepv1.MaxGraphDepth)
	}
	if paths[2] != "graph.children[0].children[0]" {
		t.Errorf("third path %q", paths[2])
	}
}
