// Package goaction provides the "go" action kind: actions implemented by Go
// functions that an embedder registers by name.
//
// A scenario names the function in its action declaration:
//
//	actions: full_name: {
//		go:      "full_name"
//		inputs:  ["first_name", "last_name"]
//		outputs: ["full_name"]
//	}
//
// and the program that runs the engine registers it in the engine's environment:
//
//	env := plugins.NewEnvironment()
//	funcs, err := goaction.Register(env, map[string]plugins.ActionFunc{"full_name": fullName})
//
// The kind is not in plugins.Global() by default, since the parley binary has
// no Go functions to offer; tests and embedders register it.
package goaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/parleyhq/parley/plugins"
)

// KindName is the action field that selects this kind.
const KindName = "go"

// kindSchema declares the kind's configuration: the name of a registered function.
const kindSchema = `package schema

// #GoAction names a Go function registered by the program that runs the engine.
#GoAction: =~"^[A-Za-z_][A-Za-z0-9_.-]*$"
`

var funcName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Funcs is a set of Go functions by name, the implementations of "go" actions.
// It is safe for concurrent use; functions added after a configuration is
// loaded are seen by the next load.
type Funcs struct {
	mu sync.RWMutex
	m  map[string]plugins.ActionFunc
}

// NewFuncs returns a set holding funcs.
func NewFuncs(funcs map[string]plugins.ActionFunc) (*Funcs, error) {
	f := &Funcs{m: map[string]plugins.ActionFunc{}}
	for _, name := range slices.Sorted(maps.Keys(funcs)) {
		if err := f.Add(name, funcs[name]); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Add registers fn as name, replacing any function of that name.
func (f *Funcs) Add(name string, fn plugins.ActionFunc) error {
	if !funcName.MatchString(name) {
		return fmt.Errorf("adding Go action %q: name must match %s", name, funcName)
	}
	if fn == nil {
		return fmt.Errorf("adding Go action %q: nil function", name)
	}
	f.mu.Lock()
	f.m[name] = fn
	f.mu.Unlock()
	return nil
}

func (f *Funcs) get(name string) (plugins.ActionFunc, []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if fn, ok := f.m[name]; ok {
		return fn, nil
	}
	return nil, slices.Sorted(maps.Keys(f.m))
}

// Kind returns the "go" action kind backed by f.
func (f *Funcs) Kind() plugins.ActionKind {
	return plugins.ActionKind{
		Name:       KindName,
		Schema:     kindSchema,
		Definition: "#GoAction",
		New:        f.newAction,
	}
}

func (f *Funcs) newAction(cfg plugins.ActionConfig) (plugins.Action, error) {
	var name string
	if err := json.Unmarshal(cfg.Config, &name); err != nil {
		return nil, fmt.Errorf("want the name of a Go function: %w", err)
	}
	fn, known := f.get(name)
	if fn == nil {
		list := "none is registered"
		if len(known) > 0 {
			list = "registered: " + strings.Join(known, ", ")
		}
		return nil, fmt.Errorf("no Go function %q is registered (%s)", name, list)
	}
	return &action{name: name, fn: fn}, nil
}

// action calls a Go function, turning a panic into a failed result.
type action struct {
	name string
	fn   plugins.ActionFunc
}

// Run calls the function.
func (a *action) Run(ctx context.Context, req plugins.ActionRequest) (res plugins.ActionResult) {
	defer func() {
		if r := recover(); r != nil {
			res = plugins.ActionResult{Success: false, Error: fmt.Sprintf("Go action %q panicked: %v", a.name, r)}
		}
	}()
	if err := ctx.Err(); err != nil {
		return plugins.ActionResult{Error: fmt.Sprintf("Go action %q not run: %v", a.name, err)}
	}
	return a.fn(ctx, req)
}

// Register adds the "go" kind to env with funcs as its functions and returns
// the set, to which more functions may be added later.
func Register(env *plugins.Environment, funcs map[string]plugins.ActionFunc) (*Funcs, error) {
	if env == nil {
		return nil, errors.New("registering Go actions: nil environment")
	}
	f, err := NewFuncs(funcs)
	if err != nil {
		return nil, err
	}
	if err := env.RegisterAction(f.Kind()); err != nil {
		return nil, err
	}
	return f, nil
}
