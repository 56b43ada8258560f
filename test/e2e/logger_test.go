package e2e

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
	"github.com/sdep-dev/sdep/internal/resources"
	"github.com/sdep-dev/sdep/internal/validation"
)

// A graph with a logger is admitted and its executor gets the default
// logger endpoint; spec.annotations seldon.io/engine-<x> become executor
// env vars.
func TestLoggerAndEngineAnnotationsReachTheExecutor(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, ns)
	sd := example(t, "seed-v1.yaml", ns)
	sd.Spec.Predictors[0].Graph.Logger = &sdepv1.Logger{Mode: sdepv1.LogAll}
	if sd.Spec.Annotations == nil {
		sd.Spec.Annotations = map[string]string{}
	}
	sd.Spec.Annotations["seldon.io/engine-log-level"] = "debug"
	if err := k8s.Create(context.Background(), sd); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = ns, deploymentName(sd)
	waitForObject(t, "executor env", d, func() error {
		env := map[string]string{}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != validation.ExecutorContainerName {
				continue
			}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
		}
		if env[resources.EnvLoggerDefaultEndpoint] != resources.DefaultLoggerEndpoint || env["LOG_LEVEL"] != "debug" {
			return fmt.Errorf("executor env %v", env)
		}
		return nil
	})
}
