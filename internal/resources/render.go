package resources

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// YAML renders every object (in All's order) as a multi-document YAML
// stream that `kubectl apply -f -` accepts: each document starts with
// "---", has apiVersion and kind, and has no status.
func (o *Objects) YAML() ([]byte, error) {
	var out bytes.Buffer
	for _, obj := range o.All() {
		doc, err := objectYAML(obj)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
		out.WriteString("---\n")
		out.Write(doc)
	}
	return out.Bytes(), nil
}

// objectYAML renders one object without its status: a desired object has
// none, but typed objects would print an empty (or, for HPAs and PDBs,
// zero-filled) one.
func objectYAML(obj any) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	delete(fields, "status")
	data, err = json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(data)
}
