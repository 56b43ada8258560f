// Package decode reads SeldonDeployment documents strictly.
//
// Input is JSON or YAML, one document or a stream of them, in any served
// apiVersion (v1, v1alpha3, v1alpha2). Every field must be known: the API
// server would prune an unknown field silently, and a typo such as
// "hpaSpec" → "hpaSpecs" or "maxReplica" must never quietly drop
// autoscaling. Errors carry the document's source line and the field path.
package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"
	syaml "sigs.k8s.io/yaml"

	sdepv1 "github.com/sdep-dev/sdep/api/v1"
)

// Document is one decoded SeldonDeployment and where it came from.
type Document struct {
	// Object is the decoded SeldonDeployment; its apiVersion is normalised
	// to machinelearning.seldon.io/v1 (all served versions share one schema).
	Object *sdepv1.SeldonDeployment
	// APIVersion is the apiVersion as written.
	APIVersion string
	// Line is the 1-based line where the document starts in the input.
	Line int
	// Raw is the document as JSON.
	Raw []byte
	// Dropped are fields the decoder dropped with a warning: upstream samples'
	// endpoint.http_port and endpoint.grpc_port, which are no fields and
	// which Seldon Core drops silently.
	Dropped Errors

	tree *tree
}

// LineOf returns the input line of the field at path (as validation reports
// it, e.g. spec.predictors[0].hpaSpecs[0].scaleTargetRef.name), or of its
// closest enclosing field.
func (d Document) LineOf(path string) int {
	return chunk{startLine: d.Line, tree: d.tree}.lineOf(path)
}

// Error is one problem found while decoding, with its location.
type Error struct {
	// Source names the input (a file name, or "-" for stdin).
	Source string
	// Line is the 1-based input line, 0 when unknown.
	Line int
	// Field is the field path, e.g. spec.predictors[0].hpaSpecs[0].maxReplica.
	Field string
	// Message says what is wrong and, where possible, how to fix it.
	Message string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in an input.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// AcceptedAPIVersions lists the apiVersion values Documents accepts.
func AcceptedAPIVersions() []string {
	out := make([]string, len(sdepv1.ServedVersions))
	for i, v := range sdepv1.ServedVersions {
		out[i] = sdepv1.Group + "/" + v
	}
	return out
}

// MaxInputBytes is the largest input Documents accepts: 16 MiB. A
// SeldonDeployment is a few KiB; the cap keeps the memory decoding takes
// (about ten times the input's size for valid JSON) bounded, however large
// a file is.
const MaxInputBytes = 16 << 20

// Documents decodes every SeldonDeployment in data. source names the input
// in error messages. Empty documents are skipped; an input with none is an
// error. The returned error, if any, is of type Errors and lists every
// problem of every document. An input larger than MaxInputBytes is an
// error.
func Documents(source string, data []byte) ([]Document, error) {
	return DocumentsLimit(source, data, MaxInputBytes)
}

// DocumentsLimit is Documents with a size cap of maxBytes instead of
// MaxInputBytes.
func DocumentsLimit(source string, data []byte, maxBytes int) ([]Document, error) {
	if len(data) > maxBytes {
		return nil, Errors{{Source: source, Message: fmt.Sprintf(
			"the input is %s, larger than the %s sdep reads per file: a SeldonDeployment is a few KiB, so check that this is the right file, or split it into several",
			byteSize(len(data)), byteSize(maxBytes))}}
	}
	chunks, err := split(data)
	if err != nil {
		return nil, Errors{{Source: source, Line: lineOf(err), Message: err.Error()}}
	}
	var docs []Document
	var errs Errors
	for _, c := range chunks {
		doc, derrs := decodeOne(c)
		for i := range derrs {
			derrs[i].Source = source
		}
		errs = append(errs, derrs...)
		if doc != nil {
			docs = append(docs, *doc)
		}
	}
	if len(errs) > 0 {
		return docs, errs
	}
	if len(docs) == 0 {
		return nil, Errors{{Source: source, Message: "no SeldonDeployment found (the input is empty)"}}
	}
	return docs, nil
}

// chunk is one document of the input: its JSON form and a parsed YAML node
// tree used to find the line of a field.
type chunk struct {
	startLine int
	json      []byte
	tree      *tree
	err       error
}

// tree is a document's YAML node tree, which maps a field path to its
// line. For JSON input it is parsed only when a line is asked for: the
// node tree takes many times the input's memory, and a valid document
// without warnings never needs it.
type tree struct {
	once sync.Once
	src  []byte
	node *yaml.Node
}

// parsed returns a tree already built.
func parsed(node *yaml.Node) *tree {
	t := &tree{node: node}
	t.once.Do(func() {})
	return t
}

func (t *tree) root() *yaml.Node {
	if t == nil {
		return nil
	}
	t.once.Do(func() {
		var node yaml.Node
		if yaml.Unmarshal(t.src, &node) == nil {
			t.node = &node
		}
		t.src = nil
	})
	return t.node
}

type lineError struct {
	line int
	msg  string
}

func (e lineError) Error() string { return e.msg }

func lineOf(err error) int {
	var le lineError
	if errors.As(err, &le) {
		return le.line
	}
	return 0
}

// split cuts the input into documents: a JSON stream ({...}{...}) or a YAML
// stream separated by "---" lines.
func split(data []byte) ([]chunk, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return splitJSON(data)
	}
	return splitYAML(data), nil
}

func splitJSON(data []byte) ([]chunk, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []chunk
	for {
		start := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The decoder reports no offset: the input ended inside a value.
			end := int64(len(bytes.TrimRight(data, " \t\r\n")))
			line, col := position(data, end)
			return nil, lineError{line: line, msg: fmt.Sprintf("invalid JSON at line %d column %d: the input ends inside a document: it is cut off, or a closing } or ] or \" is missing", line, col)}
		}
		if err != nil {
			line, col := position(data, errorOffset(err, dec.InputOffset()))
			return nil, lineError{line: line, msg: fmt.Sprintf("invalid JSON at line %d column %d: %s", line, col, strings.TrimPrefix(err.Error(), "json: "))}
		}
		// Skip the whitespace between documents to find the opening brace.
		off := int(start)
		for off < len(data) && strings.ContainsRune(" \t\r\n", rune(data[off])) {
			off++
		}
		line, _ := position(data, int64(off))
		out = append(out, chunk{startLine: line, json: raw, tree: &tree{src: raw}})
	}
}

func errorOffset(err error, fallback int64) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset - 1 // Offset counts the offending byte as read
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Offset
	}
	return fallback
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

var separator = regexp.MustCompile(`^---(\s.*)?$`)

func splitYAML(data []byte) []chunk {
	lines := strings.SplitAfter(string(data), "\n")
	var out []chunk
	var cur strings.Builder
	start := 1
	flush := func() {
		text := cur.String()
		cur.Reset()
		if strings.TrimSpace(stripComments(text)) == "" {
			return
		}
		c := chunk{startLine: start}
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(text), &node); err != nil {
			c.err = shiftYAMLError(err, start)
			out = append(out, c)
			return
		}
		c.tree = parsed(&node)
		j, err := syaml.YAMLToJSONStrict([]byte(text))
		if err != nil {
			c.err = shiftYAMLError(err, start)
		}
		c.json = j
		out = append(out, c)
	}
	for i, l := range lines {
		if separator.MatchString(strings.TrimRight(l, "\r\n")) {
			flush()
			start = i + 2
			continue
		}
		cur.WriteString(l)
	}
	flush()
	return out
}

func stripComments(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String()
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// shiftYAMLError rewrites "line N" in a YAML parser message, counted from the
// start of a document, into a line of the whole input.
func shiftYAMLError(err error, start int) error {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	msg = yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
		line = n + start - 1
		return "line " + strconv.Itoa(line)
	})
	return lineError{line: line, msg: "invalid YAML: " + msg}
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

var strictField = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)

// droppedField matches the unknown fields upstream's samples carry and
// upstream drops: they are warned about, not refused.
var droppedField = regexp.MustCompile(`(^|\.)endpoint\.(http|grpc)_port$`)

func decodeOne(c chunk) (*Document, Errors) {
	if c.err != nil {
		return nil, Errors{{Line: lineOf(c.err), Message: c.err.Error()}}
	}
	var tm typeMeta
	if err := json.Unmarshal(c.json, &tm); err != nil {
		return nil, Errors{{Line: c.startLine, Message: "a document must be an object with apiVersion and kind: " + strings.TrimPrefix(err.Error(), "json: ")}}
	}
	var errs Errors
	if tm.Kind != "SeldonDeployment" {
		errs = append(errs, Error{Line: c.lineOf("kind"), Field: "kind",
			Message: fmt.Sprintf("%q is not supported: want SeldonDeployment", tm.Kind)})
	}
	if !accepted(tm.APIVersion) {
		errs = append(errs, Error{Line: c.lineOf("apiVersion"), Field: "apiVersion",
			Message: fmt.Sprintf("%q is not supported: want one of %s", tm.APIVersion, strings.Join(AcceptedAPIVersions(), ", "))})
	}
	if len(errs) > 0 {
		return nil, errs
	}

	obj := &sdepv1.SeldonDeployment{}
	strictErrs, err := kjson.UnmarshalStrict(c.json, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		if qerrs := c.quantityErrors(); len(qerrs) > 0 {
			return nil, qerrs
		}
		return nil, Errors{c.typeError(err)}
	}
	var warns Errors
	for _, se := range strictErrs {
		m := strictField.FindStringSubmatch(se.Error())
		if m == nil {
			errs = append(errs, Error{Line: c.startLine, Message: se.Error()})
			continue
		}
		field := m[2]
		if m[1] == "unknown" && droppedField.MatchString(field) {
			warns = append(warns, Error{Line: c.lineOf(field), Field: field,
				Message: "not a field: dropped, as Seldon Core drops it (the endpoint's ports come from the container's ports named http and grpc)"})
			continue
		}
		msg := "unknown field: it is not part of the SeldonDeployment schema (check the spelling; sdep never ignores a field)"
		if m[1] == "duplicate" {
			msg = "duplicate field: it appears twice in the same object"
		}
		errs = append(errs, Error{Line: c.lineOf(field), Field: field, Message: msg})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sort.SliceStable(warns, func(i, j int) bool { return warns[i].Line < warns[j].Line })
	obj.APIVersion = sdepv1.GroupVersion.String()
	obj.Kind = "SeldonDeployment"
	return &Document{Object: obj, APIVersion: tm.APIVersion, Line: c.startLine, Raw: c.json, Dropped: warns, tree: c.tree}, nil
}

// byteSize prints n in MiB when it is at least one, else in bytes.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

func accepted(apiVersion string) bool {
	for _, v := range AcceptedAPIVersions() {
		if apiVersion == v {
			return true
		}
	}
	return false
}

var goTypeError = regexp.MustCompile(`^json: cannot unmarshal (\S+) into Go (?:struct field|value of type) (?:\S+?\.)?(\S+) of type (\S+)$`)

// typeError turns a JSON type mismatch into an Error naming the field path,
// list indices included, what was found and what the field takes.
func (c chunk) typeError(err error) Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		// The decoder names the field without list indices
		// (spec.predictors.replicas): find the value it stopped at.
		field, found, line := te.Field, "a JSON "+te.Value, c.lineOfLoose(te.Field)
		if path, text, ok := valueAt(c.json, te.Offset); ok && sameField(path, te.Field) {
			field, found, line = path, text, c.lineOf(path)
		}
		return Error{Line: line, Field: field,
			Message: fmt.Sprintf("cannot use %s here: want %s", found, wanted(te.Type))}
	}
	if m := goTypeError.FindStringSubmatch(err.Error()); m != nil {
		return Error{Line: c.lineOfLoose(m[2]), Field: m[2],
			Message: fmt.Sprintf("cannot use a JSON %s here: want %s", m[1], jsonKind(m[3]))}
	}
	return Error{Line: c.startLine, Message: strings.TrimPrefix(err.Error(), "json: ")}
}

// sameField reports whether path (with list indices) is the field the
// decoder names loose (without indices, and without the key of a map
// entry: the path then goes on below it).
func sameField(path, loose string) bool {
	p := indices.ReplaceAllString(path, "")
	return p == loose || strings.HasPrefix(p, loose+".") || strings.HasPrefix(p, loose+"[")
}

// quantityErrors names every quantity (resources, HPA targets, ...) of the
// document that does not parse: resource.Quantity's own error names neither
// the field nor the value.
func (c chunk) quantityErrors() Errors {
	dec := json.NewDecoder(bytes.NewReader(c.json))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	var errs Errors
	for _, q := range badQuantities(v, reflect.TypeFor[sdepv1.SeldonDeployment](), "") {
		errs = append(errs, Error{Line: c.lineOf(q.path), Field: q.path,
			Message: fmt.Sprintf("%s is not a quantity: want a number with an optional unit, such as 500m, 0.5, 2, 128Mi or 1Gi", q.value)})
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"), goType == "slice":
		return "a list"
	case strings.HasPrefix(goType, "map"), goType == "struct", goType == "map":
		return "an object"
	}
	return goType
}
