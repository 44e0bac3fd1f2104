package engine

import (
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/jsonenc"
	"github.com/parleyhq/parley/plugins"
)

// Reply is the outcome of one turn: the app's messages and the turn's trace.
type Reply struct {
	Messages []Message `json:"messages"`
	Trace    *Trace    `json:"trace"`
}

// Message is one thing the app says. Type is one of OpenDialog's webchat
// message types (dsl.Message*); "" means text, or button when it has buttons.
type Message struct {
	// Intent is the id of the app intent that said it.
	Intent  string   `json:"intent"`
	Type    string   `json:"type,omitempty"`
	Text    string   `json:"text"`
	Buttons []Button `json:"buttons,omitempty"`
	// Display options of the widget.
	External    bool `json:"external,omitempty"`
	KeepButtons bool `json:"keep_buttons,omitempty"`
	DisableText bool `json:"disable_text,omitempty"`
	HideAvatar  bool `json:"hide_avatar,omitempty"`
	// Rich and list messages.
	Title         string     `json:"title,omitempty"`
	Subtitle      string     `json:"subtitle,omitempty"`
	Callback      string     `json:"callback,omitempty"`
	CallbackValue string     `json:"callback_value,omitempty"`
	Link          string     `json:"link,omitempty"`
	Image         *dsl.Image `json:"image,omitempty"`
	Items         []Message  `json:"items,omitempty"`
	ViewType      string     `json:"view_type,omitempty"`
	// Form and LongText are shared with the configuration (never changed).
	Form     *dsl.Form     `json:"form,omitempty"`
	LongText *dsl.LongText `json:"long_text,omitempty"`
}

// Kind is the message's type with the default filled in.
func (m *Message) Kind() string {
	switch {
	case m.Type != "":
		return m.Type
	case len(m.Buttons) > 0:
		return dsl.MessageButton
	}
	return dsl.MessageText
}

// Button is a message button; clicking it sends a button_response whose
// callback id is Callback, or opens Link, or downloads the transcript.
type Button struct {
	Text       string `json:"text"`
	Callback   string `json:"callback,omitempty"`
	Value      string `json:"value,omitempty"`
	Link       string `json:"link,omitempty"`
	LinkNewTab bool   `json:"link_new_tab,omitempty"`
	Download   bool   `json:"download,omitempty"`
	Hidden     bool   `json:"hidden,omitempty"`
	Type       string `json:"type,omitempty"`
}

// Trace explains one turn: which intents were considered and why each was
// rejected, which were chosen, and which actions ran. It is JSON-serialisable
// and never holds a secret.
type Trace struct {
	UserID        string        `json:"user_id"`
	ConfigVersion string        `json:"config_version"`
	Time          time.Time     `json:"time"`
	Duration      time.Duration `json:"duration_ns"`
	Utterance     Utterance     `json:"utterance"`
	// Start and End are the user's position before and after the turn.
	Start Position `json:"start"`
	End   Position `json:"end"`
	// Selections are the intent selections of the turn, in order.
	Selections []Selection `json:"selections"`
	// Actions are the actions run (or skipped), in order.
	Actions []ActionTrace `json:"actions,omitempty"`
	// Events are notable state changes: transitions, completions, restarts.
	Events []string `json:"events,omitempty"`
	// Errors are problems that did not stop the turn, such as a message
	// expression that failed and rendered as empty text.
	Errors []string `json:"errors,omitempty"`
}

// Utterance is the utterance of a turn, as traced.
type Utterance struct {
	Type       string `json:"type"`
	Text       string `json:"text,omitempty"`
	CallbackID string `json:"callback_id,omitempty"`
	Value      string `json:"value,omitempty"`
	Platform   string `json:"platform,omitempty"`
	// Data are the fields of a form response.
	Data map[string]any `json:"data,omitempty"`
}

func traceUtterance(u plugins.Utterance) Utterance {
	return Utterance{Type: u.Type, Text: u.Text, CallbackID: u.CallbackID, Value: u.Value, Platform: u.Platform, Data: u.Data}
}

// Position is where a user stands in the scenarios.
type Position struct {
	Scenario     string `json:"scenario,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	Scene        string `json:"scene,omitempty"`
	Turn         string `json:"turn,omitempty"`
	Intent       string `json:"intent,omitempty"`
	// Phase is "" (not in a conversation), "enter", "request" or "response"; see store.Phase.
	Phase string `json:"phase,omitempty"`
}

// Speakers of a selection.
const (
	SpeakerUser = "user"
	SpeakerApp  = "app"
)

// Selection is one choice of an intent among candidates.
type Selection struct {
	// Speaker is "user" for an incoming intent and "app" for an outgoing one.
	Speaker string `json:"speaker"`
	// From says where the candidates came from ("starting turns",
	// "responses of turn greet", "open turns and valid origins", "virtual
	// intent X", "no match: intent.core.TurnNoMatch", ...).
	From       string      `json:"from"`
	Candidates []Candidate `json:"candidates"`
	// Chosen is the id of the chosen intent; empty when none was.
	Chosen string `json:"chosen,omitempty"`
}

// Candidate outcomes.
const (
	OutcomeChosen     = "chosen"
	OutcomeRejected   = "rejected"
	OutcomeOutranked  = "outranked"
	OutcomeNotReached = "not reached"
)

// Candidate is one intent considered in a selection.
type Candidate struct {
	Intent       string `json:"intent"`
	Scenario     string `json:"scenario"`
	Conversation string `json:"conversation"`
	Scene        string `json:"scene"`
	Turn         string `json:"turn"`
	// Interpreter is the interpreter asked, for user intents.
	Interpreter string `json:"interpreter,omitempty"`
	// Confidence of the interpretation, when there was one.
	Confidence float64 `json:"confidence,omitempty"`
	// Attributes are the interpreted attributes.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Outcome is chosen, rejected, outranked (accepted but ranked lower) or
	// not reached (an earlier app intent was chosen first).
	Outcome string `json:"outcome"`
	// Reason says why the candidate was not chosen.
	Reason string `json:"reason,omitempty"`
	// Condition is the condition that was false (or failed), when that is the reason.
	Condition *ConditionTrace `json:"condition,omitempty"`
}

// ConditionTrace names a condition and where it is declared.
type ConditionTrace struct {
	Source string `json:"source"`
	Pos    string `json:"pos,omitempty"`
	// Error is set when the condition failed to evaluate (it then counts as false).
	Error string `json:"error,omitempty"`
}

// ActionTrace is one action of the turn.
type ActionTrace struct {
	Intent string `json:"intent"`
	Action string `json:"action"`
	Kind   string `json:"kind"`
	// Inputs are the evaluated input attributes sent to the action.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Skipped is set when the action did not run (inactive, or an input failed).
	Skipped bool `json:"skipped,omitempty"`
	// Success is the action's status, which became user.action_status.
	Success bool `json:"success"`
	// Error says why the action failed or was skipped.
	Error string `json:"error,omitempty"`
	// Outputs are the context attributes written (path to value; nil means unset).
	Outputs  map[string]any `json:"outputs,omitempty"`
	Calls    []plugins.Call `json:"calls,omitempty"`
	Duration time.Duration  `json:"duration_ns"`
}

// appendMessagesJSON appends msgs as encoding/json marshals them (the same
// fields and omitempty rules, as TestAppendMessagesJSON checks), by hand:
// every turn's history entry holds its messages, and reflection over the
// message's many optional fields would cost a tenth of a turn.
func appendMessagesJSON(b []byte, msgs []Message) ([]byte, error) {
	b = append(b, '[')
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendMessageJSON(b, &msgs[i]); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendMessageJSON(b []byte, m *Message) ([]byte, error) {
	b = append(b, `{"intent":`...)
	b = jsonenc.AppendString(b, m.Intent)
	b = jsonStr(b, "type", m.Type, true)
	b = jsonStr(b, "text", m.Text, false)
	if len(m.Buttons) > 0 {
		b = append(b, `,"buttons":[`...)
		for i := range m.Buttons {
			bt := &m.Buttons[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"text":`...)
			b = jsonenc.AppendString(b, bt.Text)
			b = jsonStr(b, "callback", bt.Callback, true)
			b = jsonStr(b, "value", bt.Value, true)
			b = jsonStr(b, "link", bt.Link, true)
			b = jsonFlag(b, "link_new_tab", bt.LinkNewTab)
			b = jsonFlag(b, "download", bt.Download)
			b = jsonFlag(b, "hidden", bt.Hidden)
			b = jsonStr(b, "type", bt.Type, true)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = jsonFlag(b, "external", m.External)
	b = jsonFlag(b, "keep_buttons", m.KeepButtons)
	b = jsonFlag(b, "disable_text", m.DisableText)
	b = jsonFlag(b, "hide_avatar", m.HideAvatar)
	b = jsonStr(b, "title", m.Title, true)
	b = jsonStr(b, "subtitle", m.Subtitle, true)
	b = jsonStr(b, "callback", m.Callback, true)
	b = jsonStr(b, "callback_value", m.CallbackValue, true)
	b = jsonStr(b, "link", m.Link, true)
	var err error
	if m.Image != nil {
		if b, err = jsonPart(b, "image", m.Image); err != nil {
			return nil, err
		}
	}
	if len(m.Items) > 0 {
		if b, err = jsonPart(b, "items", m.Items); err != nil {
			return nil, err
		}
	}
	b = jsonStr(b, "view_type", m.ViewType, true)
	if m.Form != nil {
		if b, err = jsonPart(b, "form", m.Form); err != nil {
			return nil, err
		}
	}
	if m.LongText != nil {
		if b, err = jsonPart(b, "long_text", m.LongText); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// jsonStr appends ,"name":"v" (nothing when omit and v is empty).
func jsonStr(b []byte, name, v string, omit bool) []byte {
	if omit && v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return jsonenc.AppendString(b, v)
}

// jsonFlag appends ,"name":true when v is set.
func jsonFlag(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, `":true`...)
}

// jsonPart appends ,"name":v marshalled by encoding/json (the rare message parts).
func jsonPart(b []byte, name string, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, j...), nil
}
