package plugins_test

import (
	"context"
	"strings"
	"testing"

	"github.com/parleyhq/parley/plugins"
)

type interp struct{}

func (interp) Interpret(context.Context, plugins.Utterance, []*plugins.Hints) []plugins.Match {
	return nil
}

func kind(name string) plugins.ActionKind {
	return plugins.ActionKind{
		Name: name, Definition: "#X", Schema: "#X: {}",
		New: func(plugins.ActionConfig) (plugins.Action, error) {
			return plugins.ActionFunc(func(context.Context, plugins.ActionRequest) plugins.ActionResult {
				return plugins.ActionResult{Success: true}
			}), nil
		},
	}
}

func TestRegisterActionRejectsBadKinds(t *testing.T) {
	noNew := kind("nonew")
	noNew.New = nil
	noSchema := kind("noschema")
	noSchema.Schema = ""
	cases := map[string]struct {
		k    plugins.ActionKind
		want string
	}{
		"upper-case name":       {kind("Webhook"), "name must match"},
		"reserved action field": {kind("inputs"), "reserved"},
		"no constructor":        {noNew, "no constructor"},
		"no schema":             {noSchema, "no schema"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := plugins.NewEmptyEnvironment().RegisterAction(c.k)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("RegisterAction = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	env := plugins.NewEmptyEnvironment()
	env.MustRegisterAction(kind("echo"))
	if err := env.RegisterAction(kind("echo")); err == nil {
		t.Fatal("registering an action kind twice succeeded")
	}
	env.MustRegisterInterpreter("text", interp{})
	if err := env.RegisterInterpreter("text", interp{}); err == nil {
		t.Fatal("registering an interpreter twice succeeded")
	}
	if err := env.RegisterInterpreter("nil", nil); err == nil {
		t.Fatal("registering a nil interpreter succeeded")
	}
}

func TestEnvironmentsAreIsolated(t *testing.T) {
	base := plugins.NewEmptyEnvironment()
	base.MustRegisterAction(kind("echo"))
	clone := base.Clone()
	clone.MustRegisterAction(kind("shout"))
	clone.MustRegisterInterpreter("text", interp{})
	if _, ok := base.ActionKind("shout"); ok {
		t.Error("a kind registered in a clone leaked into its parent")
	}
	if _, ok := base.Interpreter("text"); ok {
		t.Error("an interpreter registered in a clone leaked into its parent")
	}
	if _, ok := clone.ActionKind("echo"); !ok {
		t.Error("a clone lost its parent's kinds")
	}
	names := []string{}
	for _, k := range clone.ActionKinds() {
		names = append(names, k.Name)
	}
	if strings.Join(names, ",") != "echo,shout" {
		t.Errorf("ActionKinds = %v, want sorted [echo shout]", names)
	}
	if got := clone.InterpreterNames(); len(got) != 1 || got[0] != "text" {
		t.Errorf("InterpreterNames = %v", got)
	}
	if _, ok := plugins.NewEmptyEnvironment().ActionKind("echo"); ok {
		t.Error("an empty environment has a kind")
	}
}

func TestNewEnvironmentClonesGlobal(t *testing.T) {
	env := plugins.NewEnvironment()
	env.MustRegisterAction(kind("only_in_clone"))
	if _, ok := plugins.Global().ActionKind("only_in_clone"); ok {
		t.Error("NewEnvironment shares state with Global")
	}
}
