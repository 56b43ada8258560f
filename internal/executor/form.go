package executor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// requestJSON is the SeldonMessage (or Feedback) JSON a request carries,
// in the shapes upstream's clients send: a JSON body; a form body or query
// parameter json=<message> (0.x clients and the 0.x engine); a
// multipart/form-data body with a json part, or one part per message field
// (binData and strData as raw file contents, data, meta and jsonData as
// JSON). Any other Content-Type is answered 415.
func requestJSON(r *http.Request, body []byte) ([]byte, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		if q := r.URL.Query().Get("json"); q != "" {
			return []byte(q), nil
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" || strings.HasPrefix(ct, "application/json;") {
		return body, nil // the usual case, without parsing the media type
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, unsupportedType(ct)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json":
		return body, nil
	case mt == "application/x-www-form-urlencoded":
		// curl -d sends JSON with this type: take it as it is.
		if b := first(body); b == '{' || b == '[' {
			return body, nil
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, badRequest("form body: %v", err)
		}
		v := form.Get("json")
		if v == "" {
			return nil, badRequest("form body has no json field: send json=<SeldonMessage as JSON>")
		}
		return []byte(v), nil
	case mt == "multipart/form-data":
		return multipartJSON(body, params["boundary"])
	}
	return nil, unsupportedType(ct)
}

func unsupportedType(ct string) *Error {
	return &Error{HTTPStatus: http.StatusUnsupportedMediaType, Reason: reasonBadRequest,
		Message: fmt.Sprintf("Content-Type %q: send application/json, application/x-www-form-urlencoded (json=<message>) or multipart/form-data", ct)}
}

// multipartJSON builds the message from a multipart body. The body is
// already in memory and bounded, so are its parts.
func multipartJSON(body []byte, boundary string) ([]byte, *Error) {
	if boundary == "" {
		return nil, badRequest("multipart/form-data without a boundary parameter")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	fields := map[string]json.RawMessage{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badRequest("multipart body: %v", err)
		}
		name := part.FormName()
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, badRequest("multipart part %q: %v", name, err)
		}
		switch name {
		case "json":
			return data, nil
		case "binData":
			fields[name], _ = json.Marshal(base64.StdEncoding.EncodeToString(data))
		case "strData":
			fields[name], _ = json.Marshal(string(data))
		case "data", "meta", "jsonData", "request", "response", "reward", "truth":
			if !json.Valid(data) {
				return nil, badRequest("multipart part %q is not JSON", name)
			}
			fields[name] = data
		default:
			return nil, badRequest("multipart part %q: expected json, binData, strData, data, meta or jsonData", name)
		}
	}
	if len(fields) == 0 {
		return nil, badRequest("multipart body has no parts: send a json part or binData/strData/data parts")
	}
	b, _ := json.Marshal(fields)
	return b, nil
}
