package webhook

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// fastJSONCorpus mixes the usual OpenDialog answers with everything the
// fast decoders must either decode exactly as encoding/json does or leave to it.
var fastJSONCorpus = []string{
	// Usual answers.
	`{"successful":true,"output_data":{"attributes":{"full_name":"John Smith"}}}`,
	`{"output_data":{"attributes":{"full_name":"John Smith"}},"successful":true}` + "\n",
	` { "successful" : true , "output_data" : { "attributes" : { } } } `,
	`{"successful":false,"errors":[{"message":"Missing expected attributes: 'last_name'"}]}`,
	`{"successful":false,"errors":["plain text", {"message":""}, null, 3, {"message":"a"} ]}`,
	`{"successful":false,"errors":[]}`,
	`{"successful":false,"errors":null}`,
	`{"successful":true}`,
	`{"successful":null}`,
	`{}`,
	`{"successful":true,"output_data":null}`,
	`{"successful":true,"output_data":{}}`,
	`{"successful":true,"output_data":{"attributes":null}}`,
	`{"successful":true,"output_data":{"other":[1,{"x":"y"}],"attributes":{"a":1}}}`,
	`{"successful":true,"extra":{"deep":[[[]]],"s":"x\"y","n":-1.5e-3,"t":true,"f":false,"z":null},"output_data":{"attributes":{"a":1}}}`,
	// Attribute values: null, nested, numbers.
	`{"successful":true,"output_data":{"attributes":{"gone":null,"obj":{"a":[1,2.5,"x",null,true,{"b":{}}]},"list":[]}}}`,
	`{"successful":true,"output_data":{"attributes":{"i":3,"neg":-4,"zero":0,"negzero":-0,"f":2.5,"e":1e2,"E":1E+2,"small":1e-7,"x":2.0,"negf":-0.0}}}`,
	`{"successful":true,"output_data":{"attributes":{"huge":1e300,"max53":9007199254740992,"beyond53":9007199254740993.0,"frac53":9007199254740991.0}}}`,
	`{"successful":true,"output_data":{"attributes":{"big":12345678901234567890,"exact":1234567890123456789,"min":-9223372036854775808,"max":9223372036854775807}}}`,
	`{"successful":true,"output_data":{"attributes":{"over":9223372036854775808,"under":-9223372036854775809}}}`,
	`{"successful":true,"output_data":{"attributes":{"inf":1e400,"tiny":1e-400}}}`,
	`{"successful":true,"output_data":{"attributes":{"phone":"12345678901234567","n":1.5}}}`,
	// Strings: escapes, Unicode, invalid UTF-8.
	`{"successful":true,"output_data":{"attributes":{"s":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","u":"été 😀","lone":"\ud800x"}}}`,
	"{\"successful\":true,\"output_data\":{\"attributes\":{\"bad\":\"a\xffb\",\"k\xfe\":1}}}",
	`{"successful":true,"output_data":{"attributes":{"k\u0065y":"v","":""}}}`,
	// Duplicates: last wins in maps; the envelope is left to encoding/json.
	`{"successful":true,"output_data":{"attributes":{"a":1,"a":{"b":2}}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":1}},"output_data":{"attributes":{"b":2}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":1},"attributes":{"b":2}}}`,
	`{"successful":false,"successful":true}`,
	`{"successful":true,"errors":[],"errors":["x"]}`,
	// Case-folded and escaped envelope keys, which encoding/json matches.
	`{"Successful":true,"OUTPUT_DATA":{"Attributes":{"a":1}}}`,
	`{"successfu\u006c":true}`,
	`{"ſuccessful":true}`,
	`{"successful":true,"output_data":{"attributeſ":{"a":1}}}`,
	// Type errors.
	`{"successful":"yes"}`,
	`{"successful":1}`,
	`{"successful":true,"output_data":[]}`,
	`{"successful":true,"output_data":{"attributes":[]}}`,
	`{"successful":true,"output_data":{"attributes":"x"}}`,
	`{"successful":false,"errors":{"message":"x"}}`,
	`[]`, `null`, `"x"`, `1`, `true`,
	// Malformed.
	``, ` `, `{`, `}`, `{"successful":true`, `{"successful":true,}`, `{"successful" true}`,
	`{"successful":tru}`, `{"successful":truex}`, `{"successful":true}x`, `{"successful":true}{}`,
	`{successful:true}`, `{'successful':true}`, `{"successful":true,"output_data":{"attributes":{"a":01}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":1.}}}`, `{"successful":true,"output_data":{"attributes":{"a":.5}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":+1}}}`, `{"successful":true,"output_data":{"attributes":{"a":1e}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":-}}}`, `{"successful":true,"output_data":{"attributes":{"a":NaN}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":"x\qy"}}}`, `{"successful":true,"output_data":{"attributes":{"a":"\u12"}}}`,
	"{\"successful\":true,\"output_data\":{\"attributes\":{\"a\":\"line\nbreak\"}}}",
	`{"successful":true,"output_data":{"attributes":{"a":[1,]}}}`, `{"successful":true,"output_data":{"attributes":{"a":[1 2]}}}`,
	`{"successful":true,"output_data":{"attributes":{"a":{"b"}}}}`, `{"successful":true,"x":"\x"}`, `{"successful":true,"x":[1,]}`,
	"\ufeff{\"successful\":true}", "{\"successful\":true}\x00", `{"successful":true} // comment`,
	// Deep nesting, within and beyond the fast decoder's depth.
	`{"successful":true,"output_data":{"attributes":{"d":` + strings.Repeat(`[`, 60) + strings.Repeat(`]`, 60) + `}}}`,
	`{"successful":true,"output_data":{"attributes":{"d":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100) + `}}}`,
	`{"successful":true,"x":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `}`,
	`{"successful":true,"output_data":{"attributes":{"d":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}}}`,
}

// checkFastAgrees checks that the fast decoders either give up or agree with the general ones.
func checkFastAgrees(t *testing.T, body []byte) {
	t.Helper()
	if fast, ok := fastOpenDialog(body); ok {
		general, err := decodeOpenDialogGeneral(body)
		if err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json refused it: %v", body, err)
		}
		if !reflect.DeepEqual(exported(fast), exported(general)) {
			t.Fatalf("decoders disagree on %q:\nfast    %#v\ngeneral %#v", body, exported(fast), exported(general))
		}
	}
	if fast, ok := fastJSON(body); ok {
		general, err := decodeJSONGeneral(body)
		if err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json refused it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("decoders disagree on %q:\nfast    %#v\ngeneral %#v", body, fast, general)
		}
	}
}

// exported is the part of a reply that callers see.
func exported(r *openDialogReply) any {
	return struct {
		Successful *bool
		OutputData *openDialogOutput
		Errors     []json.RawMessage
	}{r.Successful, r.OutputData, r.Errors}
}

func TestFastDecodersAgreeWithEncodingJSON(t *testing.T) {
	for _, body := range fastJSONCorpus {
		checkFastAgrees(t, []byte(body))
		// Every attribute value also as a whole body, for the http protocol's decoder.
		if v, err := decodeJSONGeneral([]byte(body)); err == nil {
			if m, ok := v.(map[string]any); ok {
				if od, ok := m["output_data"].(map[string]any); ok {
					if attrs, ok := od["attributes"].(map[string]any); ok {
						for _, a := range attrs {
							b, _ := json.Marshal(a)
							checkFastAgrees(t, b)
						}
					}
				}
			}
		}
	}
}

func TestFastDecoderTakesTheUsualAnswers(t *testing.T) {
	for _, body := range fastJSONCorpus[:18] {
		if _, ok := fastOpenDialog([]byte(body)); !ok {
			t.Errorf("fast decoder gave up on %s", body)
		}
	}
	// What it leaves to encoding/json.
	for _, body := range []string{
		`{"Successful":true}`, `{"successful":true,"successful":true}`, `{"successful":"yes"}`, `null`, ``,
		`{"successful":true,"output_data":{"attributes":{"big":12345678901234567890}}}`,
		`{"successful":true,"output_data":{"attributes":{"inf":1e400}}}`,
		`{"successful":true,"output_data":{"attributes":{"d":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `}}}`,
	} {
		if _, ok := fastOpenDialog([]byte(body)); ok {
			t.Errorf("fast decoder took %.60s", body)
		}
	}
}

func TestDecodeOpenDialogValues(t *testing.T) {
	r, err := decodeOpenDialog([]byte(`{"successful":true,"output_data":{"attributes":{` +
		`"i":3,"neg":-4,"f":2.5,"e":1e2,"two":2.0,"huge":1e300,"exact":1234567890123456789,"big":12345678901234567890,` +
		`"gone":null,"nested":{"l":[1,1.5,{"x":null}]},"s":"caf\u00e9"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := r.OutputData.Attributes
	want := map[string]any{
		"i": 3, "neg": -4, "f": 2.5, "e": 100, "two": 2, "huge": 1e300, "exact": 1234567890123456789,
		"big": 12345678901234567890.0, "gone": nil,
		"nested": map[string]any{"l": []any{1, 1.5, map[string]any{"x": nil}}}, "s": "café",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("attributes\n got %#v\nwant %#v", got, want)
	}
	if v, present := got["gone"]; !present || v != nil {
		t.Fatal("a null attribute is not an output with a nil value")
	}
	if !*r.Successful {
		t.Fatal("successful is false")
	}
	// An integer with a fraction or exponent beyond 2^53 stays a float64; a written integer stays exact.
	r, err = decodeOpenDialog([]byte(`{"successful":true,"output_data":{"attributes":{"a":9007199254740993,"b":9007199254740994.0,"c":-9223372036854775808}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := r.OutputData.Attributes; a["a"] != 9007199254740993 || a["b"] != 9007199254740994.0 || a["c"] != math.MinInt64 {
		t.Fatalf("%#v", a)
	}
}

func TestDecodeOpenDialogErrorsUnchanged(t *testing.T) {
	for _, body := range []string{`{"successful":"yes"}`, `[1]`, `{"successful":true`, `{"successful":true}x`,
		`{"successful":true,"output_data":{"attributes":[]}}`} {
		_, err := decodeOpenDialog([]byte(body))
		_, want := decodeOpenDialogGeneral([]byte(body))
		if err == nil || want == nil || describeDecodeError(err) != describeDecodeError(want) {
			t.Errorf("%s: error %v, want %v", body, err, want)
		}
	}
}

func TestDecodeHugeAnswer(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"successful":true,"output_data":{"attributes":{`)
	for i := 0; i < 20000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":[` + strings.Repeat(`"value",`, 5) + `1.25]`)
	}
	b.WriteString(`}}}`)
	body := []byte(b.String())
	if _, ok := fastOpenDialog(body); !ok {
		t.Fatal("fast decoder gave up on a large answer")
	}
	checkFastAgrees(t, body)
}

func FuzzFastDecoders(f *testing.F) {
	for _, body := range fastJSONCorpus {
		if len(body) < 1000 {
			f.Add([]byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkFastAgrees(t, body) })
}

var benchReply = []byte(`{"output_data":{"attributes":{"full_name":"John Smith"}},"successful":true}` + "\n")

func BenchmarkDecodeOpenDialog(b *testing.B) {
	for _, bc := range []struct {
		name string
		fn   func([]byte) (*openDialogReply, error)
	}{{"fast", decodeOpenDialog}, {"encoding_json", decodeOpenDialogGeneral}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := bc.fn(benchReply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestFastRequestEncoderAgreesWithEncodingJSON(t *testing.T) {
	// general is how encoding/json writes the body (the encoder requestBody falls back to).
	general := func(inputs map[string]any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(openDialogRequest{InputData: openDialogData{Attributes: inputs}})
		return strings.TrimSuffix(buf.String(), "\n"), err
	}
	fastTaken := 0
	for _, inputs := range []map[string]any{
		{}, nil,
		{"first_name": "John", "last_name": "Smith"},
		{"b": 1, "a": true, "c": nil, "d": false, "e": -42, "": "empty key"},
		{"f": 2.5, "g": 2.0, "h": math.Copysign(0, -1), "i": 1e20, "k": 1e-6, "m": 123456789.125, "n": math.MaxInt64, "o": 0.1},
		{"f": 2.5, "g": 2.0, "h": 0.0, "i": 1e20, "j": 1e21, "k": 1e-6, "l": 1e-7, "m": 123456789.125, "n": math.MaxInt64},
		{"html": "<a href='x'>&amp;</a>", "space": " ~!@#$%^*()_+{}|:?`-=[];,./"},
		{"quote": `say "hi"`}, {"backslash": `a\b`}, {"nl": "a\nb"}, {"tab": "a\tb"}, {"ctl": "a\x01b"},
		{"utf8": "café"}, {"ls": "a\u2028b"}, {"bad": "a\xffb"}, {"k\xff": 1}, {"kq\"": 1},
		{"list": []any{1, "x"}}, {"map": map[string]any{"a": 1}}, {"i64": int64(5)}, {"u": uint(3)},
		{"nan": math.NaN()}, {"inf": math.Inf(1)},
		{"z": "1", "y": "2", "x": "3", "w": "4", "v": "5", "u": "6", "t": "7", "s": "8", "r": "9", "q": "10",
			"p": "11", "o": "12", "n": "13", "m": "14", "l": "15", "k": "16", "j": "17", "i": "18"},
	} {
		a := &Action{s: &settings{protocol: ProtocolOpenDialog}}
		got, err := a.requestBody(inputs, nil)
		want, wantErr := general(inputs)
		if _, ok := appendOpenDialogRequest(nil, inputs); ok {
			fastTaken++
		}
		if (err != nil) != (wantErr != nil) || string(got) != want {
			t.Errorf("request body\n got %s (%v)\nwant %s (%v)", got, err, want, wantErr)
		}
	}
	if fastTaken < 6 {
		t.Errorf("the fast encoder took only %d bodies", fastTaken)
	}
}

func BenchmarkEncodeOpenDialogRequest(b *testing.B) {
	inputs := map[string]any{"first_name": "John", "last_name": "Smith"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := appendOpenDialogRequest(make([]byte, 0, openDialogRequestSize(inputs)), inputs); !ok {
			b.Fatal("not encoded")
		}
	}
}
