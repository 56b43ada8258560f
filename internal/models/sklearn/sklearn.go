// Package sklearn runs SKLEARN_SERVER models with the user's own Python:
// sdep ships a small runner (runner.py, standard library HTTP server) that
// loads model.joblib with joblib, as upstream's SKLearnServer does, and
// answers the Seldon protocol's REST routes: predict_proba by default, or
// the method parameter's decision_function or predict.
package sklearn

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed runner.py
var runner []byte

// Runner returns the runner's source.
func Runner() []byte { return runner }

// Config is one server.
type Config struct {
	// Python is the interpreter; python3 on PATH when empty.
	Python string
	// ModelDir holds model.joblib.
	ModelDir string
	// Method is predict_proba (default), decision_function or predict.
	Method string
	Host   string
	Port   int
}

// MethodFromParameters returns the method parameter of
// PREDICTIVE_UNIT_PARAMETERS, and its model_uri.
func MethodFromParameters(js string) (method, modelURI string, err error) {
	if js == "" {
		return "", "", nil
	}
	var params []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal([]byte(js), &params); err != nil {
		return "", "", fmt.Errorf("PREDICTIVE_UNIT_PARAMETERS: %w", err)
	}
	for _, p := range params {
		switch p.Name {
		case "method":
			method = p.Value
		case "model_uri":
			modelURI = p.Value
		}
	}
	return method, modelURI, nil
}

// FindPython returns the first python3 on PATH that imports scikit-learn
// and joblib (a virtualenv's or pyenv's python3 may come before the
// system's, which has Debian's python3-sklearn). With none, the error
// names what to install, and which interpreters lack it.
func FindPython() (string, error) {
	var tried []string
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "python3")
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		if exec.Command(p, "-c", "import sklearn, joblib").Run() == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if len(tried) == 0 {
		return "", errors.New("SKLEARN_SERVER needs Python 3 with scikit-learn, and no python3 is on PATH: " +
			"install python3 and python3-sklearn (or pip install scikit-learn), or give --python PATH")
	}
	return "", fmt.Errorf("SKLEARN_SERVER needs scikit-learn, which none of the python3 on PATH imports (%s): "+
		"install python3-sklearn (Debian) or pip install scikit-learn joblib, or give --python PATH",
		strings.Join(tried, ", "))
}

// Command returns the Python command serving cfg. The runner's source is
// its -c argument: no file is written, so nothing another user can reach
// (a shared temporary directory) is ever run. The second argument is
// ignored; it once named the directory the runner was written to.
func Command(cfg Config, _ string) (*exec.Cmd, error) {
	var path string
	var err error
	if cfg.Python == "" {
		if path, err = FindPython(); err != nil {
			return nil, err
		}
	} else if path, err = exec.LookPath(cfg.Python); err != nil {
		return nil, fmt.Errorf("SKLEARN_SERVER needs Python 3 with scikit-learn: %s not found "+
			"(install python3 and python3-sklearn, or give --python PATH)", cfg.Python)
	}
	if cfg.ModelDir == "" {
		return nil, errors.New("no model directory: give --model-dir DIR (the directory holding model.joblib)")
	}
	if _, err := os.Stat(filepath.Join(cfg.ModelDir, "model.joblib")); err != nil {
		return nil, fmt.Errorf("no model.joblib in %s: SKLEARN_SERVER loads a model saved with joblib.dump(model, \"model.joblib\")", cfg.ModelDir)
	}
	method := cfg.Method
	if method == "" {
		method = "predict_proba"
	}
	host := cfg.Host
	if host == "" {
		host = "0.0.0.0"
	}
	cmd := exec.Command(path, "-u", "-c", string(runner), cfg.ModelDir, method, host, strconv.Itoa(cfg.Port))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return cmd, nil
}
