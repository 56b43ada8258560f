package xgboost

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// transform is what an objective does around the trees' sum: how
// base_score (stored in output space) becomes the starting margin, and how
// the summed margin becomes the prediction.
type transform struct {
	margin     func(baseScore float64) (float64, error)
	output     func(margin []float32) []float64
	multiclass bool
}

func identityMargin(b float64) (float64, error) { return b, nil }

func logitMargin(b float64) (float64, error) {
	if b <= 0 || b >= 1 {
		return 0, fmt.Errorf("%v must be in (0,1) for a logistic objective", b)
	}
	return float64(-float32(math.Log(float64(1/float32(b) - 1)))), nil
}

func logMargin(b float64) (float64, error) {
	if b <= 0 {
		return 0, fmt.Errorf("%v must be positive for a log-link objective", b)
	}
	return math.Log(b), nil
}

func identityOut(m []float32) []float64 { return []float64{float64(m[0])} }

func sigmoidOut(m []float32) []float64 {
	return []float64{float64(float32(1 / (1 + math.Exp(-float64(m[0])))))}
}

func expOut(m []float32) []float64 { return []float64{float64(float32(math.Exp(float64(m[0]))))} }

func hingeOut(m []float32) []float64 {
	if m[0] > 0 {
		return []float64{1}
	}
	return []float64{0}
}

func softprobOut(m []float32) []float64 {
	mx := m[0]
	for _, v := range m[1:] {
		mx = max(mx, v)
	}
	out := make([]float64, len(m))
	sum := 0.0
	for i, v := range m {
		out[i] = math.Exp(float64(v - mx))
		sum += out[i]
	}
	for i := range out {
		out[i] = float64(float32(out[i] / sum))
	}
	return out
}

func softmaxOut(m []float32) []float64 {
	best := 0
	for i, v := range m {
		if v > m[best] {
			best = i
		}
	}
	return []float64{float64(best)}
}

var transforms = map[string]transform{
	"reg:squarederror":     {margin: identityMargin, output: identityOut},
	"reg:linear":           {margin: identityMargin, output: identityOut},
	"reg:squaredlogerror":  {margin: identityMargin, output: identityOut},
	"reg:pseudohubererror": {margin: identityMargin, output: identityOut},
	"reg:absoluteerror":    {margin: identityMargin, output: identityOut},
	"reg:logistic":         {margin: logitMargin, output: sigmoidOut},
	"binary:logistic":      {margin: logitMargin, output: sigmoidOut},
	"binary:logitraw":      {margin: logitMargin, output: identityOut},
	"binary:hinge":         {margin: identityMargin, output: hingeOut},
	"count:poisson":        {margin: logMargin, output: expOut},
	"reg:gamma":            {margin: logMargin, output: expOut},
	"reg:tweedie":          {margin: logMargin, output: expOut},
	"multi:softprob":       {margin: identityMargin, output: softprobOut, multiclass: true},
	"multi:softmax":        {margin: identityMargin, output: softmaxOut, multiclass: true},
	"rank:pairwise":        {margin: identityMargin, output: identityOut},
	"rank:ndcg":            {margin: identityMargin, output: identityOut},
	"rank:map":             {margin: identityMargin, output: identityOut},
}

func supportedObjectives() string {
	names := make([]string, 0, len(transforms))
	for n := range transforms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
