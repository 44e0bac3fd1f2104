package expression

import (
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr/types"
)

var testEnv = Env{
	"user":    types.Map{types.Extra: types.Any, "name": types.String, "age": types.Int},
	"session": types.Map{types.Extra: types.Any},
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, src string
		kind      Kind
		code      string
		offset    int
	}{
		{"syntax error points at the bad token", "user.age ==== 1", Bool, CodeSyntax, 11},
		{"unknown top-level name", "usr.age > 1", Bool, CodeUnknown, 0},
		{"declared attribute of the wrong type", "user.name > 5", Bool, CodeType, 10},
		{"condition that is not boolean", `"yes"`, Bool, CodeType, 0},
		{"offset counts bytes after multibyte text", `"é" + 1 +`, Value, CodeSyntax, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.src, testEnv, c.kind)
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want %s", c.src, c.code)
			}
			e := err.(*Error)
			if e.Code != c.code || e.Offset != c.offset {
				t.Errorf("Compile(%q) = %s at %d (%s), want %s at %d", c.src, e.Code, e.Offset, e.Message, c.code, c.offset)
			}
		})
	}
}

func TestRun(t *testing.T) {
	p, err := Compile(`user.age >= 18 && session.ok == true`, testEnv, Bool)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]any{"user": map[string]any{"age": 20}, "session": map[string]any{"ok": true}}
	if ok, err := p.RunBool(env); err != nil || !ok {
		t.Fatalf("RunBool = %v, %v; want true", ok, err)
	}
	env["user"] = map[string]any{}
	if _, err := p.RunBool(env); err == nil || !strings.Contains(err.Error(), "user.age") {
		t.Fatalf("missing attribute compared with a number: err = %v, want an error naming the expression", err)
	}
}

func TestTemplate(t *testing.T) {
	tpl, errs := ParseTemplate("Hello {{ user.name }}, you are {{user.age}} ({{ session.tags }}){{ user.missing }}!", testEnv)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got, err := tpl.Render(map[string]any{
		"user":    map[string]any{"name": "John", "age": 42},
		"session": map[string]any{"tags": []any{"a", 1.5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `Hello John, you are 42 (["a",1.5])!`; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

func TestTemplateMissingAttributeRendersEmpty(t *testing.T) {
	tpl, _ := ParseTemplate("age next year: {{ user.age + 1 }}.", testEnv)
	got, err := tpl.Render(map[string]any{"user": map[string]any{}, "session": map[string]any{}})
	if got != "age next year: ." {
		t.Errorf("Render = %q, want the failed expression as empty text", got)
	}
	if err == nil {
		t.Error("Render returned no error for the trace")
	}
}

func TestTemplateErrors(t *testing.T) {
	cases := []struct {
		src    string
		code   string
		offset int
	}{
		{"Hi {{ user.name", "template.syntax", 3},
		{"Hi {{ }}", CodeSyntax, 3},
		{"Hi {{ user.name + }} and {{ usr }}", CodeSyntax, 16},
	}
	for _, c := range cases {
		_, errs := ParseTemplate(c.src, testEnv)
		if len(errs) == 0 {
			t.Fatalf("ParseTemplate(%q) gave no error", c.src)
		}
		if errs[0].Code != c.code || errs[0].Offset != c.offset {
			t.Errorf("ParseTemplate(%q) = %s at %d, want %s at %d", c.src, errs[0].Code, errs[0].Offset, c.code, c.offset)
		}
	}
	_, errs := ParseTemplate("Hi {{ user.name + }} and {{ usr }}", testEnv)
	if len(errs) != 2 || errs[1].Code != CodeUnknown || errs[1].Offset != 28 {
		t.Errorf("every template error is reported: %+v", errs)
	}
}

func BenchmarkRunCondition(b *testing.B) {
	p, err := Compile(`user.age >= 18 && user.name != ""`, testEnv, Bool)
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]any{"user": map[string]any{"age": 20, "name": "x"}, "session": map[string]any{}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := p.RunBool(env); !ok {
			b.Fatal("false")
		}
	}
}

func TestNames(t *testing.T) {
	env := Open(map[string]types.Type{"user": Open(nil), "session": Open(nil), "utterance": Open(nil)})
	for src, want := range map[string][]string{
		`user.age >= 18 && session.x != utterance.text`: {"session", "user", "utterance"},
		`user.name`:                           {"user"},
		`1 + 2`:                               nil,
		`$env.user.name`:                      {"$env"},
		`let u = user; u.name`:                {"u", "user"},
		`any(user.tags, # == utterance.text)`: {"user", "utterance"},
		`user?.name ?? session["x"]`:          {"session", "user"},
	} {
		p, err := Compile(src, env, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := p.Names(); !slices.Equal(got, want) {
			t.Errorf("%s: names %q, want %q", src, got, want)
		}
	}
	tpl, errs := ParseTemplate("Hi {{ user.name }}, {{ utterance.text }} {{ user.age }}", env)
	if errs != nil {
		t.Fatal(errs)
	}
	if got := tpl.Names(); !slices.Equal(got, []string{"user", "utterance"}) {
		t.Errorf("template names %q", got)
	}
}
