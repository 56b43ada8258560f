package operator

import (
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sdep-dev/sdep/internal/predictor"
)

// Environment variables of the executor container's default resources
// (Seldon Core's names).
const (
	EnvExecutorRequestCPU    = "EXECUTOR_REQUEST_RESOURCES_CPU"
	EnvExecutorRequestMemory = "EXECUTOR_REQUEST_RESOURCES_MEMORY"
	EnvExecutorLimitCPU      = "EXECUTOR_LIMIT_RESOURCES_CPU"
	EnvExecutorLimitMemory   = "EXECUTOR_LIMIT_RESOURCES_MEMORY"
)

// ExecutorResourceSettings are the executor container's resources when a
// predictor's svcOrchSpec sets none, as quantities in text (flags). An
// empty field takes its environment variable, else the built-in default
// (predictor.DefaultExecutorResources: requests 500m cpu and 512Mi memory,
// a 512Mi memory limit, no cpu limit).
type ExecutorResourceSettings struct {
	RequestCPU, RequestMemory, LimitCPU, LimitMemory string
}

// Requirements parses the settings, filling empty ones from getenv
// (os.Getenv when nil). A value that is not a quantity is an error naming
// its flag or variable.
func (s ExecutorResourceSettings) Requirements(getenv func(string) string) (corev1.ResourceRequirements, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	out := predictor.DefaultExecutorResources()
	for _, f := range []struct {
		value, flag, env string
		list             *corev1.ResourceList
		name             corev1.ResourceName
	}{
		{s.RequestCPU, "--executor-request-cpu", EnvExecutorRequestCPU, &out.Requests, corev1.ResourceCPU},
		{s.RequestMemory, "--executor-request-memory", EnvExecutorRequestMemory, &out.Requests, corev1.ResourceMemory},
		{s.LimitCPU, "--executor-limit-cpu", EnvExecutorLimitCPU, &out.Limits, corev1.ResourceCPU},
		{s.LimitMemory, "--executor-limit-memory", EnvExecutorLimitMemory, &out.Limits, corev1.ResourceMemory},
	} {
		v, from := f.value, f.flag
		if v == "" {
			v, from = getenv(f.env), "$"+f.env
		}
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return corev1.ResourceRequirements{}, fmt.Errorf("%s=%q is not a quantity: use a Kubernetes quantity such as 100m or 0.5 for cpu, 128Mi for memory", from, v)
		}
		if q.Sign() <= 0 {
			return corev1.ResourceRequirements{}, fmt.Errorf("%s=%q: the executor's %s must be more than 0 (leave it unset for the default)", from, v, f.name)
		}
		if *f.list == nil {
			*f.list = corev1.ResourceList{}
		}
		(*f.list)[f.name] = q
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := out.Requests[name]
		lim, hasLim := out.Limits[name]
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			return corev1.ResourceRequirements{}, fmt.Errorf("the executor's %s request %s is above its limit %s: lower the request (--executor-request-%s, $%s) or raise the limit (--executor-limit-%s, $%s)",
				name, req.String(), lim.String(), name, envFor(true, name), name, envFor(false, name))
		}
	}
	return out, nil
}

func envFor(request bool, name corev1.ResourceName) string {
	switch {
	case request && name == corev1.ResourceCPU:
		return EnvExecutorRequestCPU
	case request:
		return EnvExecutorRequestMemory
	case name == corev1.ResourceCPU:
		return EnvExecutorLimitCPU
	default:
		return EnvExecutorLimitMemory
	}
}
