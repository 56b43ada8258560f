package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Message is a SeldonMessage as the REST walk sees it. Only what the walk
// reads or writes is parsed (meta's puid, routing and requestPath); the
// payload stays raw JSON, so the executor validates it but never rebuilds it.
type Message struct {
	Status     json.RawMessage `json:"status,omitempty"`
	Meta       Meta            `json:"meta"`
	Data       json.RawMessage `json:"data,omitempty"`
	BinData    json.RawMessage `json:"binData,omitempty"`
	StrData    json.RawMessage `json:"strData,omitempty"`
	JSONData   json.RawMessage `json:"jsonData,omitempty"`
	CustomData json.RawMessage `json:"customData,omitempty"`

	// routeArray is a router's answer when it was a bare JSON array.
	routeArray []int
}

// Meta is SeldonMessage.meta with tags and metrics kept raw.
type Meta struct {
	Puid        string            `json:"puid,omitempty"`
	Tags        json.RawMessage   `json:"tags,omitempty"`
	Routing     map[string]int32  `json:"routing,omitempty"`
	RequestPath map[string]string `json:"requestPath,omitempty"`
	Metrics     json.RawMessage   `json:"metrics,omitempty"`
}

// DecodeMessage parses and checks a SeldonMessage in its JSON form: the
// payload must be one of data, binData, strData, jsonData or customData, each
// of the right JSON kind.
func DecodeMessage(b []byte, m *Message) error {
	if len(b) == 0 {
		return errors.New("empty body: expected a SeldonMessage JSON object")
	}
	if saved := *m; !fastDecode(b, m) {
		*m = saved
		if err := json.Unmarshal(b, m); err != nil {
			return describeJSONError(err)
		}
	}
	if first(b) != '{' {
		return errors.New("expected a SeldonMessage JSON object")
	}
	return m.check()
}

func (m *Message) check() error {
	payloads := 0
	for _, p := range []struct {
		name string
		raw  *json.RawMessage
		kind byte // expected first byte; 0 = any JSON value
	}{
		{"data", &m.Data, '{'},
		{"binData", &m.BinData, '"'},
		{"strData", &m.StrData, '"'},
		{"jsonData", &m.JSONData, 0},
		{"customData", &m.CustomData, '{'},
	} {
		if isNull(*p.raw) {
			*p.raw = nil
			continue
		}
		payloads++
		if p.kind != 0 && first(*p.raw) != p.kind {
			return fmt.Errorf("%s: expected a JSON %s", p.name, kindName(p.kind))
		}
	}
	if payloads > 1 {
		return errors.New("only one of data, binData, strData, jsonData and customData may be set")
	}
	if isNull(m.Status) {
		m.Status = nil
	} else if first(m.Status) != '{' {
		return errors.New("status: expected a JSON object")
	}
	if isNull(m.Meta.Tags) {
		m.Meta.Tags = nil
	} else if first(m.Meta.Tags) != '{' {
		return errors.New("meta.tags: expected a JSON object")
	}
	if isNull(m.Meta.Metrics) {
		m.Meta.Metrics = nil
	} else if first(m.Meta.Metrics) != '[' {
		return errors.New("meta.metrics: expected a JSON array")
	}
	return nil
}

func kindName(b byte) string {
	switch b {
	case '{':
		return "object"
	case '"':
		return "string"
	case '[':
		return "array"
	}
	return "value"
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d: %w", syn.Offset, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field != "" {
			return fmt.Errorf("%s: cannot use a JSON %s here", typ.Field, typ.Value)
		}
		return fmt.Errorf("expected a SeldonMessage JSON object, got a JSON %s", typ.Value)
	}
	return err
}

// first returns the first non-space byte of a JSON text.
func first(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func isNull(b json.RawMessage) bool {
	return len(b) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

// graphPath is what the walk adds to the final message's meta: the branch
// each visited node took and the image serving it.
type graphPath struct {
	nodes  []*node
	routes []int32 // per node index; notVisited when the walk skipped it
}

// AppendJSON appends m's JSON form. When puid is not empty it replaces
// meta.puid; when path is not nil its routing and requestPath entries are
// merged over m's.
func (m *Message) appendJSON(b []byte, puid string, path *graphPath) []byte {
	b = append(b, '{')
	if m.Status != nil {
		b = append(b, `"status":`...)
		b = append(b, m.Status...)
		b = append(b, ',')
	}
	b = append(b, `"meta":{`...)
	mark := len(b)
	if puid == "" {
		puid = m.Meta.Puid
	}
	if puid != "" {
		b = append(b, `"puid":`...)
		b = appendString(b, puid)
		b = append(b, ',')
	}
	if m.Meta.Tags != nil {
		b = append(b, `"tags":`...)
		b = append(b, m.Meta.Tags...)
		b = append(b, ',')
	}
	b = appendRouting(b, m.Meta.Routing, path)
	b = appendRequestPath(b, m.Meta.RequestPath, path)
	if m.Meta.Metrics != nil {
		b = append(b, `"metrics":`...)
		b = append(b, m.Meta.Metrics...)
		b = append(b, ',')
	}
	if len(b) > mark {
		b = b[:len(b)-1] // trailing comma
	}
	b = append(b, '}')
	for _, p := range []struct {
		key string
		raw json.RawMessage
	}{
		{`,"data":`, m.Data},
		{`,"binData":`, m.BinData},
		{`,"strData":`, m.StrData},
		{`,"jsonData":`, m.JSONData},
		{`,"customData":`, m.CustomData},
	} {
		if p.raw != nil {
			b = append(b, p.key...)
			b = append(b, p.raw...)
		}
	}
	return append(b, '}')
}

func appendRouting(b []byte, theirs map[string]int32, path *graphPath) []byte {
	mark := len(b)
	b = append(b, `"routing":{`...)
	empty := len(b)
	if path != nil {
		for i, n := range path.nodes {
			if r := path.routes[i]; r != notVisited {
				b = appendString(b, n.name)
				b = append(b, ':')
				b = strconv.AppendInt(b, int64(r), 10)
				b = append(b, ',')
			}
		}
	}
	for _, k := range sortedKeys(theirs) {
		if path != nil && path.has(k) {
			continue
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(theirs[k]), 10)
		b = append(b, ',')
	}
	if len(b) == empty {
		return b[:mark]
	}
	b[len(b)-1] = '}'
	return append(b, ',')
}

func appendRequestPath(b []byte, theirs map[string]string, path *graphPath) []byte {
	mark := len(b)
	b = append(b, `"requestPath":{`...)
	empty := len(b)
	if path != nil {
		for i, n := range path.nodes {
			if path.routes[i] != notVisited {
				b = appendString(b, n.name)
				b = append(b, ':')
				b = appendString(b, n.image)
				b = append(b, ',')
			}
		}
	}
	for _, k := range sortedKeys(theirs) {
		if path != nil && path.has(k) {
			continue
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, theirs[k])
		b = append(b, ',')
	}
	if len(b) == empty {
		return b[:mark]
	}
	b[len(b)-1] = '}'
	return append(b, ',')
}

// has reports whether the walk visited a node of that name.
func (p *graphPath) has(name string) bool {
	for i, n := range p.nodes {
		if n.name == name && p.routes[i] != notVisited {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Feedback is a Feedback message in its JSON form. The walk needs only the
// routing recorded in response.meta; the body is forwarded as it came.
type Feedback struct {
	raw     []byte
	routing map[string]int32
}

type feedbackJSON struct {
	Request  json.RawMessage `json:"request"`
	Response *Message        `json:"response"`
	Reward   *float64        `json:"reward"`
	Truth    json.RawMessage `json:"truth"`
}

// DecodeFeedback parses and checks a Feedback message in its JSON form.
func DecodeFeedback(b []byte, fb *Feedback) error {
	if len(b) == 0 {
		return errors.New("empty body: expected a Feedback JSON object")
	}
	var f feedbackJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return describeJSONError(err)
	}
	if first(b) != '{' {
		return errors.New("expected a Feedback JSON object")
	}
	for _, p := range []struct {
		name string
		raw  json.RawMessage
	}{{"request", f.Request}, {"truth", f.Truth}} {
		if !isNull(p.raw) {
			var m Message
			if err := DecodeMessage(p.raw, &m); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	fb.raw = b
	fb.routing = nil
	if f.Response != nil {
		if err := f.Response.check(); err != nil {
			return fmt.Errorf("response: %w", err)
		}
		fb.routing = f.Response.Meta.Routing
	}
	return nil
}
