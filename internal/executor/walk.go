package executor

import (
	"context"
	"sync"

	"github.com/sdep-dev/sdep/internal/predictor"
)

// codec is what the walk needs from one transport: M is its message type,
// F its feedback type. REST and gRPC each implement it once, and the graph
// logic below is shared.
type codec[M, F any] interface {
	// call sends in to the node's component and returns its answer.
	call(ctx context.Context, st *walkState, n *node, o op, in M) (M, error)
	// aggregate sends the children's outputs to the node's combiner.
	aggregate(ctx context.Context, st *walkState, n *node, ins []M) (M, error)
	// sendFeedback sends feedback to the node's component.
	sendFeedback(ctx context.Context, st *walkState, n *node, fb F) (M, error)
	// branch reads the child index out of a router's answer.
	branch(n *node, routed M) (int, error)
	// simpleModel is the SIMPLE_MODEL built-in.
	simpleModel(st *walkState, in M) M
	// average is the AVERAGE_COMBINER built-in.
	average(n *node, ins []M) (M, error)
	// feedbackRoute is the branch the prediction took at n, or -1.
	feedbackRoute(fb F, n *node) int
	// empty is the answer of a node that has nothing to say.
	empty(st *walkState) M
}

// predict walks the graph below n for one message (docs/compatibility.md#graph-walk): transform the
// input, route to children and combine their outputs, transform the output.
func predict[M, F any, C codec[M, F]](ctx context.Context, c C, st *walkState, n *node, in M) (M, error) {
	var zero M
	out := in
	var err error
	switch {
	case n.simpleModel:
		st.path.routes[n.index] = -1
		out = c.simpleModel(st, in)
	case n.input != opNone:
		st.path.routes[n.index] = -1
		if out, err = c.call(ctx, st, n, n.input, in); err != nil {
			return zero, err
		}
	}
	if len(n.children) > 0 {
		if out, err = predictChildren[M, F](ctx, c, st, n, out); err != nil {
			return zero, err
		}
	} else if n.aggregate != predictor.CombineFirst {
		// A combiner without children has nothing to combine.
		st.path.routes[n.index] = -1
	}
	if n.output {
		markCalled(st, n)
		if out, err = c.call(ctx, st, n, opTransformOutput, out); err != nil {
			return zero, err
		}
	}
	return out, nil
}

func predictChildren[M, F any, C codec[M, F]](ctx context.Context, c C, st *walkState, n *node, in M) (M, error) {
	var zero M
	branch := -1
	switch n.router {
	case predictor.RouteComponent:
		routed, err := c.call(ctx, st, n, opRoute, in)
		if err != nil {
			return zero, err
		}
		if branch, err = c.branch(n, routed); err != nil {
			return zero, err
		}
		if branch < -2 || branch >= len(n.children) {
			return zero, graphError(n, "router chose branch %d; valid are -2 (stop), -1 (all children) and 0..%d", branch, len(n.children)-1)
		}
	case predictor.RouteSimple:
		branch = 0
	case predictor.RouteABTest:
		branch = 1
		if n.randomBelowRatio() {
			branch = 0
		}
	}
	st.path.routes[n.index] = int32(branch)

	switch branch {
	case -2:
		return in, nil
	case -1:
		outs, err := fanOut(ctx, n.children, func(ctx context.Context, child *node) (M, error) {
			return predict[M, F](ctx, c, st, child, in)
		})
		if err != nil {
			return zero, err
		}
		return combine[M, F](ctx, c, st, n, outs)
	default:
		out, err := predict[M, F](ctx, c, st, n.children[branch], in)
		if err != nil {
			return zero, err
		}
		if n.aggregate == predictor.CombineFirst {
			return out, nil
		}
		return combine[M, F](ctx, c, st, n, []M{out})
	}
}

func combine[M, F any, C codec[M, F]](ctx context.Context, c C, st *walkState, n *node, outs []M) (M, error) {
	switch n.aggregate {
	case predictor.CombineComponent:
		return c.aggregate(ctx, st, n, outs)
	case predictor.CombineAverage:
		return c.average(n, outs)
	}
	return outs[0], nil
}

// fanOut runs f for every child concurrently (the first inline) and returns
// their results in child order. The first error cancels the others' context
// and is returned.
func fanOut[M any](ctx context.Context, children []*node, f func(context.Context, *node) (M, error)) ([]M, error) {
	outs := make([]M, len(children))
	if len(children) == 1 {
		out, err := f(ctx, children[0])
		outs[0] = out
		return outs, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() {
			firstErr = err
			cancel()
		})
	}
	for i := 1; i < len(children); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f(ctx, children[i])
			if err != nil {
				fail(err)
				return
			}
			outs[i] = out
		}()
	}
	out, err := f(ctx, children[0])
	if err != nil {
		fail(err)
	} else {
		outs[0] = out
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return outs, nil
}

// feedback walks the graph for a Feedback message: down the branches the
// prediction took (recorded in response.meta.routing), then to each node's
// component if it takes feedback. A node answers with its component's
// response, else with its first child's.
func feedback[M, F any, C codec[M, F]](ctx context.Context, c C, st *walkState, n *node, fb F) (M, error) {
	var zero M
	var childOut M
	haveChild := false
	if n.logger != nil {
		logFeedback(st, n)
	}
	if len(n.children) > 0 {
		route := c.feedbackRoute(fb, n)
		switch {
		case route == -1:
			outs, err := fanOut(ctx, n.children, func(ctx context.Context, child *node) (M, error) {
				return feedback[M, F](ctx, c, st, child, fb)
			})
			if err != nil {
				return zero, err
			}
			childOut, haveChild = outs[0], true
		case route >= 0 && route < len(n.children):
			out, err := feedback[M, F](ctx, c, st, n.children[route], fb)
			if err != nil {
				return zero, err
			}
			childOut, haveChild = out, true
		case route == -2:
		default:
			return zero, badRequest("feedback: response.meta.routing[%q] is %d but node %q has %d children", n.name, route, n.name, len(n.children))
		}
		st.path.routes[n.index] = int32(route)
	}
	if n.feedback {
		markCalled(st, n)
		return c.sendFeedback(ctx, st, n, fb)
	}
	if haveChild {
		return childOut, nil
	}
	return c.empty(st), nil
}

func (n *node) randomBelowRatio() bool { return n.random() < n.ratioA }

// markCalled records a node that called its component without routing.
func markCalled(st *walkState, n *node) {
	if st.path.routes[n.index] == notVisited {
		st.path.routes[n.index] = -1
	}
}
