package convtest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// Results are the outcome of a run.
type Results struct {
	Tests    []*Result
	Duration time.Duration
}

// Passed reports whether every test passed.
func (r *Results) Passed() bool { return r.Failed() == 0 }

// Failed counts the tests that failed.
func (r *Results) Failed() int {
	n := 0
	for _, t := range r.Tests {
		if !t.Passed {
			n++
		}
	}
	return n
}

// Result is the outcome of one test.
type Result struct {
	Test     *Test
	Passed   bool
	Failures []Failure
	Duration time.Duration
	// Turns are the turns the test ran, for coverage.
	Turns []Turn
}

// Turn is one turn of a test: the buttons offered before it, what the user did, the reply.
type Turn struct {
	Offered   []engine.Message
	Utterance plugins.Utterance
	Reply     *engine.Reply
	Config    *dsl.Config
}

// Failure is one expectation that did not hold.
type Failure struct {
	// Pos is the test file position of the expectation.
	Pos string
	// Step is the step's number (0 before the first step); StepDesc says what it did.
	Step     int
	StepDesc string
	// What names the expectation: reply[0].text, intents, context user.full_name, ...
	What string
	// Want and Got are the expected and the actual value, or Message explains.
	Want, Got string
	Message   string
	// Why is the summary of the step's turn trace: why the engine chose what it chose.
	Why []string
}

// Run runs the suite's tests, in parallel, each on its own engine over its
// directory's configuration, as its own user, with its own clock and mocks.
func Run(ctx context.Context, s *Suite, opts Options) *Results {
	start := time.Now()
	var tests []*Test
	for _, t := range s.Tests() {
		if opts.Run == nil || opts.Run.MatchString(t.Name) || opts.Run.MatchString(t.FullName()) {
			tests = append(tests, t)
		}
	}
	res := &Results{Tests: make([]*Result, len(tests))}
	workers := opts.Parallel
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(tests))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res.Tests[i] = RunTest(ctx, tests[i])
			}
		}()
	}
	for i := range tests {
		next <- i
	}
	close(next)
	wg.Wait()
	res.Duration = time.Since(start)
	return res
}

// clock is a test's time: it moves only when a step advances it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// RunTest runs one test.
func RunTest(ctx context.Context, t *Test) *Result {
	start := time.Now()
	r := &Result{Test: t}
	run := newTestRun(t)
	defer run.close()
	ctx = withRun(ctx, run)
	clk := &clock{t: t.Clock}
	// One engine per test for its own clock; it shares the directory's
	// configuration and is not closed, which would close the configuration.
	e, err := engine.New(t.dir.Config, engine.WithEnvironment(t.dir.Env), engine.WithClock(clk.now),
		engine.WithSessionTimeout(t.SessionTimeout))
	if err != nil {
		r.Failures = append(r.Failures, Failure{Pos: t.Pos, What: "engine", Message: err.Error()})
		r.Duration = time.Since(start)
		return r
	}
	for _, f := range t.Fixtures {
		if err := e.SetAttribute(ctx, t.User, f.Path, f.Value); err != nil {
			r.Failures = append(r.Failures, Failure{Pos: f.Pos, What: "fixture " + f.Path, Message: err.Error()})
		}
	}
	var last []engine.Message
	for _, s := range t.Steps {
		if len(r.Failures) > 0 {
			break
		}
		clk.advance(s.Advance)
		var reply *engine.Reply
		if s.Kind != StepAdvance {
			u, fail := utterance(s, last)
			if fail != nil {
				r.Failures = append(r.Failures, *fail)
				break
			}
			reply, err = e.Handle(ctx, t.User, u)
			if err != nil {
				r.Failures = append(r.Failures, Failure{Pos: s.Pos, Step: s.Index, StepDesc: s.Describe(), What: "turn", Message: err.Error()})
				break
			}
			r.Turns = append(r.Turns, Turn{Offered: last, Utterance: u, Reply: reply, Config: t.dir.Config})
			last = reply.Messages
			for _, msg := range run.takeUnmocked() {
				r.Failures = append(r.Failures, Failure{Pos: s.Pos, Step: s.Index, StepDesc: s.Describe(), What: "mocks", Message: msg})
			}
		}
		r.Failures = append(r.Failures, check(ctx, e, t, s, reply)...)
		if len(r.Failures) > 0 && reply != nil {
			why := Summary(reply.Trace)
			for i := range r.Failures {
				if r.Failures[i].Step == s.Index && r.Failures[i].Why == nil {
					r.Failures[i].Why = why
				}
			}
		}
	}
	r.Passed = len(r.Failures) == 0
	r.Duration = time.Since(start)
	return r
}

// utterance builds what the user sends in step s; a click looks its button up in the last messages.
func utterance(s *Step, last []engine.Message) (plugins.Utterance, *Failure) {
	switch s.Kind {
	case StepOpen:
		return plugins.Utterance{Type: plugins.ChatOpen}, nil
	case StepSay:
		return plugins.Utterance{Type: plugins.Text, Text: s.Text}, nil
	case StepTrigger:
		return plugins.Utterance{Type: plugins.Trigger, CallbackID: s.Callback}, nil
	case StepForm, StepLongText:
		return answerUtterance(s, last)
	}
	var offered []string
	for _, m := range last {
		for _, b := range m.Buttons {
			offered = append(offered, fmt.Sprintf("%q (callback %s)", b.Text, b.Callback))
			if (s.Kind == StepClick && b.Callback == s.Callback) || (s.Kind == StepClickText && b.Text == s.Text) {
				v := b.Value
				if s.HasValue {
					v = s.Value
				}
				return plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: b.Callback, Value: v}, nil
			}
		}
	}
	what := "callback " + strconv.Quote(s.Callback)
	if s.Kind == StepClickText {
		what = "text " + strconv.Quote(s.Text)
	}
	got := "none"
	if len(offered) > 0 {
		got = strings.Join(offered, ", ")
	}
	return plugins.Utterance{}, &Failure{Pos: s.Pos, Step: s.Index, StepDesc: s.Describe(), What: "button",
		Want: "a button with " + what + " in the bot's last messages", Got: got}
}

// answerUtterance answers the form or long text message of the last messages.
func answerUtterance(s *Step, last []engine.Message) (plugins.Utterance, *Failure) {
	for i := len(last) - 1; i >= 0; i-- {
		m := last[i]
		switch {
		case s.Kind == StepForm && m.Form != nil:
			cb := m.Form.Callback
			if s.Cancel {
				cb = m.Form.CancelCallback
			}
			if s.Callback != "" {
				cb = s.Callback
			}
			return plugins.Utterance{Type: plugins.FormResponse, CallbackID: cb, Data: s.FormData}, nil
		case s.Kind == StepLongText && m.LongText != nil:
			return plugins.Utterance{Type: plugins.LongTextResponse, CallbackID: m.LongText.Callback, Text: s.Text}, nil
		}
	}
	if s.Kind == StepForm && s.Callback != "" {
		// A form submitted by its callback, shown or not.
		return plugins.Utterance{Type: plugins.FormResponse, CallbackID: s.Callback, Data: s.FormData}, nil
	}
	what := "a form"
	if s.Kind == StepLongText {
		what = "a long text message"
	}
	return plugins.Utterance{}, &Failure{Pos: s.Pos, Step: s.Index, StepDesc: s.Describe(), What: s.Kind,
		Want: what + " in the bot's last messages", Got: quoteList(last)}
}

// check tests the expectations of step s against the turn's reply (nil for an advance step).
func check(ctx context.Context, e *engine.Engine, t *Test, s *Step, reply *engine.Reply) []Failure {
	var out []Failure
	fail := func(pos, what, want, got string) {
		out = append(out, Failure{Pos: pos, Step: s.Index, StepDesc: s.Describe(), What: what, Want: want, Got: got})
	}
	if reply != nil {
		if s.HasReply {
			checkReply(s, reply.Messages, fail)
		}
		if s.HasIntent {
			got := chosenIntents(reply.Trace)
			if !slices.Equal(got, s.Intents) {
				fail(s.IntentPos, "intents", listString(s.Intents), listString(got))
			}
		}
		if s.HasAction {
			checkActions(s, reply.Trace.Actions, fail)
		}
		if s.NoMatch != nil && noMatched(reply.Trace) != *s.NoMatch {
			fail(s.NoMatchAt, "no_match", strconv.FormatBool(*s.NoMatch), strconv.FormatBool(!*s.NoMatch))
		}
		if s.Completed != nil && completed(reply.Trace) != *s.Completed {
			fail(s.DoneAt, "completed", strconv.FormatBool(*s.Completed), strconv.FormatBool(!*s.Completed))
		}
	}
	if len(s.Context) > 0 {
		c, err := e.Context(ctx, t.User)
		if err != nil {
			out = append(out, Failure{Pos: s.Pos, Step: s.Index, StepDesc: s.Describe(), What: "context", Message: err.Error()})
			return out
		}
		for _, x := range s.Context {
			checkContext(x, c, fail)
		}
	}
	return out
}

func listString(l []string) string {
	b, _ := json.Marshal(l)
	if l == nil {
		return "[]"
	}
	return string(b)
}

func quoteList(msgs []engine.Message) string {
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		texts[i] = m.Text
	}
	return listString(texts)
}

func checkReply(s *Step, msgs []engine.Message, fail func(pos, what, want, got string)) {
	if len(msgs) != len(s.Reply) {
		want := make([]string, len(s.Reply))
		for i, m := range s.Reply {
			switch {
			case m.Text != nil:
				want[i] = *m.Text
			case m.Matches != nil:
				want[i] = "/" + m.Matches.String() + "/"
			default:
				want[i] = "(any text)"
			}
		}
		fail(s.ReplyPos, "reply", fmt.Sprintf("%d messages %s", len(want), listString(want)), fmt.Sprintf("%d messages %s", len(msgs), quoteList(msgs)))
		return
	}
	for i, m := range s.Reply {
		got := msgs[i]
		at := fmt.Sprintf("reply[%d]", i)
		if m.Text != nil && got.Text != *m.Text {
			fail(m.Pos, at+".text", strconv.Quote(*m.Text), strconv.Quote(got.Text))
		}
		if m.Matches != nil && !m.Matches.MatchString(got.Text) {
			fail(m.Pos, at+".text matches", "/"+m.Matches.String()+"/", strconv.Quote(got.Text))
		}
		if m.Intent != "" && got.Intent != m.Intent {
			fail(m.Pos, at+".intent", m.Intent, got.Intent)
		}
		if !m.HasButtons {
			continue
		}
		if len(got.Buttons) != len(m.Buttons) {
			fail(m.Pos, at+".buttons", fmt.Sprintf("%d buttons %s", len(m.Buttons), buttonsString(m.Buttons)), fmt.Sprintf("%d buttons %s", len(got.Buttons), gotButtons(got.Buttons)))
			continue
		}
		for j, b := range m.Buttons {
			g := got.Buttons[j]
			bat := fmt.Sprintf("%s.buttons[%d]", at, j)
			if b.Text != nil && g.Text != *b.Text {
				fail(b.Pos, bat+".text", strconv.Quote(*b.Text), strconv.Quote(g.Text))
			}
			if b.Callback != nil && g.Callback != *b.Callback {
				fail(b.Pos, bat+".callback", strconv.Quote(*b.Callback), strconv.Quote(g.Callback))
			}
			if b.Value != nil && g.Value != *b.Value {
				fail(b.Pos, bat+".value", strconv.Quote(*b.Value), strconv.Quote(g.Value))
			}
		}
	}
}

func buttonsString(bs []ExpectButton) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		var f []string
		if b.Text != nil {
			f = append(f, "text "+strconv.Quote(*b.Text))
		}
		if b.Callback != nil {
			f = append(f, "callback "+strconv.Quote(*b.Callback))
		}
		if b.Value != nil {
			f = append(f, "value "+strconv.Quote(*b.Value))
		}
		parts[i] = "{" + strings.Join(f, ", ") + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func gotButtons(bs []engine.Button) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("{text %q, callback %q}", b.Text, b.Callback)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// chosenIntents lists the intents chosen in a turn, user and app, in order.
func chosenIntents(tr *engine.Trace) []string {
	var out []string
	for _, s := range tr.Selections {
		if s.Chosen != "" {
			out = append(out, s.Chosen)
		}
	}
	return out
}

// noMatched reports whether nothing matched the turn's utterance.
func noMatched(tr *engine.Trace) bool {
	for _, s := range tr.Selections {
		if strings.HasPrefix(s.From, "no match: ") && s.Chosen != "" {
			return true
		}
	}
	for _, ev := range tr.Events {
		if strings.HasPrefix(ev, "nothing matched") {
			return true
		}
	}
	return false
}

// completed reports whether the turn ended the conversation.
func completed(tr *engine.Trace) bool {
	for _, ev := range tr.Events {
		if strings.HasPrefix(ev, "conversation completed") || ev == "chat ended" {
			return true
		}
	}
	return false
}

func checkActions(s *Step, got []engine.ActionTrace, fail func(pos, what, want, got string)) {
	names := make([]string, len(got))
	for i, a := range got {
		names[i] = a.Action
	}
	want := make([]string, len(s.Actions))
	for i, a := range s.Actions {
		want[i] = a.Name
	}
	if !slices.Equal(names, want) {
		fail(s.ActionPos, "actions", listString(want), listString(names))
		return
	}
	for i, a := range s.Actions {
		g := got[i]
		if a.HasInputs && !sameValue(a.Inputs, g.Inputs) {
			fail(a.Pos, fmt.Sprintf("actions[%d] %s inputs", i, a.Name), jsonString(a.Inputs), jsonString(g.Inputs))
		}
		if a.Success != nil && g.Success != *a.Success {
			got := strconv.FormatBool(g.Success)
			if g.Error != "" {
				got += " (" + g.Error + ")"
			}
			fail(a.Pos, fmt.Sprintf("actions[%d] %s success", i, a.Name), strconv.FormatBool(*a.Success), got)
		}
	}
}

// normal is v as JSON decodes it (integral numbers as int), so values compare by content.
func normal(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	out, _ := dsl.DecodeJSON(b)
	return out
}

func sameValue(a, b any) bool {
	if m, ok := a.(map[string]any); ok && len(m) == 0 {
		a = nil
	}
	if m, ok := b.(map[string]any); ok && len(m) == 0 {
		b = nil
	}
	return reflect.DeepEqual(normal(a), normal(b))
}

func jsonString(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// lookup finds a context path (user.policy.type) in the contexts.
func lookup(c engine.Contexts, path string) (any, bool) {
	parts := strings.Split(path, ".")
	var m map[string]any
	switch parts[0] {
	case engine.ContextUser:
		m = c.User
	case engine.ContextSession:
		m = c.Session
	case engine.ContextConversation:
		m = c.Conversation
	}
	var v any = m
	for _, p := range parts[1:] {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[p]; !ok {
			return nil, false
		}
	}
	if parts[0] == engine.ContextConversation && v == "" {
		return nil, false
	}
	return v, v != nil
}

// typeName is the attribute type of a context value.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case int, int64, int32:
		return "int"
	case float64, float32:
		return "float"
	case bool:
		return "bool"
	case time.Time:
		return "timestamp"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

func checkContext(x ExpectContext, c engine.Contexts, fail func(pos, what, want, got string)) {
	v, ok := lookup(c, x.Path)
	what := "context " + x.Path
	got := "(absent)"
	if ok {
		got = jsonString(v)
	}
	switch x.Check {
	case CheckEquals:
		if !ok && x.Value == nil {
			return
		}
		if !ok || !sameValue(x.Value, v) {
			fail(x.Pos, what, jsonString(x.Value), got)
		}
	case CheckAbsent:
		if ok {
			fail(x.Pos, what, "(absent)", got)
		}
	case CheckType:
		want, _ := x.Value.(string)
		if !ok {
			if want != "null" {
				fail(x.Pos, what+" type", want, "(absent)")
			}
			return
		}
		if tn := typeName(v); tn != want {
			fail(x.Pos, what+" type", want, tn+" "+got)
		}
	case CheckMatches:
		s, isStr := v.(string)
		if !isStr || x.Re == nil || !x.Re.MatchString(s) {
			fail(x.Pos, what+" matches", "/"+x.Re.String()+"/", got)
		}
	}
}

// Summary explains a turn from its trace, one line per selection, action,
// event and error: the intents considered, which was chosen and why the
// others were not.
func Summary(tr *engine.Trace) []string {
	if tr == nil {
		return nil
	}
	var out []string
	for _, s := range tr.Selections {
		line := s.Speaker + " intent from " + s.From + ": "
		if s.Chosen != "" {
			line += "chose " + s.Chosen
		} else {
			line += "chose none"
		}
		var others []string
		for _, c := range s.Candidates {
			if c.Outcome == engine.OutcomeChosen {
				continue
			}
			why := c.Outcome
			if c.Reason != "" {
				why = c.Reason
			}
			if c.Condition != nil {
				why += ": " + c.Condition.Source
				if c.Condition.Pos != "" {
					why += " at " + c.Condition.Pos
				}
				if c.Condition.Error != "" {
					why += ": " + c.Condition.Error
				}
			}
			others = append(others, c.Intent+" ("+why+")")
		}
		if len(others) > 0 {
			line += "; not " + strings.Join(others, ", not ")
		}
		out = append(out, line)
	}
	for _, a := range tr.Actions {
		kind := a.Kind
		if len(a.Calls) > 0 && strings.HasPrefix(a.Calls[0].URL, "mock:") {
			kind += ", mocked"
		}
		line := "action " + a.Action + " (" + kind + ") for " + a.Intent + ": "
		switch {
		case a.Skipped:
			line += "skipped: " + a.Error
		case a.Success:
			line += "succeeded"
			if len(a.Outputs) > 0 {
				line += ", wrote " + jsonString(a.Outputs)
			}
		default:
			line += "failed: " + a.Error
		}
		if len(a.Inputs) > 0 {
			line += "; inputs " + jsonString(a.Inputs)
		}
		out = append(out, line)
	}
	for _, ev := range tr.Events {
		out = append(out, "event: "+ev)
	}
	for _, e := range tr.Errors {
		out = append(out, "error: "+e)
	}
	return out
}
