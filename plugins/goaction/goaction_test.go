package goaction_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/goaction"
	_ "github.com/parleyhq/parley/plugins/interpreters"
)

func load(env *plugins.Environment, action string) (*dsl.Config, error) {
	src := `scenarios: s: actions: a: {` + action + `}`
	return dsl.Load(fstest.MapFS{"main.cue": {Data: []byte(src)}}, dsl.Options{Env: env})
}

func TestGoActions(t *testing.T) {
	echo := func(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
		return plugins.ActionResult{Success: true, Outputs: map[string]any{"echo": req.Inputs["x"], "user": req.UserID}}
	}
	cases := []struct {
		name    string
		action  string
		wantErr string
		run     func(t *testing.T, a plugins.Action)
	}{
		{name: "a registered function runs as the action", action: `go: "echo", inputs: ["x"], outputs: ["echo"]`, run: func(t *testing.T, a plugins.Action) {
			res := a.Run(context.Background(), plugins.ActionRequest{UserID: "u", Inputs: map[string]any{"x": 1}})
			if !res.Success || res.Outputs["echo"] != 1 || res.Outputs["user"] != "u" {
				t.Fatalf("result = %+v", res)
			}
		}},
		{name: "a panic becomes a failed result", action: `go: "boom"`, run: func(t *testing.T, a plugins.Action) {
			res := a.Run(context.Background(), plugins.ActionRequest{})
			if res.Success || !strings.Contains(res.Error, "panicked: kaboom") {
				t.Fatalf("result = %+v", res)
			}
		}},
		{name: "a cancelled context does not run the function", action: `go: "boom"`, run: func(t *testing.T, a plugins.Action) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if res := a.Run(ctx, plugins.ActionRequest{}); res.Success || !strings.Contains(res.Error, "not run") {
				t.Fatalf("result = %+v", res)
			}
		}},
		{name: "an unknown function is a load error naming the registered ones", action: `go: "nope"`, wantErr: `no Go function "nope" is registered (registered: boom, echo)`},
		{name: "a kind value that is not a name is a schema error", action: `go: 3`, wantErr: "main.cue:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := plugins.NewEnvironment()
			if _, err := goaction.Register(env, map[string]plugins.ActionFunc{
				"echo": echo,
				"boom": func(context.Context, plugins.ActionRequest) plugins.ActionResult { panic("kaboom") },
			}); err != nil {
				t.Fatal(err)
			}
			cfg, err := load(env, tc.action)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cfg.Close()
			a := cfg.Scenario("s").Actions["a"]
			if a.Kind != goaction.KindName {
				t.Fatalf("kind = %q", a.Kind)
			}
			tc.run(t, a.Impl)
		})
	}
}

func TestRegisterErrors(t *testing.T) {
	ok := func(context.Context, plugins.ActionRequest) plugins.ActionResult { return plugins.ActionResult{} }
	cases := []struct {
		name  string
		env   *plugins.Environment
		funcs map[string]plugins.ActionFunc
		want  string
	}{
		{"a nil environment is refused", nil, nil, "nil environment"},
		{"a bad function name is refused", plugins.NewEmptyEnvironment(), map[string]plugins.ActionFunc{"no spaces": ok}, "name must match"},
		{"a nil function is refused", plugins.NewEmptyEnvironment(), map[string]plugins.ActionFunc{"f": nil}, "nil function"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := goaction.Register(tc.env, tc.funcs); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("registering twice in one environment is refused", func(t *testing.T) {
		env := plugins.NewEmptyEnvironment()
		if _, err := goaction.Register(env, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := goaction.Register(env, nil); err == nil || !strings.Contains(err.Error(), "already registered") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("functions added after registering are found by the next load", func(t *testing.T) {
		env := plugins.NewEnvironment()
		f, err := goaction.Register(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := load(env, `go: "late"`); err == nil {
			t.Fatal("loading before the function exists succeeded")
		}
		if err := f.Add("late", ok); err != nil {
			t.Fatal(err)
		}
		cfg, err := load(env, `go: "late"`)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Close()
	})
}
