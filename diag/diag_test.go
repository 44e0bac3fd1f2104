package diag

import (
	"encoding/json"
	"testing"
)

func TestString(t *testing.T) {
	cases := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{File: "a.cue", Line: 3, Col: 7, Code: CodeExprType, Message: "bad"}, "a.cue:3:7: expr.type: bad"},
		{Diagnostic{File: "a.cue", Line: 3, Code: CodeSyntax, Message: "bad"}, "a.cue:3: syntax: bad"},
		{Diagnostic{File: "dir", Code: CodeIO, Message: "missing"}, "dir: io: missing"},
		{Diagnostic{Code: CodePluginConfig, Message: "no file"}, "plugin.config: no file"},
	}
	for _, c := range cases {
		if got := c.d.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestSortOrdersAndDeduplicates(t *testing.T) {
	l := List{
		{File: "b.cue", Line: 1, Col: 1, Code: "x", Message: "m"},
		{File: "a.cue", Line: 9, Col: 1, Code: "x", Message: "m"},
		{File: "a.cue", Line: 2, Col: 5, Code: "y", Message: "m"},
		{File: "a.cue", Line: 2, Col: 5, Code: "y", Message: "m"},
		{File: "a.cue", Line: 2, Col: 5, Code: "x", Message: "m"},
	}
	l.Sort()
	want := "a.cue:2:5: x: m\na.cue:2:5: y: m\na.cue:9:1: x: m\nb.cue:1:1: x: m"
	if got := l.Error(); got != want {
		t.Errorf("sorted list:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONIsAnArray(t *testing.T) {
	var nilList List
	if got := string(nilList.JSON()); got != "[]" {
		t.Errorf("JSON of no diagnostics = %s, want []", got)
	}
	var back []Diagnostic
	l := List{{File: "a.cue", Line: 1, Col: 2, Code: "c", Message: "m"}}
	if err := json.Unmarshal(l.JSON(), &back); err != nil || back[0] != l[0] {
		t.Errorf("round trip = %v, %v", back, err)
	}
}
