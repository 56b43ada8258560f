package xgboost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// decodeUBJSON decodes one UBJSON value (the Universal Binary JSON draft
// XGBoost writes with save_model("model.ubj")) into the same generic form
// encoding/json produces: map[string]any, []any, float64, string, bool and
// nil. Typed numeric arrays ([$d#L...) become []float64 directly so large
// trees do not allocate one interface per element.
//
// Every length is checked against the bytes left, so a corrupt file fails
// with an error instead of a huge allocation.
func decodeUBJSON(b []byte) (any, error) {
	d := &ubDecoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, fmt.Errorf("UBJSON at byte %d: %w", d.pos, err)
	}
	return v, nil
}

type ubDecoder struct {
	b     []byte
	pos   int
	depth int
}

const maxDepth = 64

var errTruncated = errors.New("unexpected end of data")

func (d *ubDecoder) byte() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, errTruncated
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

func (d *ubDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.pos {
		return nil, errTruncated
	}
	s := d.b[d.pos : d.pos+n]
	d.pos += n
	return s, nil
}

// marker returns the next type marker, skipping no-ops.
func (d *ubDecoder) marker() (byte, error) {
	for {
		c, err := d.byte()
		if err != nil || c != 'N' {
			return c, err
		}
	}
}

func elemSize(m byte) int {
	switch m {
	case 'i', 'U', 'C', 'T', 'F', 'Z':
		return 1
	case 'I':
		return 2
	case 'l', 'd':
		return 4
	case 'L', 'D':
		return 8
	}
	return 1 // variable-length types take at least one byte each
}

func (d *ubDecoder) number(m byte) (float64, error) {
	switch m {
	case 'i':
		b, err := d.take(1)
		if err != nil {
			return 0, err
		}
		return float64(int8(b[0])), nil
	case 'U':
		b, err := d.take(1)
		if err != nil {
			return 0, err
		}
		return float64(b[0]), nil
	case 'I':
		b, err := d.take(2)
		if err != nil {
			return 0, err
		}
		return float64(int16(binary.BigEndian.Uint16(b))), nil
	case 'l':
		b, err := d.take(4)
		if err != nil {
			return 0, err
		}
		return float64(int32(binary.BigEndian.Uint32(b))), nil
	case 'L':
		b, err := d.take(8)
		if err != nil {
			return 0, err
		}
		return float64(int64(binary.BigEndian.Uint64(b))), nil
	case 'd':
		b, err := d.take(4)
		if err != nil {
			return 0, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	case 'D':
		b, err := d.take(8)
		if err != nil {
			return 0, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("marker %q is not a number type", m)
}

// length reads a container or string length (an integer value).
func (d *ubDecoder) length() (int, error) {
	m, err := d.marker()
	if err != nil {
		return 0, err
	}
	switch m {
	case 'i', 'U', 'I', 'l', 'L':
	default:
		return 0, fmt.Errorf("marker %q is not an integer length", m)
	}
	n, err := d.number(m)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > float64(len(d.b)-d.pos) {
		return 0, fmt.Errorf("length %v exceeds the %d bytes left", n, len(d.b)-d.pos)
	}
	return int(n), nil
}

func (d *ubDecoder) str() (string, error) {
	n, err := d.length()
	if err != nil {
		return "", err
	}
	s, err := d.take(n)
	return string(s), err
}

func (d *ubDecoder) value() (any, error) {
	m, err := d.marker()
	if err != nil {
		return nil, err
	}
	return d.valueOf(m)
}

func (d *ubDecoder) valueOf(m byte) (any, error) {
	switch m {
	case 'Z':
		return nil, nil
	case 'T':
		return true, nil
	case 'F':
		return false, nil
	case 'i', 'U', 'I', 'l', 'L', 'd', 'D':
		return d.number(m)
	case 'C':
		b, err := d.take(1)
		return string(b), err
	case 'S', 'H':
		return d.str()
	case '[':
		return d.array()
	case '{':
		return d.object()
	}
	return nil, fmt.Errorf("unknown marker %q", m)
}

// header reads the optional $type and #count of a container.
func (d *ubDecoder) header() (typ byte, count int, err error) {
	count = -1
	if d.pos < len(d.b) && d.b[d.pos] == '$' {
		d.pos++
		if typ, err = d.byte(); err != nil {
			return
		}
		if d.pos >= len(d.b) || d.b[d.pos] != '#' {
			return 0, 0, errors.New("a typed container must give its count")
		}
	}
	if d.pos < len(d.b) && d.b[d.pos] == '#' {
		d.pos++
		if count, err = d.length(); err != nil {
			return
		}
		if typ != 0 && count > (len(d.b)-d.pos)/elemSize(typ) {
			return 0, 0, fmt.Errorf("count %d exceeds the bytes left", count)
		}
	}
	return
}

func (d *ubDecoder) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	return nil
}

func (d *ubDecoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	typ, count, err := d.header()
	if err != nil {
		return nil, err
	}
	switch typ {
	case 'i', 'U', 'I', 'l', 'L', 'd', 'D':
		out := make([]float64, count)
		for i := range out {
			if out[i], err = d.number(typ); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var out []any
	if count >= 0 {
		out = make([]any, 0, count)
	}
	for i := 0; count < 0 || i < count; i++ {
		m := typ
		if m == 0 {
			if m, err = d.marker(); err != nil {
				return nil, err
			}
			if count < 0 && m == ']' {
				break
			}
		}
		v, err := d.valueOf(m)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

func (d *ubDecoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	typ, count, err := d.header()
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for i := 0; count < 0 || i < count; i++ {
		if count < 0 {
			if d.pos < len(d.b) && d.b[d.pos] == '}' {
				d.pos++
				break
			}
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		m := typ
		if m == 0 {
			if m, err = d.marker(); err != nil {
				return nil, err
			}
		}
		v, err := d.valueOf(m)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}
