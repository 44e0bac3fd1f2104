package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/store"
)

// actionScenario runs action a (declared by decl) when the user says "go";
// the response shows the status and the attribute shown.
func actionScenario(decl, call, shown string) string {
	return `scenarios: s: {
	attributes: {age: "int", name: "string"}
	actions: a: {` + decl + `}
}
` + single(`t: {
		behaviors: ["starting", "open"]
		request: [{id: "go", utterances: ["go"], actions: [{use: "a"`+call+`}]}]
		response: [{id: "done", message: text: "{{ user.action_status }} {{ `+shown+` }}"}]
	}`)
}

func returns(success bool, outputs map[string]any) plugins.ActionFunc {
	return func(context.Context, plugins.ActionRequest) plugins.ActionResult {
		return plugins.ActionResult{Success: success, Outputs: outputs, Error: map[bool]string{false: "it broke"}[success]}
	}
}

func TestActions(t *testing.T) {
	var seen sync.Map // inputs received, by test
	record := func(key string) plugins.ActionFunc {
		return func(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
			seen.Store(key, req.Inputs)
			return plugins.ActionResult{Success: true, Outputs: map[string]any{"name": "Zed"}}
		}
	}
	runCases(t, []engineCase{
		{
			name:  "outputs without a mapping are written to the user context by name",
			src:   actionScenario(`go: "f", outputs: ["name"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": returns(true, map[string]any{"name": "Ann"})},
			steps: []step{{u: text("go"), want: []string{"true Ann"}, check: all(userIs("name", "Ann"), userIs("action_status", true))}},
		},
		{
			name:  "output mappings write any context from expressions over output",
			src:   actionScenario(`go: "f", outputs: ["name"]`, `, outputs: {"session.greeting": "'Hi ' + output.name"}`, "session.greeting"),
			funcs: map[string]plugins.ActionFunc{"f": returns(true, map[string]any{"name": "Ann"})},
			steps: []step{{u: text("go"), want: []string{"true Hi Ann"}, check: all(sessionIs("greeting", "Hi Ann"), userIs("name", nil))}},
		},
		{
			name:  "inputs without a mapping are read from the user context by name",
			src:   actionScenario(`go: "in1", inputs: ["name", "age"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"in1": record("in1")},
			steps: []step{{u: text("go"), set: map[string]any{"name": "Bo"}, check: func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
				got, _ := seen.Load("in1")
				if b, _ := json.Marshal(got); string(b) != `{"name":"Bo"}` {
					t.Fatalf("inputs = %s, want only the name (an unset attribute is not sent)", b)
				}
				if r.Trace.Actions[0].Inputs["name"] != "Bo" {
					t.Fatalf("trace inputs = %v", r.Trace.Actions[0].Inputs)
				}
			}}},
		},
		{
			name:  "input mappings are expressions over the contexts",
			src:   actionScenario(`go: "in2", inputs: ["name"]`, `, inputs: {name: "upper(user.name) + '!'"}`, "user.name"),
			funcs: map[string]plugins.ActionFunc{"in2": record("in2")},
			steps: []step{{u: text("go"), set: map[string]any{"name": "bo"}, check: func(t *testing.T, _ *engine.Reply, _ engine.Contexts) {
				got, _ := seen.Load("in2")
				if got.(map[string]any)["name"] != "BO!" {
					t.Fatalf("inputs = %v", got)
				}
			}}},
		},
		{
			name:  "a failed action sets action_status false and writes no output",
			src:   actionScenario(`go: "f", outputs: ["name"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": returns(false, map[string]any{"name": "Ann"})},
			steps: []step{{u: text("go"), want: []string{"false "}, check: all(userIs("action_status", false), userIs("name", nil), traceHas(`"error": "it broke"`))}},
		},
		{
			name:  "outputs apply all together or not at all",
			src:   actionScenario(`go: "f", outputs: ["name", "age"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": returns(true, map[string]any{"name": "Ann", "age": "old"})},
			steps: []step{{u: text("go"), set: map[string]any{"name": "Bo"}, want: []string{"false Bo"},
				check: all(userIs("name", "Bo"), userIs("age", nil), traceHas("outputs not applied: user.age: want an int, got a string"))}},
		},
		{
			name:  "a whole JSON number is accepted for an int attribute",
			src:   actionScenario(`go: "f", outputs: ["age"]`, "", "user.age"),
			funcs: map[string]plugins.ActionFunc{"f": returns(true, map[string]any{"age": float64(42)})},
			steps: []step{{u: text("go"), want: []string{"true 42"}, check: userIs("age", 42)}},
		},
		{
			name:  "an output returned as null unsets the attribute",
			src:   actionScenario(`go: "f", outputs: ["name"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": returns(true, map[string]any{"name": nil})},
			steps: []step{{u: text("go"), set: map[string]any{"name": "Bo"}, want: []string{"true "}, check: userIs("name", nil)}},
		},
		{
			name:  "an output the action did not return is left alone",
			src:   actionScenario(`go: "f", outputs: ["name"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": returns(true, map[string]any{})},
			steps: []step{{u: text("go"), set: map[string]any{"name": "Bo"}, want: []string{"true Bo"}}},
		},
		{
			name:  "an inactive action is skipped, traced and counts as failed",
			src:   actionScenario(`active: false, go: "f", outputs: ["name"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": func(context.Context, plugins.ActionRequest) plugins.ActionResult { panic("must not run") }},
			steps: []step{{u: text("go"), want: []string{"false "}, check: traceHas(`"skipped": true`, "action is inactive")}},
		},
		{
			name:  "a panicking Go action fails without stopping the conversation",
			src:   actionScenario(`go: "f", outputs: ["name"]`, "", "user.name"),
			funcs: map[string]plugins.ActionFunc{"f": func(context.Context, plugins.ActionRequest) plugins.ActionResult { panic("boom") }},
			steps: []step{{u: text("go"), want: []string{"false "}, check: traceHas("panicked: boom")}},
		},
	})
}

func TestSetAttribute(t *testing.T) {
	src := `scenarios: s: attributes: {age: "int", height: "float", name: "string", vip: "bool", born: "timestamp", tags: "list", prefs: "map"}
` + single(welcomeTurn)
	ctx := context.Background()
	cases := []struct {
		name    string
		path    string
		value   any
		text    bool // use SetAttributeText with value.(string)
		want    any  // the stored value; nil with wantErr
		wantErr string
	}{
		{name: "a declared int accepts an int", path: "user.age", value: 42, want: 42},
		{name: "a declared int rejects a string and leaves the context unchanged", path: "age", value: "42", wantErr: "want an int, got a string"},
		{name: "a declared int accepts a whole float", path: "age", value: 42.0, want: 42},
		{name: "a declared int rejects a fraction", path: "age", value: 4.5, wantErr: "want an int"},
		{name: "a declared float accepts an int", path: "height", value: 2, want: 2.0},
		{name: "a declared bool rejects a number", path: "vip", value: 1, wantErr: "want a bool, got an integer"},
		{name: "a declared list accepts a Go slice", path: "tags", value: []string{"a", "b"}, want: []any{"a", "b"}},
		{name: "a declared map rejects a list", path: "prefs", value: []any{}, wantErr: "want a map, got a list"},
		{name: "a declared timestamp accepts RFC 3339 text", path: "born", value: "2024-05-01T12:00:00Z", want: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
		{name: "an undeclared attribute accepts any JSON value", path: "session.extra", value: map[string]any{"a": []any{1.0}}, want: map[string]any{"a": []any{1.0}}},
		{name: "an undeclared attribute rejects a value that is not JSON", path: "extra", value: make(chan int), wantErr: "not JSON"},
		{name: "the conversation context is read-only", path: "conversation.current_turn", value: "x", wantErr: "read-only"},
		{name: "the global context is read-only", path: "global.x", value: "x", wantErr: "read-only"},
		{name: "an unknown context is refused", path: "users.x", value: "x", wantErr: `unknown context "users"`},
		{name: "a bad attribute name is refused", path: "user.a.b", value: "x", wantErr: "not an attribute name"},
		{name: "action_status is a bool", path: "action_status", value: "yes", wantErr: "want a bool"},
		{name: "text for a declared int is converted", path: "age", value: "42", text: true, want: 42},
		{name: "text that is not an int is refused for an int", path: "age", value: "forty", text: true, wantErr: `want an int, got "forty"`},
		{name: "text for a declared int out of range says so", path: "age", value: "99999999999999999999", text: true, wantErr: `out of range`},
		{name: "text for a declared float out of range says so", path: "height", value: "1e999", text: true, wantErr: `out of range`},
		{name: "text for a declared string is kept as it is", path: "name", value: "42", text: true, want: "42"},
		{name: "text for a declared list is JSON", path: "tags", value: `["a"]`, text: true, want: []any{"a"}},
		{name: "JSON text for an undeclared attribute is decoded", path: "flag", value: "true", text: true, want: true},
		{name: "other text for an undeclared attribute is a string", path: "note", value: "hello there", text: true, want: "hello there"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t, src, nil)
			p, perr := engine.ParsePath(tc.path)
			if perr == nil {
				// A previous value, to show that a refused value changes nothing.
				if err := e.SetAttribute(ctx, "u", tc.path, nil); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if tc.text {
				err = e.SetAttributeText(ctx, "u", tc.path, tc.value.(string))
			} else {
				err = e.SetAttribute(ctx, "u", tc.path, tc.value)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				c, _ := e.Context(ctx, "u")
				if len(c.User) != 0 || len(c.Session) != 0 {
					t.Fatalf("context changed: %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _ := e.Context(ctx, "u")
			m := c.User
			if p.Context == "session" {
				m = c.Session
			}
			got, _ := json.Marshal(m[p.Name])
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Fatalf("%s = %s, want %s", tc.path, got, want)
			}
			if _, isInt := tc.want.(int); isInt {
				if _, ok := m[p.Name].(int); !ok {
					t.Fatalf("%s is a %T, want an int", tc.path, m[p.Name])
				}
			}
		})
	}
}

func TestContextIsACopy(t *testing.T) {
	e := open(t, single(welcomeTurn), nil)
	ctx := context.Background()
	if err := e.SetAttribute(ctx, "u", "tags", []any{"a"}); err != nil {
		t.Fatal(err)
	}
	c, _ := e.Context(ctx, "u")
	c.User["tags"].([]any)[0] = "changed"
	c.User["new"] = 1
	c2, _ := e.Context(ctx, "u")
	if c2.User["tags"].([]any)[0] != "a" || c2.User["new"] != nil {
		t.Fatalf("changing a returned context changed the engine's: %v", c2.User)
	}
}

func TestTurnsOfOneUserNeverInterleave(t *testing.T) {
	// Each turn reads user.count and writes count+1 through an action: a
	// lost update would show as a smaller total.
	inc := func(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
		n, _ := req.Inputs["count"].(int)
		time.Sleep(10 * time.Microsecond) // widen the window for a race
		return plugins.ActionResult{Success: true, Outputs: map[string]any{"count": n + 1}}
	}
	src := `scenarios: s: {
	attributes: count: "int"
	actions: inc: {go: "inc", inputs: ["count"], outputs: ["count"]}
}
` + single(`t: {
		behaviors: ["starting", "open"]
		request: [{id: "inc", utterances: ["inc"], actions: [{use: "inc"}]}]
		response: [{id: "done", message: text: "{{ user.count }}"}]
	}`)
	e := open(t, src, map[string]plugins.ActionFunc{"inc": inc})
	ctx := context.Background()
	const workers, turns = 8, 25
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < turns; i++ {
				if _, err := e.Handle(ctx, "shared", text("inc")); err != nil {
					failed.Add(1)
				}
				// Another user's turns and reads run alongside.
				if _, err := e.Handle(ctx, "other", text("inc")); err != nil {
					failed.Add(1)
				}
				if _, err := e.Context(ctx, "shared"); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	for _, user := range []string{"shared", "other"} {
		c, _ := e.Context(ctx, user)
		if c.User["count"] != workers*turns {
			t.Fatalf("%s: count = %v, want %d", user, c.User["count"], workers*turns)
		}
	}
}

func TestSwap(t *testing.T) {
	v1 := single(`start: {
		behaviors: ["starting"]
		request: [{id: "intent.core.welcome"}]
		response: [{id: "hello", message: text: "Hello v1"}]
	}
	next: {
		valid_origins: ["hello"]
		request: [{id: "go", utterances: ["go"], actions: [{use: "swap"}]}]
		response: [{id: "went", message: text: "Went v1"}]
	}`) + `scenarios: s: actions: swap: go: "swap"`
	v2 := `scenarios: s: conversations: c: {
	behaviors: ["starting"]
	scenes: renamed: {
		behaviors: ["starting"]
		turns: start: {
			behaviors: ["starting"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "hello", message: text: "Hello v2"}]
		}
	}
}
scenarios: s: actions: swap: go: "swap"
`
	var e *engine.Engine
	var swapped atomic.Pointer[dsl.Config]
	var env *plugins.Environment
	swap := func(context.Context, plugins.ActionRequest) plugins.ActionResult {
		cfg, err := dsl.Load(fstest.MapFS{"main.cue": {Data: []byte(v2)}}, dsl.Options{Env: env})
		if err != nil {
			return plugins.ActionResult{Error: err.Error()}
		}
		swapped.Store(e.Swap(cfg))
		return plugins.ActionResult{Success: true}
	}
	env = newEnv(t, map[string]plugins.ActionFunc{"swap": swap})
	e = openEnv(t, v1, env)
	v1Version := e.Config().Version
	play(t, e, "u", []step{
		{u: chatOpen, want: []string{"Hello v1"}},
		// The action swaps the configuration mid-turn: the turn finishes on v1.
		{u: text("go"), want: []string{"Went v1"}, check: func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
			if r.Trace.ConfigVersion != v1Version {
				t.Fatalf("turn ran on %s, want v1 %s", r.Trace.ConfigVersion, v1Version)
			}
			if old := swapped.Load(); old == nil || old.Version != v1Version {
				t.Fatalf("Swap returned %v, want the v1 configuration", old)
			}
		}},
		// The next turn runs on v2, where the user's scene no longer exists.
		{u: chatOpen, want: []string{"Hello v2"}, check: traceHas(`scene \"main\" no longer exists`)},
	})
	swapped.Load().Close()
}

func TestSessionTimeout(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	src := single(welcomeTurn + `note: {
		valid_origins: ["hello"]
		request: [{id: "note", patterns: ["^note (?P<n>\\w+)$"]}]
		response: [{id: "noted", message: text: "Noted {{ session.n }}"}]
	}`)
	e := open(t, src, nil, engine.WithClock(clock), engine.WithSessionTimeout(30*time.Minute))
	ctx := context.Background()
	play(t, e, "u", []step{{u: chatOpen}})
	now = now.Add(31 * time.Minute)
	play(t, e, "u", []step{{u: text("note x"), want: []string{engine.DefaultNoMatchText}, check: all(traceHas("session timed out"))}})
	if c, _ := e.Context(ctx, "u"); c.Conversation["current_conversation"] != "" {
		t.Fatalf("conversation still current after the timeout: %v", c.Conversation)
	}
}

// conflictStore refuses every save, as a store shared with another replica might.
type conflictStore struct{ store.Store }

func (conflictStore) Save(context.Context, string, store.State, *store.HistoryEntry) (uint64, error) {
	return 0, store.ErrConflict
}

func TestHandleErrors(t *testing.T) {
	ctx := context.Background()
	e := open(t, single(welcomeTurn), nil)
	cases := []struct {
		name, user string
		u          plugins.Utterance
		want       string
	}{
		{"an empty user id is refused", "", chatOpen, "empty user id"},
		{"an unknown utterance type is refused", "u", plugins.Utterance{Type: "telepathy"}, `unknown utterance type "telepathy"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Handle(ctx, tc.user, tc.u); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("a store conflict is returned as ErrConflict", func(t *testing.T) {
		e := open(t, single(welcomeTurn), nil, engine.WithStore(conflictStore{store.NewMemory()}))
		if _, err := e.Handle(ctx, "u", chatOpen); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("a closed engine refuses turns", func(t *testing.T) {
		e := open(t, single(welcomeTurn), nil)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Handle(ctx, "u", chatOpen); !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	})
	t.Run("a scenario that does not load is reported with its position", func(t *testing.T) {
		_, err := engine.OpenFS(fstest.MapFS{"main.cue": {Data: []byte(`scenarios: s: bogus: 1`)}}, engine.WithEnvironment(newEnv(t, nil)))
		if err == nil || !strings.Contains(err.Error(), "main.cue:1") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTraceIsJSON(t *testing.T) {
	e := open(t, greeter, map[string]plugins.ActionFunc{"full_name": fullName})
	ctx := context.Background()
	if _, err := e.Handle(ctx, "u", chatOpen); err != nil {
		t.Fatal(err)
	}
	e.SetAttribute(ctx, "u", "first_name", "John")
	e.SetAttribute(ctx, "u", "last_name", "Smith")
	r, err := e.Handle(ctx, "u", click("ok"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back engine.Reply
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	a := back.Trace.Actions
	if len(a) != 1 || a[0].Action != "full_name" || a[0].Kind != "go" || !a[0].Success ||
		a[0].Inputs["first_name"] != "John" || a[0].Outputs["user.full_name"] != "John Smith" {
		t.Fatalf("action trace = %+v", a)
	}
	if back.Trace.Selections[0].Chosen != "ok" || back.Trace.Selections[1].Chosen != "greeting" {
		t.Fatalf("selections = %+v", back.Trace.Selections)
	}
	if len(back.Trace.Events) == 0 || !strings.Contains(back.Trace.Events[0], "completed by greeting") {
		t.Fatalf("events = %v", back.Trace.Events)
	}
}

func TestForget(t *testing.T) {
	e := open(t, greeter, map[string]plugins.ActionFunc{"full_name": fullName})
	ctx := context.Background()
	play(t, e, "u", []step{{u: chatOpen, set: map[string]any{"first_name": "Ann"}}})
	if err := e.Forget(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	c, err := e.Context(ctx, "u")
	if err != nil || len(c.User) != 0 || c.Conversation["current_conversation"] != "" {
		t.Fatalf("after Forget: %+v, %v", c, err)
	}
	// The next utterance starts afresh.
	play(t, e, "u", []step{{u: click("ok"), want: []string{engine.DefaultNoMatchText}}})
}

// The utterance and conversation contexts are put in an expression's
// environment only when it reads them: each kind of expression that reads
// them, directly or through $env, must see them, also as the only
// expression of the turn that does.
func TestEveryKindOfExpressionSeesTheContextsItReads(t *testing.T) {
	const (
		plainCall = `{use: "a"}`
		plainText = `text: "{{ session.echo }}"`
		echoOut   = `outputs: {"session.echo": "output.said"}`
	)
	cases := []struct {
		name, cond, call, respCond, message, want string
	}{
		{name: "user intent condition", cond: `"utterance.text == 'go' && conversation.current_turn == ''"`,
			call: plainCall, message: `text: "ok"`, want: "ok"},
		{name: "action input", call: `{use: "a", inputs: {said: "utterance.text + '@' + conversation.current_scene"}, ` + echoOut + `}`,
			message: plainText, want: "go@main"},
		{name: "action output", call: `{use: "a", outputs: {"session.echo": "conversation.current_intent + '/' + utterance.type"}}`,
			message: plainText, want: "go/text"},
		{name: "app intent condition", call: plainCall, respCond: `"conversation.current_intent == 'go' && utterance.type == 'text'"`,
			message: `text: "ok"`, want: "ok"},
		{name: "message template", call: plainCall, message: `text: "{{ conversation.current_turn }} {{ utterance.text }}"`, want: "t go"},
		{name: "button template", call: plainCall, message: `text: "ok", buttons: [{text: "{{ utterance.text }} {{ conversation.current_intent }}", callback: "go"}]`, want: "ok|go r"},
		{name: "the whole environment", call: plainCall, message: `text: "{{ $env.utterance.text }} {{ $env.conversation.current_scene }}"`, want: "go main"},
	}
	echo := func(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
		return plugins.ActionResult{Success: true, Outputs: map[string]any{"said": req.Inputs["said"]}}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conds, respConds := "", ""
			if tc.cond != "" {
				conds = "conditions: [" + tc.cond + "]"
			}
			if tc.respCond != "" {
				respConds = "conditions: [" + tc.respCond + "]"
			}
			src := `scenarios: s: {
	attributes: {said: "string"}
	actions: a: {go: "echo", inputs: ["said"], outputs: ["said"]}
}
` + single(`t: {
		behaviors: ["starting", "open"]
		request: [{id: "go", utterances: ["go"], `+conds+`
			actions: [`+tc.call+`]}]
		response: [{id: "r", `+respConds+`
			message: {`+tc.message+`}}]
	}`)
			e := open(t, src, map[string]plugins.ActionFunc{"echo": echo})
			for i := 0; i < 3; i++ { // turns recycle their environments
				r, err := e.Handle(context.Background(), fmt.Sprint("u", i), text("go"))
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				for _, m := range r.Messages {
					got += m.Text
					for _, b := range m.Buttons {
						got += "|" + b.Text
					}
				}
				if got != tc.want || len(r.Trace.Errors) != 0 {
					t.Fatalf("reply %q, want %q; trace errors %v", got, tc.want, r.Trace.Errors)
				}
			}
		})
	}
}
