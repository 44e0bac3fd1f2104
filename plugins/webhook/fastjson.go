package webhook

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file holds a reflection-free decoder for the common shapes of
// webhook answers. It is a fast path only: whenever a body holds anything it
// does not handle exactly as the general decoders (decodeOpenDialogGeneral,
// decodeJSONGeneral) would (a syntax error, a type error, a duplicate or
// case-folded envelope key, an integer beyond int64, a number out of
// float64's range, deep nesting), it gives up and the general decoder
// decides, so results and error messages never depend on which path ran.
// Tests compare the two on a corpus and by fuzzing.

// maxFastDepth is the nesting the fast decoder handles; deeper values go to
// encoding/json, which has its own limit.
const maxFastDepth = 64

// fastDecoder parses one JSON text from data.
type fastDecoder struct {
	data  []byte
	pos   int
	depth int
}

// fastOpenDialog decodes an OpenDialog answer; ok is false when the general
// decoder must decide.
func fastOpenDialog(body []byte) (r *openDialogReply, ok bool) {
	d := fastDecoder{data: body}
	d.ws()
	if !d.consume('{') {
		return nil, false
	}
	r = new(openDialogReply)
	var seenSuccessful, seenOutput, seenErrors bool
	d.ws()
	if d.consume('}') {
		return r, d.end()
	}
	for {
		key, ok := d.envelopeKey()
		if !ok {
			return nil, false
		}
		switch string(key) {
		case "successful":
			if seenSuccessful {
				return nil, false
			}
			seenSuccessful = true
			switch {
			case d.literal("true"):
				r.successful = true
				r.Successful = &r.successful
			case d.literal("false"):
				r.Successful = &r.successful
			case d.literal("null"):
			default:
				return nil, false
			}
		case "output_data":
			if seenOutput {
				return nil, false
			}
			seenOutput = true
			if !d.literal("null") && !d.outputData(r) {
				return nil, false
			}
		case "errors":
			if seenErrors {
				return nil, false
			}
			seenErrors = true
			if !d.literal("null") && !d.rawList(&r.Errors) {
				return nil, false
			}
		default:
			if foldsTo(key, "successful", "output_data", "errors") || !d.skip() {
				return nil, false
			}
		}
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return r, d.end()
		}
		return nil, false
	}
}

// envelopeKey is key for the fixed field names of the reply: the raw bytes,
// without allocating; an escaped key is left to the general decoder.
func (d *fastDecoder) envelopeKey() ([]byte, bool) {
	d.ws()
	raw, escaped, ok := d.scanString()
	if !ok || escaped {
		return nil, false
	}
	d.ws()
	if !d.consume(':') {
		return nil, false
	}
	d.ws()
	return raw[1 : len(raw)-1], true
}

// outputData parses {"attributes":{...}} into r.OutputData.
func (d *fastDecoder) outputData(r *openDialogReply) bool {
	if !d.consume('{') {
		return false
	}
	r.OutputData = &r.outputData
	d.ws()
	if d.consume('}') {
		return true
	}
	seen := false
	for {
		key, ok := d.envelopeKey()
		if !ok {
			return false
		}
		switch {
		case string(key) == "attributes":
			if seen {
				return false
			}
			seen = true
			if !d.literal("null") {
				if d.pos >= len(d.data) || d.data[d.pos] != '{' {
					return false
				}
				m, ok := d.object()
				if !ok {
					return false
				}
				r.OutputData.Attributes = m
			}
		case foldsTo(key, "attributes"):
			return false
		default:
			if !d.skip() {
				return false
			}
		}
		d.ws()
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// rawList parses an array, keeping each element's JSON text (as json.RawMessage does).
func (d *fastDecoder) rawList(list *[]json.RawMessage) bool {
	if !d.consume('[') {
		return false
	}
	*list = []json.RawMessage{}
	d.ws()
	if d.consume(']') {
		return true
	}
	for {
		d.ws()
		start := d.pos
		if !d.skip() {
			return false
		}
		*list = append(*list, json.RawMessage(d.data[start:d.pos:d.pos]))
		d.ws()
		if d.consume(',') {
			continue
		}
		return d.consume(']')
	}
}

// fastJSON decodes one JSON value as decodeJSON does; ok is false when the
// general decoder must decide.
func fastJSON(data []byte) (v any, ok bool) {
	d := fastDecoder{data: data}
	d.ws()
	if v, ok = d.value(); !ok {
		return nil, false
	}
	return v, d.end()
}

// end reports whether only white space is left.
func (d *fastDecoder) end() bool {
	d.ws()
	return d.pos == len(d.data)
}

func (d *fastDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *fastDecoder) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// key parses an object key and its colon, with the white space around them.
func (d *fastDecoder) key() (string, bool) {
	d.ws()
	k, ok := d.str()
	if !ok {
		return "", false
	}
	d.ws()
	if !d.consume(':') {
		return "", false
	}
	d.ws()
	return k, true
}

// value parses any JSON value; numbers become int when integral and float64 otherwise.
func (d *fastDecoder) value() (any, bool) {
	if d.pos >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		return s, true
	case c == '{':
		m, ok := d.object()
		if !ok {
			return nil, false
		}
		return m, true
	case c == '[':
		return d.array()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, false
}

func (d *fastDecoder) object() (map[string]any, bool) {
	if d.depth++; d.depth > maxFastDepth {
		return nil, false
	}
	d.pos++ // '{'
	m := make(map[string]any)
	d.ws()
	if d.consume('}') {
		d.depth--
		return m, true
	}
	for {
		k, ok := d.key()
		if !ok {
			return nil, false
		}
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		m[k] = v
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			d.depth--
			return m, true
		}
		return nil, false
	}
}

func (d *fastDecoder) array() (any, bool) {
	if d.depth++; d.depth > maxFastDepth {
		return nil, false
	}
	d.pos++ // '['
	list := []any{}
	d.ws()
	if d.consume(']') {
		d.depth--
		return list, true
	}
	for {
		d.ws()
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		list = append(list, v)
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume(']') {
			d.depth--
			return list, true
		}
		return nil, false
	}
}

// str parses a string. Strings with escapes or invalid UTF-8 are unquoted
// by encoding/json itself, so they decode exactly as it would.
func (d *fastDecoder) str() (string, bool) {
	raw, escaped, ok := d.scanString()
	if !ok {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if !escaped {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// scanString finds the end of the string starting at d.pos. escaped
// reports a backslash or a byte that is not ASCII and not valid UTF-8.
func (d *fastDecoder) scanString() (raw []byte, escaped, ok bool) {
	if !d.consume('"') {
		return nil, false, false
	}
	start := d.pos - 1
	nonASCII := false
	for i := d.pos; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			raw = d.data[start:d.pos]
			if nonASCII && !escaped && !utf8.Valid(raw) {
				escaped = true
			}
			return raw, escaped, true
		case c == '\\':
			escaped = true
			i++ // the escaped byte; the escape itself is checked by whoever unquotes
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			nonASCII = true
		}
	}
	return nil, false, false
}

// validEscapes reports whether every escape of a scanned string is valid JSON.
func validEscapes(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if i+4 >= len(raw) {
				return false
			}
			for _, h := range raw[i+1 : i+5] {
				if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
					return false
				}
			}
			i += 4
		default:
			return false
		}
	}
	return true
}

// number parses a number: an integer literal in the int64 range becomes
// int; a fraction or exponent becomes int when integral and within ±2^53,
// float64 otherwise. Anything else (an integer beyond int64, a value out of
// float64's range) is left to the general decoder.
func (d *fastDecoder) number() (any, bool) {
	lit, integer, ok := d.scanNumber()
	if !ok {
		return nil, false
	}
	if integer {
		if len(lit) > 20 {
			return nil, false
		}
		v, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			return nil, false
		}
		return int(v), true
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, false
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int(f), true
	}
	return f, true
}

// scanNumber passes over a number written as JSON allows; integer reports
// that it has neither fraction nor exponent.
func (d *fastDecoder) scanNumber() (lit []byte, integer, ok bool) {
	start, i, n := d.pos, d.pos, len(d.data)
	digits := func() bool {
		s := i
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < n && d.data[i] == '-' {
		i++
	}
	switch {
	case i < n && d.data[i] == '0':
		i++
	case !digits():
		return nil, false, false
	}
	integer = true
	if i < n && d.data[i] == '.' {
		i++
		if !digits() {
			return nil, false, false
		}
		integer = false
	}
	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false, false
		}
		integer = false
	}
	d.pos = i
	return d.data[start:i], integer, true
}

// skip validates and passes over one value.
func (d *fastDecoder) skip() bool {
	if d.pos >= len(d.data) {
		return false
	}
	switch c := d.data[d.pos]; {
	case c == '"':
		raw, escaped, ok := d.scanString()
		return ok && (!escaped || validEscapes(raw))
	case c == '{', c == '[':
		if d.depth++; d.depth > maxFastDepth {
			return false
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.pos++
		d.ws()
		if d.consume(closing) {
			d.depth--
			return true
		}
		for {
			if c == '{' {
				if _, ok := d.key(); !ok {
					return false
				}
			} else {
				d.ws()
			}
			if !d.skip() {
				return false
			}
			d.ws()
			if d.consume(',') {
				continue
			}
			if d.consume(closing) {
				d.depth--
				return true
			}
			return false
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, _, ok := d.scanNumber()
		return ok
	}
	return false
}

// foldsTo reports whether key could match one of names under encoding/json's
// case-insensitive field matching (any key with a non-ASCII byte might).
func foldsTo(key []byte, names ...string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if len(key) == len(n) && bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// appendOpenDialogRequest appends {"input_data":{"attributes":{...}}} to dst
// byte for byte as encoding/json writes it without HTML escaping (keys
// sorted), when every key is plain ASCII and every value is a plain ASCII
// string, a bool, nil, an int or a float64 printed in decimal; ok is false
// otherwise, and the caller encodes with encoding/json.
func appendOpenDialogRequest(dst []byte, inputs map[string]any) (out []byte, ok bool) {
	if inputs == nil {
		return dst, false // encoding/json writes null
	}
	var keyBuf [16]string
	keys := keyBuf[:0]
	for k := range inputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, `{"input_data":{"attributes":{`...)
	for i, k := range keys {
		if !plainASCII(k) {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		switch v := inputs[k].(type) {
		case string:
			if !plainASCII(v) {
				return dst, false
			}
			dst = append(dst, '"')
			dst = append(dst, v...)
			dst = append(dst, '"')
		case bool:
			dst = strconv.AppendBool(dst, v)
		case nil:
			dst = append(dst, "null"...)
		case int:
			dst = strconv.AppendInt(dst, int64(v), 10)
		case float64:
			// encoding/json writes these with 'f'; others with 'e' (or fails).
			if a := math.Abs(v); v != 0 && (a < 1e-6 || a >= 1e21 || math.IsNaN(v)) {
				return dst, false
			}
			dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
		default:
			return dst, false
		}
	}
	return append(dst, "}}}"...), true
}

// plainASCII reports whether encoding/json writes s as is between quotes.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
