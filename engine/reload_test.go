package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// reloadScenario is a scenario whose names can be changed to simulate an edit.
func reloadScenario(scenarioExtra, conv, scene, turn, intent, text string) string {
	return `scenarios: s: {` + scenarioExtra + `
	conversations: ` + conv + `: {
		behaviors: ["starting"]
		scenes: ` + scene + `: {
			behaviors: ["starting"]
			turns: ` + turn + `: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "` + intent + `", message: text: "` + text + `"}]
			}
		}
	}
}
scenarios: t: conversations: c: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: start: {
			behaviors: ["starting"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "other", message: text: "Other scenario"}]
		}
	}
}
`
}

func TestPositionAfterReload(t *testing.T) {
	v1 := reloadScenario("", "c", "main", "start", "hello", "Hello v1")
	cases := []struct {
		name, v2, want, event string
	}{
		{"an unchanged position carries on", reloadScenario("", "c", "main", "start", "hello", "Hello v2"), "Hello v2", "chat opened again"},
		{"a removed turn continues from the start of its conversation", reloadScenario("", "c", "main", "begin", "hello", "Hello v2"), "Hello v2", `turn \"start\" no longer exists`},
		{"a removed intent continues from the start of its conversation", reloadScenario("", "c", "main", "start", "hi", "Hello v2"), "Hello v2", `intent \"hello\" in turn start no longer exists`},
		{"a removed conversation starts afresh", reloadScenario("", "c2", "main", "start", "hello", "Hello v2"), "Hello v2", `conversation \"c\" no longer exists`},
		{"a deactivated scenario starts afresh in another", reloadScenario("active: false", "c", "main", "start", "hello", "Hello v2"), "Other scenario", `scenario \"s\" is no longer active`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			e := openEnv(t, v1, env)
			play(t, e, "u", []step{{u: chatOpen, want: []string{"Hello v1"}}})
			cfg, err := dsl.Load(fstest.MapFS{"main.cue": {Data: []byte(tc.v2)}}, dsl.Options{Env: env})
			if err != nil {
				t.Fatal(err)
			}
			e.Swap(cfg).Close()
			play(t, e, "u", []step{{u: chatOpen, want: []string{tc.want}, check: traceHas(tc.event)}})
		})
	}
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "greeter.cue"), []byte(greeter), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	env := newEnv(t, map[string]plugins.ActionFunc{"full_name": fullName})
	e, err := engine.Open(dir, engine.WithEnvironment(env), engine.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Environment() != env {
		t.Fatal("Environment() is not the environment given")
	}
	play(t, e, "u", []step{{u: chatOpen}, {u: click("ok"), want: []string{"Sorry, I could not look you up."}}})
	if !strings.Contains(logs.String(), "action failed") || !strings.Contains(logs.String(), "missing names") {
		t.Fatalf("failed action not logged:\n%s", logs.String())
	}

	if _, err := engine.Open(filepath.Join(dir, "missing"), engine.WithEnvironment(env)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("opening a missing directory: %v", err)
	}
	if _, err := engine.New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	e2, err := engine.New(cfg, engine.WithEnvironment(env))
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if e2.Config() != cfg || e2.Swap(nil) != nil {
		t.Fatal("New does not run the configuration given, or Swap(nil) swapped")
	}
	if _, err := e2.Handle(context.Background(), "u", chatOpen); err != nil {
		t.Fatal(err)
	}
}
