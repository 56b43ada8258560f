package xgboost

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// handModel is a two-tree binary:logistic model written by hand:
// tree 0 splits feature 0 at 0.5 (missing goes right), tree 1 splits
// feature 1 at -1 (missing goes left).
const handModel = `{"learner":{"attributes":{},"feature_names":[],"feature_types":[],
 "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"2"},
  "tree_info":[0,0],"trees":[
   {"id":0,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],
    "split_conditions":[0.5,-0.4,0.3],"default_left":[0,0,0],"split_type":[0,0,0],
    "tree_param":{"num_nodes":"3","num_feature":"2","size_leaf_vector":"0","num_deleted":"0"}},
   {"id":1,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],
    "split_conditions":[-1,0.25,-0.125],"default_left":[1,0,0],"split_type":[0,0,0],
    "tree_param":{"num_nodes":"3","num_feature":"2","size_leaf_vector":"0","num_deleted":"0"}}]},
  "name":"gbtree"},
 "learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"2","num_target":"1"},
 "objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},
 "version":[1,7,6]}`

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestHandModel(t *testing.T) {
	m, err := Parse([]byte(handModel), false)
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	for _, c := range []struct {
		row  []float32
		want float64
	}{
		{[]float32{0, 0}, sigmoid(-0.4 - 0.125)},
		{[]float32{1, -2}, sigmoid(0.3 + 0.25)},
		{[]float32{nan, nan}, sigmoid(0.3 + 0.25)}, // right, then left
		{[]float32{0.5, -1}, sigmoid(0.3 - 0.125)}, // not < threshold: right
		{[]float32{0}, sigmoid(-0.4 + 0.25)},       // short row: feature 1 missing
	} {
		got := m.Predict([][]float32{c.row})[0][0]
		if math.Abs(got-c.want) > 1e-6 {
			t.Errorf("row %v: got %v, want %v", c.row, got, c.want)
		}
	}
}

// ubjEncode writes v as UBJSON the way XGBoost does: numeric arrays typed
// and counted, other containers counted.
func ubjEncode(b *bytes.Buffer, v any) {
	str := func(s string) {
		b.WriteByte('L')
		_ = binary.Write(b, binary.BigEndian, int64(len(s)))
		b.WriteString(s)
	}
	switch x := v.(type) {
	case nil:
		b.WriteByte('Z')
	case bool:
		if x {
			b.WriteByte('T')
		} else {
			b.WriteByte('F')
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<31 {
			b.WriteByte('l')
			_ = binary.Write(b, binary.BigEndian, int32(x))
		} else {
			b.WriteByte('d')
			_ = binary.Write(b, binary.BigEndian, float32(x))
		}
	case string:
		b.WriteByte('S')
		str(x)
	case []any:
		allNum := len(x) > 0
		for _, e := range x {
			if _, ok := e.(float64); !ok {
				allNum = false
			}
		}
		if allNum {
			b.WriteString("[$d#L")
			_ = binary.Write(b, binary.BigEndian, int64(len(x)))
			for _, e := range x {
				_ = binary.Write(b, binary.BigEndian, float32(e.(float64)))
			}
			return
		}
		b.WriteByte('[')
		for _, e := range x {
			ubjEncode(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{#L")
		_ = binary.Write(b, binary.BigEndian, int64(len(x)))
		for _, k := range keys {
			str(k)
			ubjEncode(b, x[k])
		}
	}
}

func TestUBJSONMatchesJSON(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(handModel), &v); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	ubjEncode(&b, v)
	mu, err := Parse(b.Bytes(), true)
	if err != nil {
		t.Fatal(err)
	}
	mj, _ := Parse([]byte(handModel), false)
	rows := [][]float32{{0, 0}, {1, -2}, {0.7, 0.1}}
	pu, pj := mu.Predict(rows), mj.Predict(rows)
	for i := range rows {
		if pu[i][0] != pj[i][0] {
			t.Errorf("row %d: UBJSON %v, JSON %v", i, pu[i][0], pj[i][0])
		}
	}
	// Every truncation is an error, never a panic or a hang.
	for n := 0; n < b.Len(); n += 7 {
		if _, err := Parse(b.Bytes()[:n], true); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

func TestBadModels(t *testing.T) {
	for _, c := range []struct{ name, edit, want string }{
		{"objective", `"binary:logistic"`, `"survival:nothing"`},
		{"cycle", `"left_children":[1,-1,-1]`, `"left_children":[0,-1,-1]`},
		{"categorical", `"split_type":[0,0,0],
    "tree_param":{"num_nodes":"3","num_feature":"2","size_leaf_vector":"0","num_deleted":"0"}}]`, `"split_type":[1,0,0],
    "tree_param":{"num_nodes":"3","num_feature":"2","size_leaf_vector":"0","num_deleted":"0"}}]`},
		{"group", `"tree_info":[0,0]`, `"tree_info":[0,1]`},
		{"gblinear", `"name":"gbtree"`, `"name":"gblinear"`},
	} {
		doc := strings.Replace(handModel, c.edit, c.want, 1)
		if doc == handModel {
			t.Fatalf("%s: edit did not apply", c.name)
		}
		if _, err := Parse([]byte(doc), false); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), `save_model("model.json")`) {
		t.Errorf("empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.bst"), []byte("binf\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), `booster.save_model("model.json")`) {
		t.Errorf("legacy model: %v", err)
	}
}

func TestServerAnswers(t *testing.T) {
	m, _ := Parse([]byte(handModel), false)
	srv := httptest.NewServer(NewServer(m).Handler())
	defer srv.Close()
	post := func(body string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+"/api/v1.0/predictions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post(`{"data":{"ndarray":[[0,0],[null,null]]}}`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	got := out["data"].(map[string]any)["ndarray"].([]any)
	for i, want := range []float64{sigmoid(-0.525), sigmoid(0.55)} {
		if math.Abs(got[i].(float64)-want) > 1e-6 {
			t.Errorf("row %d: %v, want %v", i, got[i], want)
		}
	}
	code, out = post(`{"data":{"tensor":{"shape":[1,2],"values":[1,-2]}}}`)
	tensor := out["data"].(map[string]any)["tensor"].(map[string]any)
	if code != 200 || math.Abs(tensor["values"].([]any)[0].(float64)-sigmoid(0.55)) > 1e-6 {
		t.Errorf("tensor: %d %v", code, out)
	}
	for _, bad := range []string{`{"data":{"ndarray":[["x"]]}}`, `{"data":{}}`, `{`, `{"data":{"ndarray":[[1,2,3]]}}`,
		// 2^32 * 2^32 wraps to 0 in an int64 product.
		`{"data":{"tensor":{"shape":[4294967296,4294967296],"values":[]}}}`,
		`{"data":{"tensor":{"shape":[2,2],"values":[1,2,3]}}}`} {
		if code, out := post(bad); code != 400 {
			t.Errorf("%s: status %d %v", bad, code, out)
		}
	}
}

// TestDifferentialPythonXGBoost trains models with the machine's XGBoost
// and compares sdep's predictions with Booster.predict's on JSON and
// UBJSON files.
func TestDifferentialPythonXGBoost(t *testing.T) {
	py := ""
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "python3")
		if _, err := os.Stat(p); err == nil && dir != "" && exec.Command(p, "-c", "import xgboost").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("no python3 on PATH imports xgboost: install Debian's python3-xgboost to run the differential test")
	}
	dir := t.TempDir()
	cmd := exec.Command(py, "testdata/train.py", dir)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("training: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Version string
		Rows    [][]*float64
		Cases   map[string]struct {
			Predictions []json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	t.Logf("XGBoost %s, %d cases, %d rows", exp.Version, len(exp.Cases), len(exp.Rows))
	rows := make([][]float32, len(exp.Rows))
	for i, r := range exp.Rows {
		rows[i] = make([]float32, len(r))
		for j, v := range r {
			if v == nil {
				rows[i][j] = float32(math.NaN())
			} else {
				rows[i][j] = float32(*v)
			}
		}
	}
	for name, c := range exp.Cases {
		for _, file := range []string{FileJSON, FileUBJSON} {
			m, err := LoadFile(filepath.Join(dir, name, file))
			if err != nil {
				t.Errorf("%s/%s: %v", name, file, err)
				continue
			}
			got := m.Predict(rows)
			worst := 0.0
			for i, p := range c.Predictions {
				var want []float64
				if err := json.Unmarshal(p, &want); err != nil {
					var one float64
					if err := json.Unmarshal(p, &one); err != nil {
						t.Fatalf("%s: prediction %s", name, p)
					}
					want = []float64{one}
				}
				if len(want) != len(got[i]) {
					t.Fatalf("%s/%s row %d: %d values, want %d", name, file, i, len(got[i]), len(want))
				}
				for k := range want {
					worst = max(worst, math.Abs(got[i][k]-want[k]))
				}
			}
			if worst > 1e-6 {
				t.Errorf("%s/%s: largest difference %g > 1e-6", name, file, worst)
			} else {
				t.Logf("%s/%s (%s): largest difference %g", name, file, m.Objective, worst)
			}
		}
	}
	if _, err := LoadDir(filepath.Join(dir, "legacy")); err == nil || !strings.Contains(err.Error(), `booster.save_model("model.json")`) {
		t.Errorf("legacy model.bst: %v", err)
	}
}

func TestBaseScoreForms(t *testing.T) {
	row := [][]float32{{0, 0}}
	var got []float64
	for _, bs := range []string{`"2E-1"`, `"[2E-1]"`, `[0.2]`} {
		m, err := Parse([]byte(strings.Replace(handModel, `"5E-1"`, bs, 1)), false)
		if err != nil {
			t.Fatalf("base_score %s: %v", bs, err)
		}
		got = append(got, m.Predict(row)[0][0])
	}
	want := sigmoid(math.Log(0.2/0.8) - 0.525)
	for i, g := range got {
		if math.Abs(g-want) > 1e-6 {
			t.Errorf("form %d: %v, want %v", i, g, want)
		}
	}
	if _, err := Parse([]byte(strings.Replace(handModel, `"5E-1"`, `"[0.2,0.3]"`, 1)), false); err == nil {
		t.Error("two base scores for one group: no error")
	}
	if _, err := Parse([]byte(strings.Replace(handModel, `"5E-1"`, `"1.5"`, 1)), false); err == nil {
		t.Error("base_score 1.5 under binary:logistic: no error")
	}
}
