package mock

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/parleyhq/parley/diag"
)

// TestEveryProblemIsReported: a file with a misspelled field, a bad
// duration, expressions that do not compile and another typo in three
// routes reports all five problems at once, with suggestions for the typos
// and what a duration looks like.
func TestEveryProblemIsReported(t *testing.T) {
	src := `mock: routes: [{
	path:      "/a"
	succesful: "input.x != nil"
	outputs: full_name: "input.first_name +"
}, {
	path:  "/b"
	delay: "soon"
	outputs: y: "nope.z"
}, {
	path: "/c"
	metod: "GET"
}]
`
	dir := writeFiles(t, map[string]string{"m.cue": src})
	_, err := Load(os.DirFS(dir), "")
	var list diag.List
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want diagnostics", err)
	}
	want := []string{
		`m.cue:3:2: schema.field_not_allowed: field "succesful" not allowed in mock.routes.0 (did you mean "successful"?)`,
		`m.cue:4:40: expr.syntax:`,
		`m.cue:7:9: schema.type: mock.routes.1.delay: invalid value "soon": want a duration such as "2s", "500ms"`,
		`m.cue:8:15: expr.unknown_name: unknown name nope`,
		`m.cue:11:2: schema.field_not_allowed: field "metod" not allowed in mock.routes.2 (did you mean "method"?)`,
	}
	if len(list) != len(want) {
		t.Errorf("got %d diagnostics, want %d:\n%s", len(list), len(want), list.Error())
	}
	text := list.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("no diagnostic contains %q; got:\n%s", w, text)
		}
	}
}
