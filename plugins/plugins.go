// Package plugins defines how Parley is extended: the interfaces the engine
// calls (actions, interpreters) and the Environment that registers plugins by
// kind and name.
//
// As in Benthos, registries are environments: Global() is the one the parley
// binary uses (plugin packages register into it from init), NewEnvironment()
// clones it and NewEmptyEnvironment() starts with nothing, so embedders and
// tests never depend on global state.
package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"
)

// ActionKind is a kind of action (webhook, ...). An action declares its kind
// as a field named Name holding the kind's configuration, checked against
// the CUE definition Definition declared in Schema.
type ActionKind struct {
	// Name is the action field that selects this kind, e.g. "webhook".
	Name string
	// Schema is CUE source (package schema) declaring Definition. Definitions
	// should be prefixed with the kind's name to avoid clashes.
	Schema string
	// Definition is the CUE definition of the configuration, e.g. "#Webhook".
	Definition string
	// New builds an action from its configuration, at load time. It returns
	// FieldError values (joined with errors.Join) for problems in the
	// configuration so they can be reported at their position.
	New func(cfg ActionConfig) (Action, error)
}

// ActionConfig is what an action kind receives at load time.
type ActionConfig struct {
	Scenario string
	Name     string
	// Config is the kind's configuration block, as JSON.
	Config json.RawMessage
	// Inputs and Outputs are the action's declared attribute names.
	Inputs, Outputs []string
}

// FieldError is a problem in one field of a plugin's configuration. Field is
// a dotted path inside the configuration block ("headers.Authorization").
// When Err is an *expression.Error its offset locates the problem inside the field's string.
type FieldError struct {
	Field string
	Code  string // a diag code; plugin.config when empty
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Action is a compiled action, shared by every turn: it must be safe for concurrent use.
type Action interface {
	Run(ctx context.Context, req ActionRequest) ActionResult
}

// Closer is implemented by actions that hold resources to release when their configuration is retired.
type Closer interface {
	Close() error
}

// ActionRequest is one call of an action.
type ActionRequest struct {
	Scenario string
	Action   string
	UserID   string
	// Inputs are the evaluated input attributes.
	Inputs map[string]any
}

// ActionResult is the outcome of an action call.
type ActionResult struct {
	// Success tells whether the action worked; it becomes user.action_status.
	Success bool
	// Outputs are the returned attributes; a nil value unsets the attribute.
	Outputs map[string]any
	// Error says why the action failed, with any secret redacted.
	Error string
	// Calls details each outbound call, for the turn trace.
	Calls []Call
}

// Call is one outbound call made by an action, as shown in a trace. It never holds a secret.
type Call struct {
	Method   string            `json:"method"`
	URL      string            `json:"url"`
	Status   int               `json:"status,omitempty"`
	Attempts int               `json:"attempts"`
	Duration time.Duration     `json:"duration_ns"`
	Outcome  string            `json:"outcome"`
	Error    string            `json:"error,omitempty"`
	Request  json.RawMessage   `json:"request,omitempty"`
	Response json.RawMessage   `json:"response,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
}

// ActionFunc adapts a Go function to an Action.
type ActionFunc func(ctx context.Context, req ActionRequest) ActionResult

// Run calls f.
func (f ActionFunc) Run(ctx context.Context, req ActionRequest) ActionResult { return f(ctx, req) }

// Utterance is what the user sent.
type Utterance struct {
	// Type is chat_open, text, button_response, trigger, form_response or longtext_response.
	Type       string
	Text       string
	CallbackID string
	Value      string
	Platform   string
	// Data holds the fields of a form_response (name to value), without the
	// widget's own text, time and date; the callback interpreter makes each
	// field an interpreted attribute, as OpenDialog's CallbackInterpreter does.
	Data map[string]any
	// User holds attributes the client gives about the user (OpenDialog's
	// content.user: first_name, last_name, email, external_id and each key of
	// custom). The engine writes the ones the scenario accepts to the user
	// context before the turn, type-checked. They are chosen by the client:
	// never trust them for authorisation.
	User map[string]any
}

// Utterance types, as in OpenDialog's webchat.
const (
	ChatOpen       = "chat_open"
	Text           = "text"
	ButtonResponse = "button_response"
	Trigger        = "trigger"
	// FormResponse is the submission (or cancellation) of a form message.
	FormResponse = "form_response"
	// LongTextResponse is the answer typed into a long text message.
	LongTextResponse = "longtext_response"
)

// Hints are an intent's interpreter hints, compiled at load time.
type Hints struct {
	IntentID string
	// Utterances are normalised: lower case, runs of spaces collapsed, trimmed.
	Utterances []string
	Patterns   []*regexp.Regexp
}

// Match is an interpretation of an utterance as one candidate intent.
type Match struct {
	// Index is the candidate's index in the slice given to Interpret.
	Index      int
	Confidence float64
	// Attributes are interpreted attributes (named regexp groups, ...).
	Attributes map[string]any
}

// Interpreter interprets an utterance against candidate intents. It must be safe for concurrent use.
type Interpreter interface {
	Interpret(ctx context.Context, u Utterance, candidates []*Hints) []Match
}

// Environment is a registry of plugins by kind and name. It is safe for concurrent use.
type Environment struct {
	mu           sync.RWMutex
	actions      map[string]ActionKind
	interpreters map[string]Interpreter
}

// NewEmptyEnvironment returns an environment with no plugins.
func NewEmptyEnvironment() *Environment {
	return &Environment{actions: map[string]ActionKind{}, interpreters: map[string]Interpreter{}}
}

var global = NewEmptyEnvironment()

// Global returns the environment of the parley binary, which plugin packages register into.
func Global() *Environment { return global }

// NewEnvironment returns a clone of the global environment; changes to it do not touch Global().
func NewEnvironment() *Environment { return global.Clone() }

// Clone returns an independent copy of e.
func (e *Environment) Clone() *Environment {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := NewEmptyEnvironment()
	for k, v := range e.actions {
		c.actions[k] = v
	}
	for k, v := range e.interpreters {
		c.interpreters[k] = v
	}
	return c
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// RegisterAction adds an action kind. It fails on a bad or duplicate name.
func (e *Environment) RegisterAction(k ActionKind) error {
	if !pluginName.MatchString(k.Name) {
		return fmt.Errorf("registering action kind %q: name must match %s", k.Name, pluginName)
	}
	if k.New == nil {
		return fmt.Errorf("registering action kind %q: no constructor", k.Name)
	}
	if k.Schema == "" || k.Definition == "" {
		return fmt.Errorf("registering action kind %q: no schema", k.Name)
	}
	switch k.Name {
	case "active", "description", "inputs", "outputs":
		return fmt.Errorf("registering action kind %q: name is a reserved action field", k.Name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.actions[k.Name]; dup {
		return fmt.Errorf("registering action kind %q: already registered", k.Name)
	}
	e.actions[k.Name] = k
	return nil
}

// MustRegisterAction is RegisterAction that panics, for init functions.
func (e *Environment) MustRegisterAction(k ActionKind) {
	if err := e.RegisterAction(k); err != nil {
		panic(err)
	}
}

// RegisterInterpreter adds an interpreter by name.
func (e *Environment) RegisterInterpreter(name string, in Interpreter) error {
	if !pluginName.MatchString(name) {
		return fmt.Errorf("registering interpreter %q: name must match %s", name, pluginName)
	}
	if in == nil {
		return fmt.Errorf("registering interpreter %q: nil interpreter", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.interpreters[name]; dup {
		return fmt.Errorf("registering interpreter %q: already registered", name)
	}
	e.interpreters[name] = in
	return nil
}

// MustRegisterInterpreter is RegisterInterpreter that panics, for init functions.
func (e *Environment) MustRegisterInterpreter(name string, in Interpreter) {
	if err := e.RegisterInterpreter(name, in); err != nil {
		panic(err)
	}
}

// ActionKind returns the action kind registered as name.
func (e *Environment) ActionKind(name string) (ActionKind, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	k, ok := e.actions[name]
	return k, ok
}

// ActionKinds returns every registered action kind, sorted by name.
func (e *Environment) ActionKinds() []ActionKind {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]ActionKind, 0, len(e.actions))
	for _, k := range e.actions {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Interpreter returns the interpreter registered as name.
func (e *Environment) Interpreter(name string) (Interpreter, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	in, ok := e.interpreters[name]
	return in, ok
}

// InterpreterNames returns the names of the registered interpreters, sorted.
func (e *Environment) InterpreterNames() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]string, 0, len(e.interpreters))
	for k := range e.interpreters {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
