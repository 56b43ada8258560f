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

// IsPrepackaged reports whether impl names a prepackaged model server: as
// in Seldon Core, every implementation that is neither empty,
// UNKNOWN_IMPLEMENTATION nor a built-in. SKLEARN_SERVER and the other
// upstream names are such servers, and so is any name an installation adds
// to its server table (LIGHTGBM_SERVER, ...); whether the table has an
// entry is validation's business.
func IsPrepackaged(impl sdepv1.PredictiveUnitImplementation) bool {
	return impl != "" && impl != sdepv1.UnknownImplementation && !IsBuiltin(impl)
}

// WellKnownServers are the prepackaged servers of Seldon Core's default
// server table, which sdep knows how to lay out.
var WellKnownServers = []sdepv1.PredictiveUnitImplementation{
	sdepv1.SKLearnServer, sdepv1.XGBoostServer, sdepv1.TensorflowServer, sdepv1.MLFlowServer,
	sdepv1.TritonServer, sdepv1.HuggingFaceServer, sdepv1.TempoServer,
}
