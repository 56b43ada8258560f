package predictor

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// Problem is one finding about a document: the field path and what to do.
type Problem struct {
	Field   string
	Message string
}

func (p Problem) Error() string { return p.Field + ": " + p.Message }

// Problems is a list of findings; as an error it prints one per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Walk calls fn on every node of the graph rooted at n, depth first,
// parents before children, with the node's field path relative to root
// (e.g. "graph.children[1]"). It stops descending below MaxGraphDepth, so
// a hostile document cannot make it recurse without bound.
func Walk(n *sdepv1.PredictiveUnit, root string, fn func(path string, n *sdepv1.PredictiveUnit)) {
	walk(n, root, 1, fn)
}

func walk(n *sdepv1.PredictiveUnit, path string, depth int, fn func(string, *sdepv1.PredictiveUnit)) {
	fn(path, n)
	if depth >= sdepv1.MaxGraphDepth {
		return
	}
	for i := range n.Children {
		walk(&n.Children[i], path+".children["+strconv.Itoa(i)+"]", depth+1, fn)
	}
}

// Size counts the nodes of the graph rooted at n (to MaxGraphDepth).
func Size(n *sdepv1.PredictiveUnit) int {
	size := 0
	Walk(n, "", func(string, *sdepv1.PredictiveUnit) { size++ })
	return size
}

// Input is what a node does with a request before its children see it.
type Input int

// A node's input step.
const (
	InputNone           Input = iota // pass the request on unchanged
	InputPredict                     // MODEL: /predict
	InputTransformInput              // TRANSFORMER or TRANSFORM_INPUT: /transform-input
)

// Router is how a node picks the children a request goes to.
type Router int

// Routing kinds.
const (
	RouteAll       Router = iota // no router: every child
	RouteComponent               // ROUTER or ROUTE: the component's /route answer
	RouteSimple                  // SIMPLE_ROUTER: always child 0
	RouteABTest                  // RANDOM_ABTEST: child 0 with probability RatioA
)

// Combiner is how a node joins its children's answers.
type Combiner int

// Combining kinds.
const (
	CombineFirst     Combiner = iota // no combiner: the first child's answer
	CombineComponent                 // COMBINER or AGGREGATE: the component's /aggregate
	CombineAverage                   // AVERAGE_COMBINER
)

// Node is a graph node with every decision about how it is walked made once,
// from its type, methods and implementation.
type Node struct {
	// Name is the node's (and its container's) name; Path its field path,
	// e.g. "spec.predictors[0].graph.children[1]".
	Name, Path string
	// Unit is the node as written (after defaulting, if that was applied).
	Unit *sdepv1.PredictiveUnit
	// Children in document order.
	Children []*Node

	Input    Input
	Router   Router
	Combiner Combiner
	// RatioA is RANDOM_ABTEST's share of requests for child 0, in [0, 1].
	RatioA float64
	// SimpleModel is set for SIMPLE_MODEL: the executor answers itself.
	SimpleModel bool
	// TransformOutput: the component's /transform-output runs on the answer.
	TransformOutput bool
	// Feedback: the component receives /send-feedback; RouterFeedback says
	// it is a ROUTER, whose gRPC feedback method is the Router service's.
	Feedback, RouterFeedback bool
}

// CallsComponent reports whether the node sends anything to a component,
// and so needs an endpoint.
func (n *Node) CallsComponent() bool {
	return n.Input != InputNone || n.Router == RouteComponent || n.Combiner == CombineComponent ||
		n.TransformOutput || n.Feedback
}

// Graph is a predictor's graph compiled: its root and every node in depth
// first order (parents before children).
type Graph struct {
	Root  *Node
	Nodes []*Node
}

// Compile checks the structural rules of a graph — depth, node names,
// RANDOM_ABTEST's two children and ratioA, SIMPLE_ROUTER's child — and
// resolves each node's behaviour. root is the graph's field path (e.g.
// "spec.predictors[0].graph"). On problems the graph returned is nil. The
// validator reports these problems; the executor runs only a graph that
// compiled, so neither checks the rules on its own.
func Compile(g *sdepv1.PredictiveUnit, root string) (*Graph, Problems) {
	c := &compiler{seen: map[string]string{}}
	out := &Graph{}
	out.Root = c.node(out, g, root, 1)
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	return out, nil
}

type compiler struct {
	seen     map[string]string
	problems Problems
}

func (c *compiler) fail(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) node(g *Graph, u *sdepv1.PredictiveUnit, path string, depth int) *Node {
	if depth > sdepv1.MaxGraphDepth {
		c.fail(path, "the graph is deeper than %d levels: flatten it", sdepv1.MaxGraphDepth)
		return nil
	}
	switch prev, dup := c.seen[u.Name]; {
	case u.Name == "":
		c.fail(path+".name", "required: a graph node is matched to its container by name")
	case dup:
		c.fail(path+".name", "%q is also the name of %s: graph node names must be unique", u.Name, prev)
	default:
		c.seen[u.Name] = path
	}
	n := &Node{Name: u.Name, Path: path, Unit: u}
	g.Nodes = append(g.Nodes, n)
	c.behaviour(n, u, path)
	for i := range u.Children {
		if child := c.node(g, &u.Children[i], path+".children["+strconv.Itoa(i)+"]", depth+1); child != nil {
			n.Children = append(n.Children, child)
		}
	}
	return n
}

func (c *compiler) behaviour(n *Node, u *sdepv1.PredictiveUnit, path string) {
	switch u.Implementation {
	case sdepv1.SimpleModel:
		n.SimpleModel = true
		return
	case sdepv1.SimpleRouter:
		n.Router = RouteSimple
		if len(u.Children) == 0 {
			c.fail(path+".children", "SIMPLE_ROUTER sends every request to its first child, and it has none: add a child")
		}
		return
	case sdepv1.RandomABTest:
		n.Router = RouteABTest
		if len(u.Children) != 2 {
			c.fail(path+".children", "RANDOM_ABTEST routes to one of exactly 2 children, it has %d", len(u.Children))
		}
		n.RatioA = c.ratioA(u.Parameters, path+".parameters")
		return
	case sdepv1.AverageCombiner:
		n.Combiner = CombineAverage
		return
	}
	has := func(m sdepv1.PredictiveUnitMethod) bool {
		for _, x := range u.Methods {
			if x == m {
				return true
			}
		}
		return false
	}
	typ := u.Type
	if typ == "" && IsPrepackaged(u.Implementation) {
		typ = sdepv1.Model
	}
	switch {
	case typ == sdepv1.Model:
		n.Input = InputPredict
	case typ == sdepv1.Transformer || has(sdepv1.TransformInput):
		n.Input = InputTransformInput
	}
	if typ == sdepv1.Router || has(sdepv1.Route) {
		n.Router = RouteComponent
	}
	if typ == sdepv1.Combiner || has(sdepv1.Aggregate) {
		n.Combiner = CombineComponent
	}
	n.TransformOutput = typ == sdepv1.OutputTransformer || has(sdepv1.TransformOutput)
	n.Feedback = typ == sdepv1.Model || typ == sdepv1.Router || has(sdepv1.SendFeedback)
	n.RouterFeedback = typ == sdepv1.Router
}

// ratioA reads RANDOM_ABTEST's ratioA parameter: a number in [0, 1].
func (c *compiler) ratioA(params []sdepv1.Parameter, field string) float64 {
	for k, p := range params {
		if p.Name != "ratioA" {
			continue
		}
		r, err := strconv.ParseFloat(p.Value, 64)
		if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
			c.fail(fmt.Sprintf("%s[%d].value", field, k), "ratioA %s is the share of requests for the first child: use a number between 0 and 1", p.Value)
			return 0
		}
		return r
	}
	c.fail(field, "Parameter 'ratioA' is missing: RANDOM_ABTEST needs {name: ratioA, type: FLOAT, value: <share of requests for the first child>}")
	return 0
}
