package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/goaction"
	_ "github.com/parleyhq/parley/plugins/interpreters"
)

// open loads the CUE source src as a scenario directory with Go actions funcs.
func open(t testing.TB, src string, funcs map[string]plugins.ActionFunc, opts ...engine.Option) *engine.Engine {
	t.Helper()
	return openEnv(t, src, newEnv(t, funcs), opts...)
}

// newEnv returns a clone of the global environment with the "go" action kind holding funcs.
func newEnv(t testing.TB, funcs map[string]plugins.ActionFunc) *plugins.Environment {
	t.Helper()
	env := plugins.NewEnvironment()
	if _, err := goaction.Register(env, funcs); err != nil {
		t.Fatal(err)
	}
	return env
}

// openEnv loads the CUE source src with the plugins of env.
func openEnv(t testing.TB, src string, env *plugins.Environment, opts ...engine.Option) *engine.Engine {
	t.Helper()
	fsys := fstest.MapFS{"main.cue": {Data: []byte(src)}}
	e, err := engine.OpenFS(fsys, append([]engine.Option{engine.WithEnvironment(env)}, opts...)...)
	if err != nil {
		t.Fatalf("opening engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// step is one utterance of a scripted conversation.
type step struct {
	u     plugins.Utterance
	set   map[string]any // attributes set before the utterance
	want  []string       // texts of the messages expected
	check func(t *testing.T, r *engine.Reply, c engine.Contexts)
}

func text(s string) plugins.Utterance { return plugins.Utterance{Type: plugins.Text, Text: s} }
func click(s string) plugins.Utterance {
	return plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: s}
}

var chatOpen = plugins.Utterance{Type: plugins.ChatOpen}

// play runs steps for one user and checks every reply.
func play(t *testing.T, e *engine.Engine, user string, steps []step) {
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		for k, v := range s.set {
			if err := e.SetAttribute(ctx, user, k, v); err != nil {
				t.Fatalf("step %d: setting %s: %v", i, k, err)
			}
		}
		r, err := e.Handle(ctx, user, s.u)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := texts(r)
		if s.want != nil && strings.Join(got, "|") != strings.Join(s.want, "|") {
			t.Fatalf("step %d (%+v): got messages %q, want %q\ntrace: %s", i, s.u, got, s.want, dump(r.Trace))
		}
		if s.check != nil {
			c, err := e.Context(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			s.check(t, r, c)
		}
	}
}

func texts(r *engine.Reply) []string {
	out := []string{}
	for _, m := range r.Messages {
		out = append(out, m.Text)
	}
	return out
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
