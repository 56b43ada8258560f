// Command crdtrim rewrites the SeldonDeployment CRD that controller-gen
// generates, for two things controller-gen cannot express:
//
//   - The graph is recursive. controller-gen emits children as a schemaless
//     list; crdtrim unrolls the node schema GraphSchemaLevels deep so the API
//     server validates and kubectl explains the first levels, and keeps deeper
//     levels with x-kubernetes-preserve-unknown-fields so nothing is pruned
//     (sdep's validator enforces the depth limit with a clear message instead).
//   - Size. Three served versions with a full PodSpec each exceed the
//     262,144-byte annotation that client-side kubectl apply writes. A few
//     large subtrees that sdep passes through untouched (pod volumes and
//     affinity, ephemeral containers, the explainer's container) are declared
//     as preserve-unknown objects: the API server keeps them as written, and
//     sdep's strict decoder (CLI and webhook) still checks them field by field.
//
// Usage: go run ./hack/crdtrim FILE (rewrites FILE in place).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"

	"sigs.k8s.io/yaml"
)

// GraphSchemaLevels is how many graph levels the CRD schema describes
// (upstream described 10).
const GraphSchemaLevels = 10

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdtrim CRD.yaml")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "crdtrim:", err)
		os.Exit(1)
	}
}

type object = map[string]any

func run(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd object
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return err
	}
	versions, _ := dig(crd, "spec", "versions").([]any)
	if len(versions) == 0 {
		return fmt.Errorf("%s: no spec.versions", path)
	}
	var first any
	for _, v := range versions {
		version := v.(object)
		predictor, ok := dig(version, "schema", "openAPIV3Schema", "properties", "spec",
			"properties", "predictors", "items", "properties").(object)
		if !ok {
			return fmt.Errorf("version %v: no predictors schema", version["name"])
		}
		if err := trimPredictor(predictor); err != nil {
			return fmt.Errorf("version %v: %w", version["name"], err)
		}
		schema := version["schema"]
		if first == nil {
			first = schema
		} else if !reflect.DeepEqual(first, schema) {
			return fmt.Errorf("version %v: schema differs from version %v; every served version must share one schema",
				version["name"], versions[0].(object)["name"])
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	compact, err := json.Marshal(crd)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crdtrim: %s: %d bytes as compact JSON\n", path, len(compact))
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

func trimPredictor(predictor object) error {
	graph, ok := predictor["graph"].(object)
	if !ok {
		return fmt.Errorf("no graph schema")
	}
	predictor["graph"] = unrollGraph(graph, GraphSchemaLevels)

	podSpec, ok := dig(predictor, "componentSpecs", "items", "properties", "spec", "properties").(object)
	if !ok {
		return fmt.Errorf("no componentSpecs[].spec schema")
	}
	for _, field := range []string{"volumes", "ephemeralContainers"} {
		if _, ok := podSpec[field]; !ok {
			return fmt.Errorf("componentSpecs[].spec.%s: not in schema", field)
		}
		podSpec[field] = looseList()
	}
	if _, ok := podSpec["affinity"]; !ok {
		return fmt.Errorf("componentSpecs[].spec.affinity: not in schema")
	}
	podSpec["affinity"] = looseObject()

	explainer, ok := dig(predictor, "explainer", "properties").(object)
	if !ok || explainer["containerSpec"] == nil {
		return fmt.Errorf("no explainer.containerSpec schema")
	}
	explainer["containerSpec"] = looseObject()
	return nil
}

// unrollGraph returns node's schema with children described levels-1 more
// levels deep; the last level's children are kept as written.
func unrollGraph(node object, levels int) object {
	unrolled := deepCopy(node)
	props := unrolled["properties"].(object)
	if levels <= 1 {
		props["children"] = looseList()
		return unrolled
	}
	props["children"] = object{
		"type":  "array",
		"items": unrollGraph(node, levels-1),
	}
	return unrolled
}

func looseObject() object {
	return object{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
}

func looseList() object {
	return object{"type": "array", "items": looseObject()}
}

func dig(o any, path ...string) any {
	for _, key := range path {
		m, ok := o.(object)
		if !ok {
			return nil
		}
		o = m[key]
	}
	return o
}

func deepCopy(o object) object {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // a schema decoded from YAML always re-encodes
	}
	var out object
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
