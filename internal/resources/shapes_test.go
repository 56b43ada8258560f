package resources

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/servers"
	"github.com/sdep-dev/sdep/internal/validation"
)

// docShape is one row of the shapes upstream's example documents take:
// apiVersion, protocol, implementations other than UNKNOWN_IMPLEMENTATION,
// modelUri schemes and other features.
type docShape struct {
	api, protocol string
	impls         []string
	schemes       []string
	features      []string
}

// upstreamShapes is every shape of Seldon Core 1.18.2's example documents.
var upstreamShapes = []docShape{
	{"v1alpha2", "", nil, nil, nil},
	{"v1", "", nil, nil, nil},
	{"v1alpha2", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1", "", []string{"SKLEARN_SERVER"}, []string{"s3"}, []string{"no-componentSpecs"}},
	{"v1", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1", "", []string{"XGBOOST_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "", nil, nil, []string{"COMBINER"}},
	{"v1", "", nil, nil, []string{"COMBINER"}},
	{"v1", "", nil, nil, []string{"OUTPUT_TRANSFORMER", "TRANSFORMER"}},
	{"v1", "", nil, nil, []string{"ROUTER"}},
	{"v1", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"explainer", "no-componentSpecs"}},
	{"v1", "", nil, nil, []string{"hpaSpec"}},
	{"v1", "", nil, nil, []string{"pdbSpec"}},
	{"v1", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"COMBINER"}},
	{"v1", "tensorflow", nil, nil, nil},
	{"v1alpha2", "", nil, nil, []string{"TRANSFORMER"}},
	{"v1alpha2", "", nil, nil, []string{"logger"}},
	{"v1alpha2", "", []string{"AVERAGE_COMBINER", "RANDOM_ABTEST"}, nil, []string{"TRANSFORMER"}},
	{"v1alpha2", "", []string{"RANDOM_ABTEST"}, nil, nil},
	{"v1alpha2", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, nil},
	{"v1alpha2", "", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha3", "", nil, nil, nil},
	{"v1", "kfserving", []string{"TRITON_SERVER"}, []string{"s3"}, []string{"logger", "no-componentSpecs"}},
	{"v1", "", nil, nil, []string{"OUTPUT_TRANSFORMER"}},
	{"v1", "", nil, nil, []string{"TRANSFORMER"}},
	{"v1", "", nil, nil, []string{"kedaSpec"}},
	{"v1", "", nil, nil, []string{"traffic"}},
	{"v1", "", nil, nil, []string{"no-componentSpecs"}},
	{"v1", "", nil, nil, []string{"COMBINER", "no-componentSpecs"}},
	{"v1", "", []string{"SKLEARN_SERVER"}, []string{"mys3"}, []string{"no-componentSpecs"}},
	{"v1", "", []string{"SKLEARN_SERVER"}, []string{"path"}, nil},
	{"v1", "", []string{"SKLEARN_SERVER", "XGBOOST_SERVER"}, []string{"gs"}, []string{"no-componentSpecs", "traffic"}},
	{"v1", "", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, []string{"explainer", "no-componentSpecs"}},
	{"v1", "tensorflow", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, []string{"explainer", "logger", "no-componentSpecs"}},
	{"v1", "tensorflow", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, []string{"logger", "no-componentSpecs"}},
	{"v1", "v2", []string{"SKLEARN_SERVER"}, []string{"gs"}, nil},
	{"v1", "v2", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"explainer", "no-componentSpecs"}},
	{"v1", "v2", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1", "v2", []string{"TRITON_SERVER"}, []string{"gs"}, nil},
	{"v1", "v2", []string{"TRITON_SERVER"}, []string{"gs"}, []string{"explainer", "logger", "no-componentSpecs"}},
	{"v1alpha2", "kfserving", []string{"LIGHTGBM_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "kfserving", []string{"TRITON_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "", nil, nil, []string{"OUTPUT_TRANSFORMER"}},
	{"v1alpha2", "", nil, nil, []string{"ROUTER"}},
	{"v1alpha2", "", nil, nil, []string{"hpaSpec"}},
	{"v1alpha2", "", nil, nil, []string{"traffic"}},
	{"v1alpha2", "", []string{"AVERAGE_COMBINER"}, nil, nil},
	{"v1alpha2", "", []string{"LIGHTGBM_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "", []string{"MLFLOW_SERVER"}, []string{"gs"}, nil},
	{"v1alpha2", "", []string{"MLFLOW_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "", []string{"MLFLOW_SERVER"}, []string{"gs"}, []string{"no-componentSpecs", "traffic"}},
	{"v1alpha2", "", []string{"RANDOM_ABTEST"}, nil, []string{"TRANSFORMER"}},
	{"v1alpha2", "", []string{"SIMPLE_MODEL"}, nil, nil},
	{"v1alpha2", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"explainer"}},
	{"v1alpha2", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"explainer", "no-componentSpecs"}},
	{"v1alpha2", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"logger", "no-componentSpecs"}},
	{"v1alpha2", "", []string{"SKLEARN_SERVER"}, []string{"gs"}, []string{"no-componentSpecs", "shadow"}},
	{"v1alpha2", "", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, []string{"TRANSFORMER", "explainer"}},
	{"v1alpha2", "", []string{"TENSORFLOW_SERVER"}, []string{"pvc"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "tensorflow", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, nil},
	{"v1alpha2", "tensorflow", []string{"TENSORFLOW_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "v2", []string{"MLFLOW_SERVER"}, []string{"gs"}, []string{"no-componentSpecs"}},
	{"v1alpha2", "v2", []string{"TRITON_SERVER"}, []string{"gs"}, []string{"logger", "no-componentSpecs"}},
}

func (s docShape) has(f string) bool {
	for _, x := range s.features {
		if x == f {
			return true
		}
	}
	return false
}

func (s docShape) String() string {
	return strings.Join([]string{s.api, s.protocol, strings.Join(s.impls, "+"), strings.Join(s.schemes, "+"), strings.Join(s.features, "+")}, "/")
}

func modelURI(scheme, name string) string {
	switch scheme {
	case "path":
		return "/mnt/data/" + name
	case "mys3":
		return "mys3:bucket/" + name
	case "pvc":
		return "pvc://models/" + name
	}
	return scheme + "://bucket/" + name
}

// document writes a SeldonDeployment of shape s: its own names and images,
// one predictor per server when the shape splits traffic.
func (s docShape) document() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: machinelearning.seldon.io/%s\nkind: SeldonDeployment\nmetadata: {name: shape}\nspec:\n", s.api)
	if s.protocol != "" {
		fmt.Fprintf(&b, "  protocol: %s\n", s.protocol)
	}
	b.WriteString("  predictors:\n")
	var servers, builtins []string
	for _, impl := range s.impls {
		switch impl {
		case "AVERAGE_COMBINER", "RANDOM_ABTEST", "SIMPLE_MODEL":
			builtins = append(builtins, impl)
		default:
			servers = append(servers, impl)
		}
	}
	scheme := ""
	if len(s.schemes) > 0 {
		scheme = s.schemes[0]
	}
	logger := ""
	if s.has("logger") {
		logger = ", logger: {mode: all, url: http://logger.example}"
	}
	// The leaves: one per server, else a user container "model".
	type leaf struct{ yaml, container string }
	var leaves []leaf
	for k, impl := range servers {
		name := fmt.Sprintf("server-%d", k)
		leaves = append(leaves, leaf{yaml: fmt.Sprintf("{name: %s, implementation: %s, modelUri: %q%s}", name, impl, modelURI(scheme, name), logger)})
	}
	if len(leaves) == 0 {
		leaves = []leaf{{yaml: "{name: model, type: MODEL" + logger + "}", container: "model"}}
		if len(builtins) > 0 && builtins[0] == "SIMPLE_MODEL" {
			leaves = []leaf{{yaml: "{name: model, implementation: SIMPLE_MODEL}"}}
		}
	}
	predictors := [][]leaf{leaves}
	if s.has("traffic") && len(leaves) == 1 {
		predictors = [][]leaf{leaves, leaves}
	} else if s.has("traffic") {
		predictors = [][]leaf{leaves[:1], leaves[1:]}
	}
	if s.has("shadow") {
		predictors = [][]leaf{leaves, leaves}
	}
	for i, ls := range predictors {
		fmt.Fprintf(&b, "  - name: p%d\n", i)
		switch {
		case s.has("shadow") && i == 1:
			b.WriteString("    shadow: true\n")
		case s.has("traffic"):
			b.WriteString("    traffic: 50\n")
		}
		containers := []string{}
		for _, l := range ls {
			if l.container != "" {
				containers = append(containers, l.container)
			}
		}
		children := make([]string, len(ls))
		for k, l := range ls {
			children[k] = l.yaml
		}
		graph := children[0]
		wrap := func(name, kind, extra string, kids []string) string {
			return fmt.Sprintf("{name: %s, %s%s, children: [%s]}", name, kind, extra, strings.Join(kids, ", "))
		}
		kids := children
		switch {
		case len(builtins) > 0 && builtins[0] == "AVERAGE_COMBINER":
			if len(kids) == 1 {
				kids = []string{strings.Replace(kids[0], "name: model", "name: model-a", 1), strings.Replace(kids[0], "name: model", "name: model-b", 1)}
				containers = []string{"model-a", "model-b"}
			}
			graph = wrap("average", "implementation: AVERAGE_COMBINER", "", kids)
			if len(builtins) > 1 { // an A/B test between two averages
				graph = wrap("ab", "implementation: RANDOM_ABTEST", ", parameters: [{name: ratioA, type: FLOAT, value: '0.5'}]",
					[]string{graph, wrap("average-2", "implementation: AVERAGE_COMBINER", "", []string{strings.Replace(kids[0], "name: model-a", "name: model-c", 1)})})
				containers = append(containers, "model-c")
			}
		case len(builtins) > 0 && builtins[0] == "RANDOM_ABTEST":
			kids = []string{strings.Replace(kids[0], "name: model", "name: model-a", 1), strings.Replace(kids[0], "name: model", "name: model-b", 1)}
			containers = []string{"model-a", "model-b"}
			graph = wrap("ab", "implementation: RANDOM_ABTEST", ", parameters: [{name: ratioA, type: FLOAT, value: '0.5'}]", kids)
		case s.has("COMBINER"):
			graph = wrap("combiner", "type: COMBINER", "", kids)
			containers = append([]string{"combiner"}, containers...)
		case s.has("ROUTER"):
			graph = wrap("router", "type: ROUTER", "", kids)
			containers = append([]string{"router"}, containers...)
		}
		if s.has("OUTPUT_TRANSFORMER") {
			graph = wrap("output", "type: OUTPUT_TRANSFORMER", "", []string{graph})
			containers = append([]string{"output"}, containers...)
		}
		if s.has("TRANSFORMER") {
			graph = wrap("input", "type: TRANSFORMER", "", []string{graph})
			containers = append([]string{"input"}, containers...)
		}
		if len(containers) > 0 && !s.has("no-componentSpecs") {
			b.WriteString("    componentSpecs:\n    - ")
			switch {
			case s.has("hpaSpec"):
				b.WriteString("hpaSpec: {maxReplicas: 3, metrics: [{type: Resource, resource: {name: cpu, targetAverageUtilization: 70}}]}\n      ")
			case s.has("pdbSpec"):
				b.WriteString("pdbSpec: {minAvailable: 1}\n      ")
			case s.has("kedaSpec"):
				b.WriteString("kedaSpec: {maxReplicaCount: 3, triggers: [{type: prometheus, metadata: {serverAddress: 'http://prometheus.example:9090', query: 'sum(rate(x[1m]))', threshold: '10'}}]}\n      ")
			}
			b.WriteString("spec:\n        containers:\n")
			for _, c := range containers {
				fmt.Fprintf(&b, "        - {name: %s, image: example/%s:1, resources: {requests: {cpu: 100m}}}\n", c, c)
			}
		} else if len(servers) > 0 && !s.has("no-componentSpecs") {
			// The server's container written by the user, resources only.
			fmt.Fprintf(&b, "    componentSpecs:\n    - spec:\n        containers:\n        - {name: server-0, resources: {requests: {memory: 1Mi}}}\n")
		}
		if s.has("explainer") {
			b.WriteString("    explainer: {type: AnchorTabular, modelUri: 'gs://bucket/explainer'}\n")
		}
		fmt.Fprintf(&b, "    graph: %s\n", graph)
	}
	return b.String()
}

// Every shape of upstream's examples, written anew, validates and renders;
// a modelUri always has its storage initializer. Two shapes need what the
// reference says about them: LIGHTGBM_SERVER needs the installation's table
// entry, and a graph of UNKNOWN_IMPLEMENTATION nodes without containers
// (upstream's local executor samples) is refused as upstream's webhook does.
func TestUpstreamShapes(t *testing.T) {
	withLightGBM := servers.Defaults()
	withLightGBM.PredictorServers["LIGHTGBM_SERVER"] = servers.Server{Protocols: map[string]servers.ProtocolImage{
		"seldon": {Image: "example/lightgbm", DefaultImageVersion: "1"}, "kfserving": {Image: "example/lightgbm-v2", DefaultImageVersion: "1"}}}
	src := servers.NewSource(withLightGBM)
	for _, s := range upstreamShapes {
		t.Run(s.String(), func(t *testing.T) {
			text := s.document()
			docs, err := decode.Documents("shape.yaml", []byte(text))
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, text)
			}
			sd := docs[0].Object
			if len(s.impls) > 0 && s.impls[0] == "LIGHTGBM_SERVER" {
				err := validation.Validate(sd).Err()
				if err == nil || !strings.Contains(err.Error(), "No entry in predictors map for LIGHTGBM_SERVER") {
					t.Fatalf("with the default table: %v, want upstream's no-entry message", err)
				}
			}
			res := validation.ValidateWith(sd, validation.Policy{Servers: src})
			if s.has("no-componentSpecs") && len(s.impls) == 0 {
				if err := res.Err(); err == nil || !strings.Contains(err.Error(), "Can't find container for Predictive Unit") {
					t.Fatalf("errors %v, want upstream's refusal\n%s", err, text)
				}
				return
			}
			if err := res.Err(); err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			opts := testOptions()
			opts.Servers = src
			built, err := Build(sd, opts)
			if err != nil {
				t.Fatalf("Build: %v\n%s", err, text)
			}
			if _, err := built.YAML(); err != nil {
				t.Fatal(err)
			}
			inits := 0
			for _, d := range built.Deployments {
				inits += len(d.Spec.Template.Spec.InitContainers)
				for _, c := range d.Spec.Template.Spec.Containers {
					if c.Image == "" {
						t.Errorf("Deployment %s: container %s has no image", d.Name, c.Name)
					}
				}
			}
			if uris := strings.Count(text, "modelUri:"); uris > inits {
				t.Errorf("%d modelUris and %d storage initializers\n%s", uris, inits, text)
			}
		})
	}
	if len(upstreamShapes) != 63 {
		t.Errorf("%d shapes, want the reference's 63", len(upstreamShapes))
	}
}

// The documents upstream refuses are refused here too, each with the
// message upstream gives (or, for a field of the wrong type, the decoder's).
func TestUpstreamRefusals(t *testing.T) {
	const head = "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: refused}\nspec:\n  predictors:\n"
	model := "    componentSpecs: [{spec: {containers: [{name: model, image: example/model:1}]}}]\n    graph: {name: model}\n"
	for _, tt := range []struct{ name, doc, want string }{
		{"imagePullPolicy as a number", head + "  - name: p\n    componentSpecs: [{spec: {containers: [{name: model, image: example/model:1, imagePullPolicy: 1}]}}]\n    graph: {name: model}\n", "imagePullPolicy"},
		{"graph without a name", head + "  - name: p\n    graph: {implementation: SIMPLE_MODEL}\n", "graph.name"},
		{"two predictors with one name", head + "  - name: p\n    traffic: 50\n" + model + "  - name: p\n    traffic: 50\n" + model, "Duplicate predictor name"},
		{"a node without container or implementation", head + "  - name: p\n    graph: {name: lonely, type: MODEL}\n", "Can't find container for Predictive Unit"},
		{"traffic summing to 0", head + "  - name: a\n" + model + "  - name: b\n" + strings.Replace(model, "name: model", "name: model-b", 2), "Traffic must sum to 100"},
		{"a server without modelUri", head + "  - name: p\n    graph: {name: iris, implementation: SKLEARN_SERVER}\n", "Predictive unit modelUri required when using standalone servers"},
		{"a server under a protocol it does not speak", strings.Replace(head, "spec:\n", "spec:\n  protocol: tensorflow\n", 1) + "  - name: p\n    graph: {name: iris, implementation: XGBOOST_SERVER, modelUri: 'gs://b/m'}\n", "Prepackaged server does not handle tensorflow protocol XGBOOST_SERVER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := decode.Documents("refused.yaml", []byte(tt.doc))
			if err == nil {
				err = validation.Validate(docs[0].Object).Err()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q\n%s", err, tt.want, tt.doc)
			}
		})
	}
}
