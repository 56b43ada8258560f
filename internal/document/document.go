// Package document reads SeldonDeployment documents as users hand them to
// sdep — a file, standard input, or an edit of a served file — and reports
// what is wrong with them in one form, FILE:LINE: FIELD: MESSAGE, whoever
// asks: sdep validate, sdep render, sdep serve and its live edits.
package document

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sdep-dev/sdep/internal/decode"
	"github.com/sdep-dev/sdep/internal/validation"
)

// Checked is one decoded document and what the validator found in it.
type Checked struct {
	decode.Document
	validation.Result
}

// ErrReported is returned when every problem has already been written to
// the report writer: the caller exits non-zero without printing more.
var ErrReported = errors.New("problems reported")

// Read returns the bytes of name: standard input for "-". It reads at most
// one byte more than decode.MaxInputBytes, so a huge file costs no more
// memory than the decoder's own size check needs to refuse it.
func Read(stdin io.Reader, name string) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	return io.ReadAll(io.LimitReader(r, decode.MaxInputBytes+1))
}

// Check decodes every document in data strictly and validates each. It
// writes each warning and error to report at the line of its field, and
// returns ErrReported when any document could not be decoded or has
// errors. The documents are returned either way (none when decoding failed),
// so a caller can summarise the valid ones.
func Check(report io.Writer, name string, data []byte) ([]Checked, error) {
	docs, err := decode.Documents(name, data)
	if err != nil {
		fmt.Fprintln(report, err)
		return nil, ErrReported
	}
	out := make([]Checked, len(docs))
	failed := false
	for i, d := range docs {
		res := validation.Validate(d.Object)
		for _, w := range d.Dropped {
			fmt.Fprintf(report, "%s:%d: warning: %s: %s\n", name, w.Line, w.Field, w.Message)
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(report, "%s:%d: warning: %s\n", name, d.LineOf(w.Field), w.Error())
		}
		for _, e := range res.Errors {
			fmt.Fprintf(report, "%s:%d: %s\n", name, d.LineOf(e.Field), e.Error())
		}
		failed = failed || len(res.Errors) > 0
		out[i] = Checked{Document: d, Result: res}
	}
	if failed {
		return out, ErrReported
	}
	return out, nil
}

// Load reads name (standard input for "-") and Checks it; a file that
// cannot be read is reported as "name: error".
func Load(report io.Writer, stdin io.Reader, name string) ([]Checked, error) {
	data, err := Read(stdin, name)
	if err != nil {
		fmt.Fprintf(report, "%s: %v\n", name, err)
		return nil, ErrReported
	}
	return Check(report, name, data)
}

// One returns the only document of a file that must hold exactly one.
func One(name string, docs []Checked, what string) (Checked, error) {
	if len(docs) != 1 {
		return Checked{}, fmt.Errorf("%s: has %d SeldonDeployments; %s runs one at a time", name, len(docs), what)
	}
	return docs[0], nil
}
