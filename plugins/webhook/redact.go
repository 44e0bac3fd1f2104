package webhook

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
)

// Redacted replaces every secret value in traces and errors.
const Redacted = "[REDACTED]"

// maxTraceBody is how much of a request or response body a trace keeps.
const maxTraceBody = 4 << 10

// redactor replaces the secret values used by one call.
type redactor struct {
	values []string // raw values and their JSON-escaped forms, longest first
	inline [2]string
}

// add registers a secret value. A redactor must not be copied once used.
func (r *redactor) add(v string) {
	if v == "" {
		return
	}
	if r.values == nil {
		r.values = r.inline[:0]
	}
	r.values = append(r.values, v)
	if needsJSONEscape(v) {
		if b, err := json.Marshal(v); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != v {
				r.values = append(r.values, esc)
			}
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	for i := len(r.values) - 1; i > 0 && len(r.values[i]) > len(r.values[i-1]); i-- {
		r.values[i], r.values[i-1] = r.values[i-1], r.values[i]
	}
}

// needsJSONEscape reports whether encoding/json would write s differently inside a string.
func needsJSONEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			return true
		}
	}
	return false
}

func (r *redactor) string(s string) string {
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// traceBody returns body for a trace: redacted, truncated, and valid JSON
// (a body that is not JSON, or is cut, is kept as a JSON string). The result
// may share body's memory: callers hand over bodies they never modify.
func (r *redactor) traceBody(body []byte) json.RawMessage { return r.traceJSON(body, false) }

// traceJSON is traceBody for a body known to be valid JSON when valid is true.
func (r *redactor) traceJSON(body []byte, valid bool) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	cut := len(body) > maxTraceBody
	if cut {
		body = body[:maxTraceBody]
	}
	redacted := false
	for _, v := range r.values {
		if bytes.Contains(body, []byte(v)) {
			body = bytes.ReplaceAll(body, []byte(v), []byte(Redacted))
			redacted = true
		}
	}
	if !cut && ((valid && !redacted) || json.Valid(body)) {
		return body
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if cut {
		s = r.string(s) + "…(truncated)"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a valid UTF-8 string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// normalize turns decoded JSON numbers into int when integral (and in the
// int64 range) and float64 otherwise, recursively, so the engine's type
// checks see ints where the service sent integers.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(i)
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return string(x)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int(f)
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

// decodeJSON decodes one JSON value with numbers normalized; trailing data
// is an error. The fast decoder handles what it can; otherwise bodies without a 16-digit run take the faster json.Unmarshal
// path (every number fits a float64 exactly enough to tell ints); others are
// decoded with UseNumber so large integers keep every digit.
func decodeJSON(data []byte) (any, error) {
	if v, ok := fastJSON(data); ok {
		return v, nil
	}
	return decodeJSONGeneral(data)
}

// decodeJSONGeneral is decodeJSON with encoding/json only.
func decodeJSONGeneral(data []byte) (any, error) {
	var v any
	if !hasLongDigitRun(data) {
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return normalizeFloats(v), nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return normalize(v), nil
}

// hasLongDigitRun reports whether data holds 16 or more digits in a row.
func hasLongDigitRun(data []byte) bool {
	run := 0
	for _, c := range data {
		if c >= '0' && c <= '9' {
			if run++; run >= 16 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// normalizeFloats turns integral float64 values (below 2^53) into int, recursively.
func normalizeFloats(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeFloats(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeFloats(e)
		}
		return x
	}
	return v
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const errTrailing = jsonError("unexpected data after the JSON value")

// newIdempotencyKey returns a random UUID (version 4).
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
