// Package xgboost serves XGBoost models natively: it reads the JSON and
// UBJSON model formats XGBoost writes with Booster.save_model (schema
// doc/model.schema in XGBoost's sources) and evaluates gbtree and dart
// boosters itself, the way XGBoost's CPU predictor does, in float32.
//
// The legacy binary format (model.bst, what Seldon's Python XGBoost server
// loads) is not read: it is undocumented and XGBoost itself deprecates it.
// Loading a directory holding only model.bst fails with the fix.
package xgboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Model is a loaded booster.
type Model struct {
	// Objective is the learner's objective name, e.g. binary:logistic.
	Objective string
	// NumFeature is the number of features the model was trained on.
	NumFeature int
	// NumGroup is the number of output groups (classes of a multi:*
	// objective, else 1).
	NumGroup int
	// Version is the XGBoost version that wrote the model, when recorded.
	Version []int

	baseMargin []float32 // per output group
	trees      []tree
	groups     []int     // output group of each tree
	weights    []float32 // dart's per-tree weight; nil for gbtree
}

type tree struct {
	left, right []int32
	feature     []int32
	cond        []float32 // split threshold, or leaf value for leaves
	defaultLeft []bool
}

// File names a model directory is searched for, in order.
const (
	FileJSON   = "model.json"
	FileUBJSON = "model.ubj"
	FileLegacy = "model.bst"
)

// maxModelBytes bounds the model file read into memory.
const maxModelBytes = 2 << 30

// LoadDir loads model.json or model.ubj from dir (the storage
// initializer's /mnt/models). A directory with only the legacy binary
// model.bst gets an error naming the conversion.
func LoadDir(dir string) (*Model, error) {
	p, err := FindModel(dir)
	if err != nil {
		return nil, err
	}
	return LoadFile(p)
}

// FindModel returns the model file LoadDir would load from dir.
func FindModel(dir string) (string, error) {
	for _, name := range []string{FileJSON, FileUBJSON} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, FileLegacy)); err == nil {
		return "", fmt.Errorf("%s is XGBoost's legacy binary format, which sdep does not read: "+
			"load it with XGBoost and save it as JSON, booster.save_model(\"model.json\") "+
			"(or \"model.ubj\"), then put that file in the model directory", filepath.Join(dir, FileLegacy))
	}
	return "", fmt.Errorf("no XGBoost model in %s: want %s or %s (booster.save_model(\"model.json\"))", dir, FileJSON, FileUBJSON)
}

// LoadFile loads a JSON or UBJSON model file (UBJSON when the name ends in
// .ubj or the content does not start like JSON).
func LoadFile(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxModelBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d this server loads", path, st.Size(), maxModelBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(b, filepath.Ext(path) == ".ubj")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse reads a model from its JSON (ubj false) or UBJSON bytes.
func Parse(b []byte, ubj bool) (*Model, error) {
	if !ubj {
		t := bytes.TrimLeft(b, " \t\r\n")
		if len(t) > 0 && t[0] == '{' && len(t) > 1 && (t[1] == '"' || t[1] == ' ' || t[1] == '\n' || t[1] == '\r' || t[1] == '\t' || t[1] == '}') {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, fmt.Errorf("not a valid XGBoost JSON model: %w", err)
			}
			return fromGeneric(v)
		}
	}
	v, err := decodeUBJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not a valid XGBoost UBJSON model: %w", err)
	}
	return fromGeneric(v)
}

// Path-aware accessors over the generic document.

func field(v any, path, key string) (any, string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, path, fmt.Errorf("%s: want an object", path)
	}
	p := path + "." + key
	f, ok := m[key]
	if !ok {
		return nil, p, fmt.Errorf("%s: missing", p)
	}
	return f, p, nil
}

func fieldPath(v any, path string, keys ...string) (any, string, error) {
	var err error
	for _, k := range keys {
		if v, path, err = field(v, path, k); err != nil {
			return nil, path, err
		}
	}
	return v, path, nil
}

// numberOf reads a number stored as a number or, as XGBoost stores its
// parameters, as a decimal string.
func numberOf(v any, path string) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", path, x)
		}
		return f, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("%s: want a number", path)
}

// baseScoreOf reads base_score: a number as a string ("5E-1", XGBoost
// 1.x and 2.x), or a bracketed list of them ("[5E-1]", per output group in
// XGBoost 3).
func baseScoreOf(v any, path string) ([]float64, error) {
	if str, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(str), "[") {
		var list []json.Number
		if err := json.Unmarshal([]byte(str), &list); err != nil || len(list) == 0 {
			return nil, fmt.Errorf("%s: %q is not a list of numbers", path, str)
		}
		out := make([]float64, len(list))
		for i, n := range list {
			f, err := n.Float64()
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a list of numbers", path, str)
			}
			out[i] = f
		}
		return out, nil
	}
	if list, err := numbers(v, path); err == nil {
		if len(list) == 0 {
			return nil, fmt.Errorf("%s: empty", path)
		}
		return list, nil
	}
	f, err := numberOf(v, path)
	if err != nil {
		return nil, err
	}
	return []float64{f}, nil
}

func intOf(v any, path string) (int, error) {
	f, err := numberOf(v, path)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f < -1<<31 || f > 1<<31-1 {
		return 0, fmt.Errorf("%s: %v is not an integer", path, f)
	}
	return int(f), nil
}

// numbers reads an array of numbers (or booleans).
func numbers(v any, path string) ([]float64, error) {
	switch x := v.(type) {
	case []float64:
		return x, nil
	case []any:
		out := make([]float64, len(x))
		for i, e := range x {
			f, err := numberOf(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = f
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want an array", path)
}

func fromGeneric(root any) (*Model, error) {
	m := &Model{}
	if v, _, err := field(root, "", "version"); err == nil {
		if vs, err := numbers(v, ".version"); err == nil {
			for _, x := range vs {
				m.Version = append(m.Version, int(x))
			}
		}
	}
	learner, lp, err := field(root, "", "learner")
	if err != nil {
		return nil, fmt.Errorf("%w (is this an XGBoost model saved with save_model?)", err)
	}
	obj, op, err := fieldPath(learner, lp, "objective", "name")
	if err != nil {
		return nil, err
	}
	name, ok := obj.(string)
	if !ok {
		return nil, fmt.Errorf("%s: want a string", op)
	}
	m.Objective = name
	mp, mpp, err := field(learner, lp, "learner_model_param")
	if err != nil {
		return nil, err
	}
	baseScores := []float64{0.5}
	if v, p, err := field(mp, mpp, "base_score"); err == nil {
		if baseScores, err = baseScoreOf(v, p); err != nil {
			return nil, err
		}
	}
	numClass := 0
	if v, p, err := field(mp, mpp, "num_class"); err == nil {
		if numClass, err = intOf(v, p); err != nil {
			return nil, err
		}
	}
	if v, p, err := field(mp, mpp, "num_feature"); err == nil {
		if m.NumFeature, err = intOf(v, p); err != nil {
			return nil, err
		}
	}
	if v, p, err := field(mp, mpp, "num_target"); err == nil {
		n, err := intOf(v, p)
		if err != nil {
			return nil, err
		}
		if n > 1 {
			return nil, fmt.Errorf("%s: %d targets; sdep evaluates single-target models only", p, n)
		}
	}
	m.NumGroup = max(numClass, 1)
	tr, ok := transforms[name]
	if !ok {
		return nil, fmt.Errorf("%s: objective %q is not supported by sdep's XGBoost server (supported: %s)", op, name, supportedObjectives())
	}
	if tr.multiclass && numClass < 2 {
		return nil, fmt.Errorf("%s: objective %s needs num_class >= 2, got %d", mpp, name, numClass)
	}
	if len(baseScores) != 1 && len(baseScores) != m.NumGroup {
		return nil, fmt.Errorf("%s.base_score: %d values for %d output groups", mpp, len(baseScores), m.NumGroup)
	}
	for g := range m.NumGroup {
		bs := baseScores[0]
		if len(baseScores) > 1 {
			bs = baseScores[g]
		}
		bm, err := tr.margin(bs)
		if err != nil {
			return nil, fmt.Errorf("%s.base_score: %w", mpp, err)
		}
		m.baseMargin = append(m.baseMargin, float32(bm))
	}

	gb, gp, err := field(learner, lp, "gradient_booster")
	if err != nil {
		return nil, err
	}
	gbName, _, err := field(gb, gp, "name")
	if err != nil {
		return nil, err
	}
	var model any
	var modelPath string
	switch gbName {
	case "gbtree":
		if model, modelPath, err = field(gb, gp, "model"); err != nil {
			return nil, err
		}
	case "dart":
		if model, modelPath, err = fieldPath(gb, gp, "gbtree", "model"); err != nil {
			return nil, err
		}
		wd, wp, err := field(gb, gp, "weight_drop")
		if err != nil {
			return nil, err
		}
		ws, err := numbers(wd, wp)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			m.weights = append(m.weights, float32(w))
		}
	default:
		return nil, fmt.Errorf("%s.name: booster %v is not supported (sdep evaluates gbtree and dart; gblinear is not)", gp, gbName)
	}
	if err := m.readTrees(model, modelPath); err != nil {
		return nil, err
	}
	if m.weights != nil && len(m.weights) != len(m.trees) {
		return nil, fmt.Errorf("%s.weight_drop: %d weights for %d trees", gp, len(m.weights), len(m.trees))
	}
	return m, nil
}

func (m *Model) readTrees(model any, path string) error {
	ti, tip, err := field(model, path, "tree_info")
	if err != nil {
		return err
	}
	info, err := numbers(ti, tip)
	if err != nil {
		return err
	}
	tv, tp, err := field(model, path, "trees")
	if err != nil {
		return err
	}
	trees, ok := tv.([]any)
	if !ok {
		return fmt.Errorf("%s: want an array", tp)
	}
	if len(info) != len(trees) {
		return fmt.Errorf("%s: %d entries for %d trees", tip, len(info), len(trees))
	}
	for i, t := range trees {
		g := int(info[i])
		if g < 0 || g >= m.NumGroup {
			return fmt.Errorf("%s[%d]: group %d outside [0,%d)", tip, i, g, m.NumGroup)
		}
		rt, err := readTree(t, fmt.Sprintf("%s[%d]", tp, i))
		if err != nil {
			return err
		}
		m.trees = append(m.trees, rt)
		m.groups = append(m.groups, g)
	}
	return nil
}

func readTree(t any, path string) (tree, error) {
	var rt tree
	get := func(key string) ([]float64, error) {
		v, p, err := field(t, path, key)
		if err != nil {
			return nil, err
		}
		return numbers(v, p)
	}
	if tp, tpp, err := field(t, path, "tree_param"); err == nil {
		if v, p, err := field(tp, tpp, "size_leaf_vector"); err == nil {
			if n, err := intOf(v, p); err == nil && n > 1 {
				return rt, fmt.Errorf("%s: vector leaves (multi_strategy=multi_output_tree) are not supported by sdep's XGBoost server", p)
			}
		}
	}
	left, err := get("left_children")
	if err != nil {
		return rt, err
	}
	n := len(left)
	if n == 0 {
		return rt, fmt.Errorf("%s.left_children: a tree needs at least one node", path)
	}
	cols := map[string][]float64{"left_children": left}
	for _, k := range []string{"right_children", "split_indices", "split_conditions", "default_left"} {
		c, err := get(k)
		if err != nil {
			return rt, err
		}
		if len(c) != n {
			return rt, fmt.Errorf("%s.%s: %d entries for %d nodes", path, k, len(c), n)
		}
		cols[k] = c
	}
	if st, err := get("split_type"); err == nil {
		for i, s := range st {
			if s != 0 && left[i] != -1 {
				return rt, fmt.Errorf("%s.split_type[%d]: categorical splits are not supported by sdep's XGBoost server (train with numerical features)", path, i)
			}
		}
	}
	rt.left = make([]int32, n)
	rt.right = make([]int32, n)
	rt.feature = make([]int32, n)
	rt.cond = make([]float32, n)
	rt.defaultLeft = make([]bool, n)
	for i := 0; i < n; i++ {
		l, r := cols["left_children"][i], cols["right_children"][i]
		if l == -1 {
			if r != -1 {
				return rt, fmt.Errorf("%s: node %d has a right child but no left one", path, i)
			}
		} else if l <= float64(i) || r <= float64(i) || l >= float64(n) || r >= float64(n) || l != math.Trunc(l) || r != math.Trunc(r) {
			// Children come after their parent in XGBoost's layout; this
			// also rules out cycles, so evaluation always ends.
			return rt, fmt.Errorf("%s: node %d has children %v,%v outside (%d,%d)", path, i, l, r, i, n)
		}
		f := cols["split_indices"][i]
		if f < 0 || f > 1<<31-1 || f != math.Trunc(f) {
			return rt, fmt.Errorf("%s.split_indices[%d]: %v is not a feature index", path, i, f)
		}
		rt.left[i], rt.right[i], rt.feature[i] = int32(l), int32(r), int32(f)
		rt.cond[i] = float32(cols["split_conditions"][i])
		rt.defaultLeft[i] = cols["default_left"][i] != 0
	}
	return rt, nil
}

// leaf returns the leaf value row reaches. A missing value (NaN, or a
// feature beyond the row) follows the node's default direction.
func (t *tree) leaf(row []float32) float32 {
	i := int32(0)
	for t.left[i] != -1 {
		f := t.feature[i]
		var left bool
		if int(f) >= len(row) || math.IsNaN(float64(row[f])) {
			left = t.defaultLeft[i]
		} else {
			left = row[f] < t.cond[i]
		}
		if left {
			i = t.left[i]
		} else {
			i = t.right[i]
		}
	}
	return t.cond[i]
}

// Margin returns the raw scores of one row, NumGroup values, as
// output_margin=True does.
func (m *Model) Margin(row []float32, out []float32) []float32 {
	out = append(out[:0], m.baseMargin...)
	for k := range m.trees {
		v := m.trees[k].leaf(row)
		if m.weights != nil {
			v *= m.weights[k]
		}
		out[m.groups[k]] += v
	}
	return out
}

// Predict returns the model's prediction per row, as Booster.predict does:
// one value per row, or NumGroup per row for multi:softprob.
func (m *Model) Predict(rows [][]float32) [][]float64 {
	tr := transforms[m.Objective]
	out := make([][]float64, len(rows))
	margin := make([]float32, 0, m.NumGroup)
	for i, r := range rows {
		margin = m.Margin(r, margin)
		out[i] = tr.output(margin)
	}
	return out
}

// Columns is how many values Predict returns per row.
func (m *Model) Columns() int {
	if m.Objective == "multi:softprob" {
		return m.NumGroup
	}
	return 1
}
