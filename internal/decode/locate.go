package decode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// valueAt returns the field path, with list indices, of the JSON value that
// ends at or just after byte offset of data (where encoding/json reports a
// type mismatch), and the value's text. ok is false when no value is found.
func valueAt(data []byte, offset int64) (path, text string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// Each frame is an open object or list: for an object, key is the key
	// of the value being read; for a list, index counts the values read.
	type frame struct {
		list  bool
		key   string
		index int
		keyed bool // an object's next token is a value
	}
	var stack []*frame
	pathOf := func() string {
		path := ""
		for _, f := range stack {
			if f.list {
				path += fmt.Sprintf("[%d]", f.index)
			} else {
				path = join(path, f.key)
			}
		}
		return path
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false
		}
		if d, isDelim := tok.(json.Delim); isDelim && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				if top.list {
					top.index++
				} else {
					top.keyed = false
				}
			}
			continue
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if !top.list && !top.keyed {
				top.key, top.keyed = tok.(string), true
				continue
			}
		}
		// tok is a value: a scalar or the start of an object or list.
		end := dec.InputOffset()
		if end >= offset-1 {
			return pathOf(), describe(tok), true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{list: true})
			continue
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.list {
				top.index++
			} else {
				top.keyed = false
			}
		}
	}
}

// describe names a JSON token as a message shows what was found.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "a list"
		}
		return "an object"
	case string:
		if len(t) > 40 {
			t = t[:40] + "..."
		}
		return "the string " + strconv.Quote(t)
	case json.Number:
		return "the number " + t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

var indices = regexp.MustCompile(`\[\d+\]`)

// wanted says, for a Go type, what JSON a field of that type takes.
func wanted(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		bits := t.Bits()
		return fmt.Sprintf("a whole number from %d to %d", -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		if t.Bits() == 64 {
			return "a whole number from 0 to 18446744073709551615"
		}
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

var (
	quantityType    = reflect.TypeFor[resource.Quantity]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// badQuantity is a quantity field whose value does not parse.
type badQuantity struct {
	path, value string
}

// badQuantities walks v, a document decoded into generic JSON values, along
// the Go type t, and returns every resource.Quantity field whose value does
// not parse, in document order.
func badQuantities(v any, t reflect.Type, path string) []badQuantity {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil
	}
	if t == quantityType {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		default:
			return []badQuantity{{path, describe(jsonToken(x))}}
		}
		if _, err := resource.ParseQuantity(s); err != nil {
			text := describe(s)
			if _, num := v.(json.Number); num {
				text = "the number " + s
			}
			return []badQuantity{{path, text}}
		}
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // its own format (IntOrString, Time, RawExtension, ...)
	}
	var out []badQuantity
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			if ft, ok := fields[k]; ok {
				out = append(out, badQuantities(obj[k], ft, join(path, k))...)
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for _, k := range sortedKeys(obj) {
			out = append(out, badQuantities(obj[k], t.Elem(), join(path, k))...)
		}
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, item := range list {
			out = append(out, badQuantities(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func jsonToken(v any) json.Token {
	switch v.(type) {
	case map[string]any:
		return json.Delim('{')
	case []any:
		return json.Delim('[')
	}
	return v
}

// join appends an object key to a field path: .key, or [key] for a key
// with a dot or a bracket (annotations[seldon.io/svc-name]), as the
// validator writes such paths.
func join(path, key string) string {
	switch {
	case strings.ContainsAny(key, ".[]"):
		return path + "[" + key + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

// sortedKeys returns an object's keys sorted, so errors come in a stable
// order (the field's line is looked up separately).
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonFields maps the JSON names of a struct's fields, embedded structs'
// inlined fields included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, shadowed := out[k]; !shadowed {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
