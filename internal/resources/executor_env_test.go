package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// TestExecutorEnvLoggerAndEngineAnnotations: graphs that log get the
// default logger endpoint; spec.annotations seldon.io/engine-<x> become env
// vars; svcOrchSpec.env wins over both.
func TestExecutorEnvLoggerAndEngineAnnotations(t *testing.T) {
	logging := sdepv1.PredictiveUnit{Name: "a", Children: []sdepv1.PredictiveUnit{{Name: "b", Logger: &sdepv1.Logger{Mode: sdepv1.LogAll}}}}
	cases := []struct {
		name        string
		graph       sdepv1.PredictiveUnit
		annotations map[string]string
		own         []corev1.EnvVar
		endpoint    string
		want        []corev1.EnvVar
	}{
		{name: "no logger, no annotations", graph: sdepv1.PredictiveUnit{Name: "a"}},
		{name: "logger, default endpoint", graph: logging,
			want: []corev1.EnvVar{{Name: EnvLoggerDefaultEndpoint, Value: DefaultLoggerEndpoint}}},
		{name: "logger, operator's endpoint", graph: logging, endpoint: "http://broker.ns",
			want: []corev1.EnvVar{{Name: EnvLoggerDefaultEndpoint, Value: "http://broker.ns"}}},
		{name: "svcOrchSpec.env wins", graph: logging,
			annotations: map[string]string{"seldon.io/engine-log-level": "debug"},
			own:         []corev1.EnvVar{{Name: EnvLoggerDefaultEndpoint, Value: "http://mine"}, {Name: "LOG_LEVEL", Value: "info"}},
			want:        []corev1.EnvVar{{Name: EnvLoggerDefaultEndpoint, Value: "http://mine"}, {Name: "LOG_LEVEL", Value: "info"}}},
		{name: "engine annotations, sorted; separate-pod and invalid names left out", graph: sdepv1.PredictiveUnit{Name: "a"},
			annotations: map[string]string{
				"seldon.io/engine-java-opts": "-Xmx1g", "seldon.io/engine-a-b": "1", "seldon.io/engine-separate-pod": "true",
				"seldon.io/engine-": "x", "seldon.io/engine-9lives": "x", "seldon.io/engine-x.y": "x", "seldon.io/rest-timeout": "5",
			},
			want: []corev1.EnvVar{{Name: "A_B", Value: "1"}, {Name: "JAVA_OPTS", Value: "-Xmx1g"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sd := &sdepv1.SeldonDeployment{}
			sd.Name, sd.Namespace = "m", "ns"
			sd.Spec.Annotations = tc.annotations
			p := &sdepv1.PredictorSpec{Name: "p", Graph: tc.graph}
			if tc.own != nil {
				p.SvcOrchSpec = &sdepv1.SvcOrchSpec{Env: tc.own}
			}
			opts := DefaultOptions()
			opts.LoggerDefaultEndpoint = tc.endpoint
			c, err := MakeExecutorContainer(sd, p, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []corev1.EnvVar
			for _, e := range c.Env {
				if e.Name != EnvEnginePredictor && e.Name != EnvGoMemLimit {
					got = append(got, e)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("executor env (-want +got):\n%s", diff)
			}
		})
	}
}
