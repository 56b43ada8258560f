package executor

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

// fastDecode is DecodeMessage's fast path: one pass over b that checks its
// JSON syntax and slices out the payload and meta fields without copying
// them (a RawMessage aliases b). It handles the messages clients and
// components actually send; anything where encoding/json's finer rules
// could matter (keys differing from a field name only in case, escaped or
// non-ASCII keys, duplicate fields, nulls where meta expects a value,
// escaped strings, routing values that are not plain int32, very deep
// nesting) or anything invalid makes it report false, and DecodeMessage
// decodes with encoding/json instead, which then also words the error.
// FuzzFastDecodeAgreesWithEncodingJSON holds the two to the same result.
func fastDecode(b []byte, m *Message) bool {
	s := scanner{b: b}
	s.ws()
	if !s.eat('{') {
		return false
	}
	var seen uint8
	ok := s.members(func(key []byte) bool {
		var dst *json.RawMessage
		var bit uint8
		switch string(key) {
		case "status":
			dst, bit = &m.Status, 1
		case "data":
			dst, bit = &m.Data, 2
		case "binData":
			dst, bit = &m.BinData, 4
		case "strData":
			dst, bit = &m.StrData, 8
		case "jsonData":
			dst, bit = &m.JSONData, 16
		case "customData":
			dst, bit = &m.CustomData, 32
		case "meta":
			if seen&64 != 0 {
				return false
			}
			seen |= 64
			return s.meta(&m.Meta)
		default:
			return !foldsTo(key, messageFields) && s.value(0)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		s.ws()
		start := s.i
		if !s.value(0) {
			return false
		}
		*dst = s.b[start:s.i:s.i]
		return true
	})
	if !ok {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

var (
	messageFields = []string{"status", "meta", "data", "binData", "strData", "jsonData", "customData"}
	metaFields    = []string{"puid", "tags", "routing", "requestPath", "metrics"}
)

// foldsTo reports whether key could be taken for one of the fields by
// encoding/json's case-insensitive match (exact matches are handled
// before): an ASCII key equal to a field but for case, or any non-ASCII
// key (Unicode folding, e.g. the Kelvin sign).
func foldsTo(key []byte, fields []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, f := range fields {
		if len(f) == len(key) && equalFoldASCII(f, key) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a string, b []byte) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (s *scanner) meta(m *Meta) bool {
	s.ws()
	if !s.eat('{') {
		return false // null or another kind: encoding/json decides
	}
	var seen uint8
	return s.members(func(key []byte) bool {
		var bit uint8
		var raw *json.RawMessage
		switch string(key) {
		case "puid":
			bit = 1
		case "tags":
			bit, raw = 2, &m.Tags
		case "routing":
			bit = 4
		case "requestPath":
			bit = 8
		case "metrics":
			bit, raw = 16, &m.Metrics
		default:
			return !foldsTo(key, metaFields) && s.value(0)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case 1:
			v, ok := s.plainString()
			m.Puid = v
			return ok
		case 4:
			return s.routing(m)
		case 8:
			return s.requestPath(m)
		}
		s.ws()
		start := s.i
		if !s.value(0) {
			return false
		}
		*raw = s.b[start:s.i:s.i]
		return true
	})
}

func (s *scanner) routing(m *Meta) bool {
	s.ws()
	if !s.eat('{') {
		return false
	}
	m.Routing = map[string]int32{}
	return s.members(func(key []byte) bool {
		if !utf8.Valid(key) {
			return false
		}
		s.ws()
		start := s.i
		s.eat('-')
		digits := s.i
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == digits || s.b[digits] == '0' && s.i-digits > 1 || s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
			return false
		}
		if s.i-digits > 10 {
			return false
		}
		var v int64
		for _, c := range s.b[digits:s.i] {
			v = v*10 + int64(c-'0')
		}
		if s.b[start] == '-' {
			v = -v
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return false
		}
		m.Routing[string(key)] = int32(v)
		return true
	})
}

func (s *scanner) requestPath(m *Meta) bool {
	s.ws()
	if !s.eat('{') {
		return false
	}
	m.RequestPath = map[string]string{}
	return s.members(func(key []byte) bool {
		if !utf8.Valid(key) {
			return false
		}
		v, ok := s.plainString()
		m.RequestPath[string(key)] = v
		return ok
	})
}

// scanner walks a JSON text; every method reports false on anything it
// does not accept.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// members reads an object's members after its '{', calling member with
// each key (positioned before the value, which member must consume), up to
// and including the closing '}'.
func (s *scanner) members(member func(key []byte) bool) bool {
	s.ws()
	if s.eat('}') {
		return true
	}
	for {
		s.ws()
		start := s.i
		plain, ok := s.string()
		if !ok || !plain {
			return false // escaped keys are left to encoding/json
		}
		key := s.b[start+1 : s.i-1]
		s.ws()
		if !s.eat(':') || !member(key) {
			return false
		}
		s.ws()
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// plainString reads a string value without escapes and valid UTF-8 (what
// encoding/json would return unchanged).
func (s *scanner) plainString() (string, bool) {
	s.ws()
	start := s.i
	plain, ok := s.string()
	if !ok || !plain || !utf8.Valid(s.b[start+1:s.i-1]) {
		return "", false
	}
	return string(s.b[start+1 : s.i-1]), true
}

// maxDepth bounds the nesting the fast path follows; deeper documents go to
// encoding/json (whose own limit is 10000).
const maxDepth = 1000

// value checks and skips one JSON value.
func (s *scanner) value(depth int) bool {
	s.ws()
	if s.i >= len(s.b) || depth > maxDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		return s.members(func([]byte) bool { return s.value(depth + 1) })
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
		}
	case c == '"':
		_, ok := s.string()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// string skips a string starting at s.i ('"'); plain reports that it has
// no escapes.
func (s *scanner) string() (plain, ok bool) {
	if !s.eat('"') {
		return false, false
	}
	plain = true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return plain, true
		case c < 0x20:
			return false, false
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(s.b) {
				return false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return false, false
					}
				}
				s.i += 5
			default:
				return false, false
			}
		default:
			s.i++
		}
	}
	return false, false
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) number() bool {
	s.eat('-')
	if s.eat('0') {
		// no further integer digits after a leading zero
	} else if !s.digits() {
		return false
	}
	if s.eat('.') && !s.digits() {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
