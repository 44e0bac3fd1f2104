// Package dsl turns scenario files (CUE and YAML) into a validated, compiled
// configuration: an immutable value the engine runs.
//
// Load reads every .cue, .yaml and .yml file under a directory as one
// configuration, validates it against the CUE schema (package schema plus the
// action kinds of a plugins.Environment), decodes it into the types of this
// file, compiles every expression and checks every reference. All problems are
// returned together as a diag.List. Nothing here is used on the request path
// except the compiled values, which are safe for concurrent use.
package dsl

import (
	"encoding/json"
	"errors"
	"sync/atomic"

	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
)

// Reserved intent ids.
const (
	IntentWelcome             = "intent.core.welcome"
	IntentRestart             = "intent.core.restart"
	IntentEndChat             = "intent.core.endChat"
	IntentTurnNoMatch         = "intent.core.TurnNoMatch"
	IntentSceneNoMatch        = "intent.core.SceneNoMatch"
	IntentConversationNoMatch = "intent.core.ConversationNoMatch"
	IntentNoMatch             = "intent.core.NoMatch"
)

// Config is a compiled configuration. It is immutable once Load returns it
// and safe for concurrent use.
type Config struct {
	// Version identifies the content: a hash of every file's path and bytes.
	Version string
	// Files are the files that make up the configuration, relative to the root, sorted.
	Files []string
	// Scenarios in name order.
	Scenarios []*Scenario
	// Global holds the read-only global values.
	Global map[string]any

	scenarioByName map[string]*Scenario
	// groups, when set by a Loader, are the shared compiled scenarios this
	// configuration holds a reference to; Close releases them instead of
	// closing every action.
	groups []*compiledGroup
	closed atomic.Bool
}

// Scenario returns the scenario named name.
func (c *Config) Scenario(name string) *Scenario { return c.scenarioByName[name] }

// Close releases resources held by the configuration's actions. Call it once
// no turn uses the configuration any more. Actions shared with other
// configurations of the same Loader are closed with the last of them.
// Calls after the first do nothing.
func (c *Config) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.groups != nil {
		var errs []error
		for _, g := range c.groups {
			errs = append(errs, g.release())
		}
		return errors.Join(errs...)
	}
	return closeActions(c.Scenarios)
}

// closeActions closes the actions of scenarios that hold resources.
func closeActions(scenarios []*Scenario) error {
	var errs []error
	for _, s := range scenarios {
		for _, a := range s.Actions {
			if cl, ok := a.Impl.(plugins.Closer); ok {
				errs = append(errs, cl.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// Behaviors is a set of conversation, scene or turn behaviours.
type Behaviors uint8

// Behaviours.
const (
	Starting Behaviors = 1 << iota
	Open
	Completing
)

// Has reports whether b includes all of x.
func (b Behaviors) Has(x Behaviors) bool { return b&x == x }

// Names lists b's behaviours as the DSL spells them, in the order starting,
// open, completing; nil when b is empty.
func (b Behaviors) Names() []string {
	var out []string
	if b.Has(Starting) {
		out = append(out, "starting")
	}
	if b.Has(Open) {
		out = append(out, "open")
	}
	if b.Has(Completing) {
		out = append(out, "completing")
	}
	return out
}

// AttrType is a declared attribute type.
type AttrType string

// Attribute types.
const (
	TypeString    AttrType = "string"
	TypeInt       AttrType = "int"
	TypeFloat     AttrType = "float"
	TypeBool      AttrType = "bool"
	TypeTimestamp AttrType = "timestamp"
	TypeList      AttrType = "list"
	TypeMap       AttrType = "map"
)

// Condition is a compiled boolean expression.
type Condition struct {
	Source string
	// Pos is where the condition is declared, as file:line:col.
	Pos  string
	Prog *expression.Program
}

// Scenario is a compiled scenario.
type Scenario struct {
	Name        string
	Active      bool
	Description string
	// Interpreter is the default interpreter for user intents.
	Interpreter string
	Conditions  []*Condition
	// Attributes are the declared attribute types, enforced in user and session contexts.
	Attributes    map[string]AttrType
	Actions       map[string]*Action
	Conversations []*Conversation
	// Callbacks map callback ids to intent ids (OpenDialog's supported_callbacks);
	// WELCOME -> intent.core.welcome is always there unless overridden.
	Callbacks map[string]string
	// ClientAttributes are the user attributes a webchat client may set
	// (content.user); nil accepts every one, as OpenDialog does.
	ClientAttributes []string

	conversationByName map[string]*Conversation
	intentsByID        map[string][]*Intent
	turnsByOrigin      map[string][]*Turn
}

// Conversation returns the conversation named name.
func (s *Scenario) Conversation(name string) *Conversation { return s.conversationByName[name] }

// Intents returns every intent of the scenario with the given id, in declaration order.
func (s *Scenario) Intents(id string) []*Intent { return s.intentsByID[id] }

// EachConditions calls fn with the conditions of s, then of each of its
// conversations, scenes and turns, in declaration order (an intent's
// conditions are the intent's: see EachIntent).
func (s *Scenario) EachConditions(fn func([]*Condition)) {
	fn(s.Conditions)
	for _, c := range s.Conversations {
		fn(c.Conditions)
		for _, sc := range c.Scenes {
			fn(sc.Conditions)
			for _, t := range sc.Turns {
				fn(t.Conditions)
			}
		}
	}
}

// EachIntent calls fn for every intent of s in declaration order: by
// conversation, scene and turn, each turn's requests before its responses.
func (s *Scenario) EachIntent(fn func(*Intent)) {
	for _, c := range s.Conversations {
		for _, sc := range c.Scenes {
			for _, t := range sc.Turns {
				for _, in := range t.Request {
					fn(in)
				}
				for _, in := range t.Response {
					fn(in)
				}
			}
		}
	}
}

// TurnsWithOrigin returns the turns whose valid_origins include intent id, in declaration order.
func (s *Scenario) TurnsWithOrigin(id string) []*Turn { return s.turnsByOrigin[id] }

// Conversation is a compiled conversation.
type Conversation struct {
	Name        string
	Scenario    *Scenario
	Description string
	Behaviors   Behaviors
	Conditions  []*Condition
	Scenes      []*Scene

	sceneByName map[string]*Scene
}

// Scene returns the scene named name.
func (c *Conversation) Scene(name string) *Scene { return c.sceneByName[name] }

// Scene is a compiled scene.
type Scene struct {
	Name         string
	Conversation *Conversation
	Description  string
	Behaviors    Behaviors
	Conditions   []*Condition
	Turns        []*Turn

	turnByName map[string]*Turn
}

// Turn returns the turn named name.
func (s *Scene) Turn(name string) *Turn { return s.turnByName[name] }

// Turn is a compiled turn.
type Turn struct {
	Name         string
	Scene        *Scene
	Description  string
	Behaviors    Behaviors
	Conditions   []*Condition
	ValidOrigins []string
	Request      []*Intent
	Response     []*Intent
	// Pos is where the turn is declared and OriginPos where each valid origin is, as file:line:col.
	Pos       string
	OriginPos []string
}

// Role says whether an intent is one of a turn's request or response intents.
type Role uint8

// Roles.
const (
	Request Role = iota
	Response
)

// Intent is a compiled intent.
type Intent struct {
	ID          string
	Turn        *Turn
	Role        Role
	Speaker     string // "user" or "app"
	Description string
	// Pos is where the intent is declared, as file:line:col.
	Pos         string
	Conditions  []*Condition
	Actions     []*ActionCall
	Message     *Message
	Transition  *Transition
	Virtual     string
	Completing  bool
	Confidence  float64
	Interpreter string
	// ExpectedAttributes maps an interpreted attribute to where it is stored.
	ExpectedAttributes map[string]Path
	// Hints are the interpreter hints (utterances, patterns).
	Hints *plugins.Hints
}

// Path is a context attribute, such as user.first_name.
type Path struct {
	Context string
	Name    string
}

// String renders the path as context.name.
func (p Path) String() string { return p.Context + "." + p.Name }

// AcceptsClientAttribute reports whether a client may set the user attribute name.
func (s *Scenario) AcceptsClientAttribute(name string) bool {
	if s.ClientAttributes == nil {
		return true
	}
	for _, n := range s.ClientAttributes {
		if n == name {
			return true
		}
	}
	return false
}

// DefaultCallbacks are OpenDialog's supported_callbacks
// (core src/InterpreterEngine/config/opendialog-interpreterengine-custom.php:
// WELCOME), and the end-chat callback the widget's end chat button sends
// (webchat 1.0.0 resources/assets/js/components/layout/UserInput.vue: intent.core.EndChat).
var DefaultCallbacks = map[string]string{"WELCOME": IntentWelcome, "intent.core.EndChat": IntentEndChat}

// Message types (OpenDialog's src/ResponseEngine/Message/*Message.php TYPE constants).
const (
	MessageText     = "text"
	MessageButton   = "button"
	MessageImage    = "image"
	MessageRich     = "rich"
	MessageList     = "list"
	MessageForm     = "form"
	MessageLongText = "long_text"
	MessageEmpty    = "empty"
)

// Message is what an app intent says.
type Message struct {
	// Type is one of the Message* types; "" is text, or button with buttons.
	Type    string
	Text    *expression.Template
	Buttons []Button
	// TextPos is where the text's string starts, as file:line:col.
	TextPos string
	// External, KeepButtons (not clear_after_interaction), DisableText and
	// HideAvatar are the widget's display options.
	External, KeepButtons, DisableText, HideAvatar bool
	// Title and Subtitle of a rich message (Title also of a list).
	Title, Subtitle *expression.Template
	// Callback, CallbackValue and Link: what pressing a rich message sends or opens.
	Callback, CallbackValue, Link string
	Image                         *Image
	Items                         []*Message
	ViewType                      string
	Form                          *Form
	LongText                      *LongText
}

// Button is a message button: a callback, link or download button.
type Button struct {
	Text       *expression.Template
	Callback   string
	Value      string
	Link       string
	LinkNewTab bool
	Download   bool
	Hidden     bool
	Type       string
	// Pos is where the button is declared, as file:line:col.
	Pos string
}

// Image is an image with an optional link.
type Image struct {
	Src, Link  string
	LinkNewTab bool
}

// Form is the form of a form message.
type Form struct {
	Callback, SubmitText, CancelText, CancelCallback string
	AutoSubmit                                       bool
	Fields                                           []FormField
}

// FormField is one field of a form.
type FormField struct {
	Name, Display, Type, Default string
	Required                     bool
	Min, Max                     *int
	Options                      []Option
}

// Option is a choice of a form field.
type Option struct{ Value, Label string }

// LongText configures a long text message.
type LongText struct {
	Callback, SubmitText, InitialText, Placeholder, ConfirmationText string
	CharacterLimit                                                   int
}

// Transition moves the conversation; empty fields keep the current one.
// Resolved targets are set at load time.
type Transition struct {
	Conversation *Conversation
	Scene        *Scene
	Turn         *Turn
}

// Action is a declared action of a scenario, compiled by its kind's plugin.
type Action struct {
	Name    string
	Kind    string
	Active  bool
	Inputs  []string
	Outputs []string
	Impl    plugins.Action
	// Config is the kind's configuration as written (templates unresolved), as JSON.
	Config json.RawMessage
	// Pos is where the action is declared, as file:line:col.
	Pos string
}

// ActionCall is an intent's use of an action, with its mappings resolved:
// unmapped declared inputs read user.NAME, unmapped declared outputs write user.NAME.
type ActionCall struct {
	Action  *Action
	Inputs  []InputMapping
	Outputs []OutputMapping
	// Pos is where the call is declared, as file:line:col.
	Pos string
}

// InputMapping computes one input attribute of an action.
type InputMapping struct {
	Name string
	// Prog computes the value; when nil the value is read from From.
	Prog *expression.Program
	From Path
	// Pos is where the mapping's expression starts, as file:line:col ("" for a default).
	Pos string
}

// OutputMapping writes one context attribute from an action's output.
type OutputMapping struct {
	Target Path
	// Prog computes the value over output and the contexts; when nil the
	// value is output[From], and an output the action did not return is left alone.
	Prog *expression.Program
	From string
	// Pos is where the mapping's expression starts, as file:line:col ("" for a default).
	Pos string
}
