package resources

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/sdep-dev/sdep/internal/predictor"
	"github.com/sdep-dev/sdep/internal/servers"
	"github.com/sdep-dev/sdep/internal/version"
)

// Options are the installation-wide settings the builders depend on. Empty
// fields take DefaultOptions' values, so the zero value is usable.
type Options struct {
	// ExecutorImage runs the executor container (`sdep executor`); the
	// operator's --executor-image flag sets it.
	ExecutorImage string
	// ExecutorPullPolicy is the executor container's imagePullPolicy.
	ExecutorPullPolicy corev1.PullPolicy
	// ExecutorResources are the executor container's resources when the
	// predictor's svcOrchSpec (or engineResources) sets none; nil means
	// predictor.DefaultExecutorResources. The operator's
	// EXECUTOR_{REQUEST,LIMIT}_RESOURCES_{CPU,MEMORY} settings set it.
	ExecutorResources *corev1.ResourceRequirements
	// LoggerDefaultEndpoint is where executors send payload-log events of
	// nodes whose graph.logger has no url (env
	// REQUEST_LOGGER_DEFAULT_ENDPOINT); the operator's
	// --executor-request-logger-default-endpoint sets it.
	LoggerDefaultEndpoint string
	// Servers is the prepackaged-server table (images, storage
	// initializer, explainer); nil means the compiled-in table. The
	// operator swaps its content when the seldon-config ConfigMap changes.
	Servers *servers.Source
	// DefaultEnvSecretRefName is the secret storage initializers take
	// their environment from when the node names none
	// (PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME upstream).
	DefaultEnvSecretRefName string
	// Predictor holds the port bases, executor ports and cluster domain
	// that defaulting and the builders use.
	Predictor predictor.Options
}

// DefaultOptions returns the image of this sdep build (sdep:<version>),
// pull policy IfNotPresent, predictor.DefaultExecutorResources and
// predictor.DefaultOptions.
func DefaultOptions() Options {
	res := predictor.DefaultExecutorResources()
	return Options{
		ExecutorImage:         version.Image(),
		ExecutorPullPolicy:    corev1.PullIfNotPresent,
		ExecutorResources:     &res,
		LoggerDefaultEndpoint: DefaultLoggerEndpoint,
		Predictor:             predictor.DefaultOptions(),
	}
}

// complete fills every empty field from DefaultOptions.
func (o Options) complete() Options {
	d := DefaultOptions()
	if o.ExecutorImage == "" {
		o.ExecutorImage = d.ExecutorImage
	}
	if o.ExecutorPullPolicy == "" {
		o.ExecutorPullPolicy = d.ExecutorPullPolicy
	}
	if o.ExecutorResources == nil {
		o.ExecutorResources = d.ExecutorResources
	}
	if o.LoggerDefaultEndpoint == "" {
		o.LoggerDefaultEndpoint = DefaultLoggerEndpoint
	}
	o.Predictor = o.Predictor.Complete()
	return o
}
