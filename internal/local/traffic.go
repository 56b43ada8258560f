package local

import (
	"fmt"
	"math/rand/v2"
	"sync"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// trafficSplit is how the front ports share requests out at one moment: a
// weighted choice among the non-shadow predictors that can answer, and the
// share of requests mirrored to the shadow.
type trafficSplit struct {
	// primary are predictor indexes, cumulative their running weight sums.
	primary    []int
	cumulative []int
	// shadow is the shadow predictor's index, -1 if none; mirrorPercent
	// the share of requests it receives (upstream's Istio route mirrors
	// all when the shadow's traffic is 0).
	shadow        int
	mirrorPercent int
}

// newTrafficSplit decides the split for predictors whose readiness is
// ready[i]. Weights are the predictors' traffic, as upstream's Istio route
// takes them; a sole non-shadow predictor takes everything whatever its
// traffic says. A predictor that cannot answer (no Ready replica of some
// component) gets no share: the others' weights are used as they are, so
// its share goes to them in proportion. When no predictor with a weight
// can answer, the full weights are used and the chosen executor answers
// with its own error (no endpoint), as a Service without ready pods does.
func newTrafficSplit(preds []sdepv1.PredictorSpec, ready []bool) trafficSplit {
	s := trafficSplit{shadow: -1}
	var main []int
	for i := range preds {
		if preds[i].Shadow {
			if s.shadow < 0 {
				s.shadow = i
				s.mirrorPercent = int(preds[i].Traffic)
				if s.mirrorPercent <= 0 || s.mirrorPercent > 100 {
					s.mirrorPercent = 100
				}
			}
			continue
		}
		main = append(main, i)
	}
	weight := func(i int) int {
		if len(main) == 1 {
			return 1
		}
		return max(int(preds[i].Traffic), 0)
	}
	add := func(onlyReady bool) {
		total := 0
		for _, i := range main {
			if w := weight(i); w > 0 && (!onlyReady || ready[i]) {
				total += w
				s.primary = append(s.primary, i)
				s.cumulative = append(s.cumulative, total)
			}
		}
	}
	add(true)
	if len(s.primary) == 0 {
		add(false)
	}
	return s
}

// total is the sum of the weights in the choice.
func (s trafficSplit) total() int {
	if len(s.cumulative) == 0 {
		return 0
	}
	return s.cumulative[len(s.cumulative)-1]
}

// share is the percentage of requests predictor i is sent (for the shadow,
// the percentage mirrored to it).
func (s trafficSplit) share(i int) float64 {
	if i == s.shadow {
		return float64(s.mirrorPercent)
	}
	prev := 0
	for k, p := range s.primary {
		if p == i {
			return float64(s.cumulative[k]-prev) * 100 / float64(s.total())
		}
		prev = s.cumulative[k]
	}
	return 0
}

// pick maps a number in [0, total) to a predictor index.
func (s trafficSplit) pick(n int) int {
	for k, c := range s.cumulative {
		if n < c {
			return s.primary[k]
		}
	}
	return s.primary[len(s.primary)-1]
}

// describe is the split for the log for the log, e.g. "main 75%, canary 25%".
func (s trafficSplit) describe(preds []sdepv1.PredictorSpec) string {
	out := ""
	for _, i := range s.primary {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %.0f%%", preds[i].Name, s.share(i))
	}
	if s.shadow >= 0 {
		out += fmt.Sprintf("; %d%% mirrored to %s", s.mirrorPercent, preds[s.shadow].Name)
	}
	return out
}

// chooser draws from a trafficSplit with a seedable source, so a test can
// replay the same sequence of choices.
type chooser struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newChooser(seed uint64) *chooser {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &chooser{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// choose returns the predictor for one request and whether the request is
// mirrored to the shadow.
func (c *chooser) choose(s trafficSplit) (predictor int, mirror bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	predictor = -1
	if t := s.total(); t > 0 {
		predictor = s.pick(c.rng.IntN(t))
	}
	if s.shadow >= 0 {
		mirror = s.mirrorPercent >= 100 || c.rng.IntN(100) < s.mirrorPercent
	}
	return predictor, mirror
}
