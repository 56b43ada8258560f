package predictor

import sdepv1 "github.com/sdep-dev/sdep/api/v1"

// IsBuiltin reports whether the executor itself implements the node.
func IsBuiltin(impl sdepv1.PredictiveUnitImplementation) bool {
	switch impl {
	case sdepv1.SimpleModel, sdepv1.SimpleRouter, sdepv1.RandomABTest, sdepv1.AverageCombiner:
		return true
	}
	return false
}

// IsPrepackaged reports whether impl names a prepackaged model server.
func IsPrepackaged(impl sdepv1.PredictiveUnitImplementation) bool {
	switch impl {
	case sdepv1.SKLearnServer, sdepv1.XGBoostServer, sdepv1.TensorflowServer, sdepv1.MLFlowServer,
		sdepv1.TritonServer, sdepv1.HuggingFaceServer, sdepv1.TempoServer:
		return true
	}
	return false
}
