package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/models/sklearn"
	"github.com/sdep-dev/sdep/internal/models/xgboost"
	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/storage"
)

// Prepackaged model servers on one machine. A graph node whose
// implementation is a prepackaged server (SKLEARN_SERVER, XGBOOST_SERVER,
// ...) runs, per replica, as:
//
//	XGBOOST_SERVER (seldon protocol)   sdep model xgboost (native, no Python)
//	SKLEARN_SERVER (seldon protocol)   sdep model sklearn (sdep's runner, the user's python3 with scikit-learn)
//	any of them with protocol v2       mlserver start DIR (MLServer on PATH)
//	TENSORFLOW_SERVER (tensorflow)     tensorflow_model_server on PATH
//	TRITON_SERVER (v2)                 tritonserver on PATH
//
// after its modelUri was fetched into the model cache (internal/storage),
// the local stand-in of the storage initializer. --run and --endpoint for
// the node's container still take precedence.

// prepackagedImages are the images upstream 1.18.2's seldon-config gives
// the seldon protocol (a container sdep adds for a node that has none).
var prepackagedImages = map[sdepv1.PredictiveUnitImplementation]string{
	sdepv1.SKLearnServer:     "seldonio/sklearnserver:1.18.2",
	sdepv1.XGBoostServer:     "seldonio/xgboostserver:1.18.2",
	sdepv1.MLFlowServer:      "seldonio/mlflowserver:1.18.2",
	sdepv1.TensorflowServer:  "tensorflow/serving:2.1.0",
	sdepv1.TritonServer:      "nvcr.io/nvidia/tritonserver:21.08-py3",
	sdepv1.HuggingFaceServer: "seldonio/mlserver:1.3.5-huggingface",
	sdepv1.TempoServer:       "seldonio/mlserver:1.3.5-slim",
}

// withPrepackagedContainers returns sd, or a copy in which every
// prepackaged node without a container of its name gets one appended to
// its predictor's first componentSpec, and a same-named container without
// an image gets the server's, as upstream's defaulting does, so the shared
// builders give it ports, env and resources like any model container.
func withPrepackagedContainers(sd *sdepv1.SeldonDeployment) *sdepv1.SeldonDeployment {
	var out *sdepv1.SeldonDeployment
	copyOnce := func() *sdepv1.SeldonDeployment {
		if out == nil {
			out = sd.DeepCopy()
		}
		return out
	}
	for i := range sd.Spec.Predictors {
		p := &sd.Spec.Predictors[i]
		var units []*sdepv1.PredictiveUnit
		walkUnits(&p.Graph, func(u *sdepv1.PredictiveUnit) {
			if predictor.IsPrepackaged(u.Implementation) {
				units = append(units, u)
			}
		})
		for _, u := range units {
			found := false
			for k := range p.ComponentSpecs {
				for j, c := range p.ComponentSpecs[k].Spec.Containers {
					if c.Name != u.Name {
						continue
					}
					found = true
					if c.Image == "" {
						// Upstream's defaulting fills the image of the
						// node's own container when it has none.
						copyOnce().Spec.Predictors[i].ComponentSpecs[k].Spec.Containers[j].Image = prepackagedImages[u.Implementation]
					}
				}
			}
			if found {
				continue
			}
			op := &copyOnce().Spec.Predictors[i]
			if len(op.ComponentSpecs) == 0 {
				op.ComponentSpecs = []sdepv1.SeldonPodSpec{{}}
			}
			op.ComponentSpecs[0].Spec.Containers = append(op.ComponentSpecs[0].Spec.Containers,
				corev1.Container{Name: u.Name, Image: prepackagedImages[u.Implementation]})
		}
	}
	if out == nil {
		return sd
	}
	return out
}

func walkUnits(u *sdepv1.PredictiveUnit, f func(*sdepv1.PredictiveUnit)) {
	f(u)
	for i := range u.Children {
		walkUnits(&u.Children[i], f)
	}
}

// prepackagedUnit returns the prepackaged graph node a container serves,
// or nil.
func prepackagedUnit(p *sdepv1.PredictorSpec, container string) *sdepv1.PredictiveUnit {
	var found *sdepv1.PredictiveUnit
	walkUnits(&p.Graph, func(u *sdepv1.PredictiveUnit) {
		if found == nil && u.Name == container && predictor.IsPrepackaged(u.Implementation) {
			found = u
		}
	})
	return found
}

// modelCacheDir is where fetched modelUris are kept: Mappings.ModelCache,
// else the user's cache directory.
func modelCacheDir(m Mappings) string {
	if m.ModelCache != "" {
		return m.ModelCache
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sdep", "models")
	}
	return filepath.Join(os.TempDir(), "sdep-models")
}

var (
	cachesMu sync.Mutex
	caches   = map[string]*storage.Cache{}
)

// cacheFor returns the process's cache of dir, so concurrent plans fetch
// a URI once.
func cacheFor(dir string) *storage.Cache {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c
	}
	c := &storage.Cache{Dir: dir}
	caches[dir] = c
	return c
}

// lookPath finds a server binary, with the error naming what to install.
func lookPath(bin, impl, install string) (string, error) {
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s runs locally with %s, which is not on PATH: %s "+
			"(or give --run NAME='command' / --endpoint NAME=HOST:PORT)", impl, bin, install)
	}
	return p, nil
}

// planPrepackagedContainer plans ct when it serves a prepackaged node of
// predictor p and no --run or --endpoint names it; ok is false otherwise.
func planPrepackagedContainer(sd *sdepv1.SeldonDeployment, p int, ct *corev1.Container, m Mappings) (ContainerPlan, bool, error) {
	_, hasRun := m.Run[ct.Name]
	_, hasEndpoint := m.Endpoints[ct.Name]
	u := prepackagedUnit(&sd.Spec.Predictors[p], ct.Name)
	if u == nil || hasRun || hasEndpoint {
		return ContainerPlan{}, false, nil
	}
	cp, err := planPrepackaged(ct, u, sd.Spec.Protocol, m)
	return cp, true, err
}

// planPrepackaged decides how a prepackaged node's container runs, after
// fetching its modelUri.
func planPrepackaged(ct *corev1.Container, u *sdepv1.PredictiveUnit, protocol sdepv1.Protocol, m Mappings) (ContainerPlan, error) {
	cp := ContainerPlan{Name: ct.Name, Image: ct.Image, Env: ct.Env, Ports: ct.Ports, Requests: ct.Resources.Requests}
	impl := string(u.Implementation)
	if protocol == "" {
		protocol = sdepv1.ProtocolSeldon
	}
	type runner struct {
		bin, install string
		argv         func(bin, dir string) []string
	}
	var r runner
	v2 := protocol == sdepv1.ProtocolV2 || protocol == sdepv1.ProtocolKFServing
	mlserver := runner{"mlserver", "pip install mlserver and its runtime (mlserver-sklearn, mlserver-xgboost, mlserver-mlflow, mlserver-huggingface)",
		func(bin, dir string) []string {
			return []string{"/bin/sh", "-c", `MLSERVER_HTTP_PORT="$PREDICTIVE_UNIT_HTTP_SERVICE_PORT" ` +
				`MLSERVER_GRPC_PORT="$PREDICTIVE_UNIT_GRPC_SERVICE_PORT" MLSERVER_MODEL_NAME=` + shellQuote(u.Name) +
				` MLSERVER_MODEL_URI=` + shellQuote(dir) + ` MLSERVER_MODEL_IMPLEMENTATION=` + shellQuote(mlserverImplementation(u.Implementation)) +
				` exec ` + shellQuote(bin) + ` start ` + shellQuote(dir)}
		}}
	switch {
	case v2 && u.Implementation != sdepv1.TritonServer && u.Implementation != sdepv1.TensorflowServer:
		r = mlserver
	case u.Implementation == sdepv1.XGBoostServer && protocol == sdepv1.ProtocolSeldon:
		r = runner{argv: func(_, dir string) []string {
			return []string{m.Self, "model", "xgboost", "--model-dir", dir, "--host", "127.0.0.1"}
		}}
	case u.Implementation == sdepv1.SKLearnServer && protocol == sdepv1.ProtocolSeldon:
		r = runner{argv: func(_, dir string) []string {
			return []string{m.Self, "model", "sklearn", "--model-dir", dir, "--host", "127.0.0.1"}
		}}
		if _, err := sklearn.FindPython(); err != nil {
			return cp, err
		}
	case u.Implementation == sdepv1.TensorflowServer && protocol == sdepv1.ProtocolTensorflow:
		r = runner{"tensorflow_model_server", "install TensorFlow Serving (tensorflow-model-server)", func(bin, dir string) []string {
			return []string{"/bin/sh", "-c", `exec ` + shellQuote(bin) + ` --port="$PREDICTIVE_UNIT_GRPC_SERVICE_PORT" ` +
				`--rest_api_port="$PREDICTIVE_UNIT_HTTP_SERVICE_PORT" --model_name=` + shellQuote(u.Name) +
				` --model_base_path=` + shellQuote(dir)}
		}}
	case u.Implementation == sdepv1.TritonServer && v2:
		r = runner{"tritonserver", "install NVIDIA Triton Inference Server", func(bin, dir string) []string {
			return []string{"/bin/sh", "-c", `exec ` + shellQuote(bin) + ` --grpc-port="$PREDICTIVE_UNIT_GRPC_SERVICE_PORT" ` +
				`--http-port="$PREDICTIVE_UNIT_HTTP_SERVICE_PORT" --model-repository=` + shellQuote(dir) + ` --strict-model-config=false`}
		}}
	case u.Implementation == sdepv1.TensorflowServer:
		return cp, fmt.Errorf("%s with protocol %s: locally sdep runs TensorFlow Serving itself, which speaks the tensorflow protocol: "+
			"set spec.protocol: tensorflow (or give --run %s=... / --endpoint)", impl, protocol, ct.Name)
	default:
		return cp, fmt.Errorf("%s with protocol %s has no local server: set spec.protocol: v2 to run it with MLServer "+
			"(pip install mlserver), or give --run %s='command' / --endpoint %s=HOST:PORT", impl, protocol, ct.Name, ct.Name)
	}
	bin := ""
	if r.bin != "" {
		var err error
		if bin, err = lookPath(r.bin, impl, r.install); err != nil {
			return cp, err
		}
	}
	if u.ModelURI == "" {
		if u.Implementation != sdepv1.HuggingFaceServer {
			return cp, fmt.Errorf("graph node %s (%s): modelUri is required: give the model's path, file://, s3:// or gs:// URI", u.Name, impl)
		}
		// HuggingFace models may come from the hub (the pretrained_model
		// parameter): MLServer still wants a directory to start in.
		empty := filepath.Join(modelCacheDir(m), "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return cp, fmt.Errorf("model cache: %w", err)
		}
		cp.Command = r.argv(bin, empty)
		return cp, nil
	}
	ctx := m.Context
	if ctx == nil {
		ctx = context.Background()
	}
	dir, err := cacheFor(modelCacheDir(m)).Fetch(ctx, u.ModelURI, storage.Options{})
	if err != nil {
		return cp, fmt.Errorf("graph node %s: %w", u.Name, err)
	}
	// A model file the server cannot load fails here, naming the fix,
	// rather than as a replica that keeps exiting.
	switch {
	case r.bin != "":
	case u.Implementation == sdepv1.XGBoostServer:
		if _, err := xgboost.FindModel(dir); err != nil {
			return cp, fmt.Errorf("graph node %s (modelUri %s): %w", u.Name, u.ModelURI, err)
		}
	case u.Implementation == sdepv1.SKLearnServer:
		if _, err := os.Stat(filepath.Join(dir, "model.joblib")); err != nil {
			return cp, fmt.Errorf("graph node %s (modelUri %s): no model.joblib: SKLEARN_SERVER loads a model saved with joblib.dump(model, \"model.joblib\")", u.Name, u.ModelURI)
		}
	}
	cp.Command = r.argv(bin, dir)
	return cp, nil
}

func mlserverImplementation(impl sdepv1.PredictiveUnitImplementation) string {
	switch impl {
	case sdepv1.SKLearnServer:
		return "mlserver_sklearn.SKLearnModel"
	case sdepv1.XGBoostServer:
		return "mlserver_xgboost.XGBoostModel"
	case sdepv1.MLFlowServer:
		return "mlserver_mlflow.MLflowRuntime"
	case sdepv1.HuggingFaceServer:
		return "mlserver_huggingface.HuggingFaceRuntime"
	case sdepv1.TempoServer:
		return "tempo.mlserver.InferenceRuntime"
	}
	return ""
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
