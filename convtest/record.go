package convtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	cueyaml "cuelang.org/go/encoding/yaml"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// Recorder records a conversation so it can be saved as a test: what the
// user did (the steps), what the bot said (as expectations) and what each
// action answered (as mocks). `parley chat` records with one; /save writes it.
type Recorder struct {
	env *plugins.Environment

	mu       sync.Mutex
	pending  []recordedCall
	steps    []recordedStep
	fixtures map[string]any
	order    []string
}

type recordedCall struct {
	action string
	res    plugins.ActionResult
}

type recordedStep struct {
	u       plugins.Utterance
	offered bool // a click on a button of the previous reply
	msgs    []engine.Message
	intents []string
	calls   []recordedCall
}

// NewRecorder returns a recorder whose Environment is base with every action
// wrapped so that its answers are recorded.
func NewRecorder(base *plugins.Environment) *Recorder {
	r := &Recorder{fixtures: map[string]any{}}
	r.env = wrapEnvironment(base, func(_ plugins.ActionKind, cfg plugins.ActionConfig, real plugins.Action) plugins.Action {
		return &recordingAction{inner: real, name: cfg.Name, rec: r}
	})
	return r
}

// Environment is the plugin environment to run the recorded engine with.
func (r *Recorder) Environment() *plugins.Environment { return r.env }

type recordingAction struct {
	inner plugins.Action
	name  string
	rec   *Recorder
}

// Run runs the real action and records its answer.
func (a *recordingAction) Run(ctx context.Context, req plugins.ActionRequest) plugins.ActionResult {
	res := a.inner.Run(ctx, req)
	a.rec.mu.Lock()
	a.rec.pending = append(a.rec.pending, recordedCall{action: a.name, res: res})
	a.rec.mu.Unlock()
	return res
}

// Close closes the real action when it holds resources.
func (a *recordingAction) Close() error {
	if c, ok := a.inner.(plugins.Closer); ok {
		return c.Close()
	}
	return nil
}

// Set records an attribute set during the conversation (path is user.NAME
// or session.NAME); the saved test sets it as a fixture, before the first step.
func (r *Recorder) Set(path string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.fixtures[path]; !ok {
		r.order = append(r.order, path)
	}
	r.fixtures[path] = value
}

// Turn records one turn: what the user sent and the reply.
func (r *Recorder) Turn(u plugins.Utterance, reply *engine.Reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := recordedStep{u: u, msgs: reply.Messages, intents: chosenIntents(reply.Trace), calls: r.pending}
	r.pending = nil
	if u.Type == plugins.ButtonResponse && len(r.steps) > 0 {
		for _, m := range r.steps[len(r.steps)-1].msgs {
			for _, b := range m.Buttons {
				if b.Callback == u.CallbackID {
					s.offered = true
				}
			}
		}
	}
	r.steps = append(r.steps, s)
}

// Steps counts the recorded turns.
func (r *Recorder) Steps() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps)
}

// The saved file's shape: the fields of #TestFile, in the order people read them.
type savedFile struct {
	Tests map[string]savedTest `json:"tests"`
}

type savedTest struct {
	Description string               `json:"description"`
	Fixtures    map[string]any       `json:"fixtures,omitempty"`
	Mocks       map[string]savedMock `json:"mocks,omitempty"`
	Steps       []savedStepT         `json:"steps"`
}

type savedMock struct {
	Calls []savedAnswerT `json:"calls"`
}

type savedAnswerT struct {
	Outputs    map[string]any `json:"outputs,omitempty"`
	Successful *bool          `json:"successful,omitempty"`
	Errors     []string       `json:"errors,omitempty"`
	Fail       any            `json:"fail,omitempty"`
}

type savedStepT struct {
	Open     bool       `json:"open,omitempty"`
	Say      *string    `json:"say,omitempty"`
	Click    string     `json:"click,omitempty"`
	Value    string     `json:"value,omitempty"`
	Trigger  string     `json:"trigger,omitempty"`
	Form     *savedForm `json:"form,omitempty"`
	LongText *string    `json:"long_text,omitempty"`
	Reply    []any      `json:"reply"`
	Intents  []string   `json:"intents,omitempty"`
}

type savedForm struct {
	Data     map[string]any `json:"data,omitempty"`
	Callback string         `json:"callback"`
}

type savedMessage struct {
	Text    string        `json:"text"`
	Buttons []savedButton `json:"buttons"`
}

type savedButton struct {
	Text     string `json:"text"`
	Callback string `json:"callback"`
	Value    string `json:"value,omitempty"`
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// WriteFile writes the conversation so far as a test file: CUE, or YAML
// when path ends in _test.yaml or _test.yml. It never overwrites a file.
func (r *Recorder) WriteFile(path string) error {
	base := filepath.Base(path)
	if !IsTestFile(base) {
		return fmt.Errorf("saving the test: %s is not a test file name: use NAME_test.cue, NAME_test.yaml or NAME_test.yml", base)
	}
	r.mu.Lock()
	name := strings.Trim(nonName.ReplaceAllString(strings.TrimSuffix(strings.TrimSuffix(base, filepath.Ext(base)), "_test"), "_"), "_.-")
	if name == "" {
		name = "recorded"
	}
	t := savedTest{Description: "Recorded with parley chat (/save); attributes set during the chat are fixtures."}
	if len(r.fixtures) > 0 {
		t.Fixtures = map[string]any{}
		for _, p := range r.order {
			ctxName, attr, _ := strings.Cut(p, ".")
			m, _ := t.Fixtures[ctxName].(map[string]any)
			if m == nil {
				m = map[string]any{}
				t.Fixtures[ctxName] = m
			}
			m[attr] = r.fixtures[p]
		}
	}
	for _, s := range r.steps {
		t.Steps = append(t.Steps, savedStep(s))
		for _, c := range s.calls {
			if t.Mocks == nil {
				t.Mocks = map[string]savedMock{}
			}
			m := t.Mocks[c.action]
			m.Calls = append(m.Calls, savedAnswer(c.res))
			t.Mocks[c.action] = m
		}
	}
	steps := len(r.steps)
	r.mu.Unlock()
	if steps == 0 {
		return fmt.Errorf("saving the test: no turn to save yet")
	}
	v := cuecontext.New().Encode(savedFile{Tests: map[string]savedTest{name: t}})
	if err := v.Err(); err != nil {
		return fmt.Errorf("saving the test: %w", err)
	}
	var out []byte
	if strings.HasSuffix(base, ".cue") {
		node := v.Syntax()
		if st, ok := node.(*ast.StructLit); ok {
			node = &ast.File{Decls: st.Elts} // no braces around the file
		}
		b, err := format.Node(node)
		if err != nil {
			return fmt.Errorf("saving the test: %w", err)
		}
		out = append([]byte("// Recorded by parley chat: run it with `parley test "+filepath.ToSlash(filepath.Dir(path))+"`.\n"), b...)
		out = append(out, '\n')
	} else {
		b, err := cueyaml.Encode(v)
		if err != nil {
			return fmt.Errorf("saving the test: %w", err)
		}
		out = append([]byte("# Recorded by parley chat: run it with `parley test "+filepath.ToSlash(filepath.Dir(path))+"`.\n"), b...)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("saving the test: %w", err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return fmt.Errorf("saving the test: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving the test: %w", err)
	}
	return nil
}

func savedStep(s recordedStep) savedStepT {
	var st savedStepT
	u := s.u
	switch {
	case u.Type == plugins.ChatOpen:
		st.Open = true
	case u.Type == plugins.Text:
		st.Say = &u.Text
	case u.Type == plugins.FormResponse:
		st.Form = &savedForm{Data: u.Data, Callback: u.CallbackID}
	case u.Type == plugins.LongTextResponse:
		st.LongText = &u.Text
	case u.Type == plugins.ButtonResponse && s.offered:
		st.Click, st.Value = u.CallbackID, u.Value
	default:
		// A trigger, or a callback no button of the last reply offered (/restart).
		st.Trigger = u.CallbackID
	}
	st.Reply = make([]any, 0, len(s.msgs))
	for _, m := range s.msgs {
		if len(m.Buttons) == 0 {
			st.Reply = append(st.Reply, m.Text)
			continue
		}
		msg := savedMessage{Text: m.Text}
		for _, b := range m.Buttons {
			msg.Buttons = append(msg.Buttons, savedButton{Text: b.Text, Callback: b.Callback, Value: b.Value})
		}
		st.Reply = append(st.Reply, msg)
	}
	st.Intents = s.intents
	return st
}

// savedAnswer is a mock answer that reproduces an action's result.
func savedAnswer(res plugins.ActionResult) savedAnswerT {
	if res.Success {
		outputs, _ := normal(res.Outputs).(map[string]any)
		if outputs == nil {
			outputs = map[string]any{}
		}
		return savedAnswerT{Outputs: outputs}
	}
	outcome, status := "", 0
	if len(res.Calls) > 0 {
		last := res.Calls[len(res.Calls)-1]
		outcome, status = last.Outcome, last.Status
	}
	switch outcome {
	case "timeout", "deadline":
		return savedAnswerT{Fail: FailTimeout}
	case "connection_error", "canceled", "breaker_open", "refused":
		return savedAnswerT{Fail: FailConnection}
	case "invalid_response", "too_large":
		return savedAnswerT{Fail: FailInvalidAnswer}
	case "http_error":
		if status >= 300 && status <= 599 {
			return savedAnswerT{Fail: status}
		}
	}
	msg := res.Error
	if msg == "" {
		msg = "the action failed"
	}
	f := false
	return savedAnswerT{Successful: &f, Errors: []string{msg}}
}
