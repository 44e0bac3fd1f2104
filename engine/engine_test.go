package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/store"
)

// single wraps turns in scenario s, conversation c (starting), scene main (starting).
func single(turns string) string {
	return `scenarios: s: conversations: c: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: {
` + turns + `
		}
	}
}
`
}

// welcomeTurn is a starting turn that answers the opening of the chat.
const welcomeTurn = `start: {
	behaviors: ["starting"]
	request: [{id: "intent.core.welcome"}]
	response: [{id: "hello", message: text: "Hello"}]
}
`

const greeter = `
scenarios: greeter: {
	actions: full_name: {
		go: "full_name"
		inputs: ["first_name", "last_name"]
		outputs: ["full_name"]
	}
	conversations: welcome: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: welcome: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{
					id: "welcome_response"
					message: {text: "Hi! Press OK.", buttons: [{text: "OK", callback: "ok"}]}
				}]
			}
			turns: greet: {
				valid_origins: ["welcome_response"]
				request: [{
					id: "ok"
					actions: [{
						use:     "full_name"
						inputs:  {first_name: "user.first_name", last_name: "user.last_name"}
						outputs: {"user.full_name": "output.full_name"}
					}]
				}]
				response: [
					{id: "greeting", conditions: ["user.action_status"], message: text: "Hello {{ user.full_name }}!", behaviors: ["completing"]},
					{id: "sorry", message: text: "Sorry, I could not look you up.", behaviors: ["completing"]},
				]
			}
		}
	}
}
`

func fullName(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
	f, _ := req.Inputs["first_name"].(string)
	l, _ := req.Inputs["last_name"].(string)
	if f == "" || l == "" {
		return plugins.ActionResult{Error: "missing names"}
	}
	return plugins.ActionResult{Success: true, Outputs: map[string]any{"full_name": f + " " + l}}
}

// Checks used by the cases.

func userIs(key string, want any) func(*testing.T, *engine.Reply, engine.Contexts) {
	return func(t *testing.T, _ *engine.Reply, c engine.Contexts) {
		t.Helper()
		if got, ok := c.User[key]; fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) || (want != nil && !ok) {
			t.Fatalf("user.%s = %T %v, want %T %v (user context %v)", key, got, got, want, want, c.User)
		}
	}
}

func sessionIs(key string, want any) func(*testing.T, *engine.Reply, engine.Contexts) {
	return func(t *testing.T, _ *engine.Reply, c engine.Contexts) {
		t.Helper()
		if got := c.Session[key]; fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
			t.Fatalf("session.%s = %T %v, want %T %v (session context %v)", key, got, got, want, want, c.Session)
		}
	}
}

func conversationIs(key, want string) func(*testing.T, *engine.Reply, engine.Contexts) {
	return func(t *testing.T, _ *engine.Reply, c engine.Contexts) {
		t.Helper()
		if got := c.Conversation[key]; got != want {
			t.Fatalf("conversation.%s = %v, want %q", key, got, want)
		}
	}
}

// traceHas checks that the JSON trace contains every one of subs.
func traceHas(subs ...string) func(*testing.T, *engine.Reply, engine.Contexts) {
	return func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
		t.Helper()
		js := dump(r.Trace)
		for _, s := range subs {
			if !strings.Contains(js, s) {
				t.Fatalf("trace lacks %q:\n%s", s, js)
			}
		}
	}
}

func all(checks ...func(*testing.T, *engine.Reply, engine.Contexts)) func(*testing.T, *engine.Reply, engine.Contexts) {
	return func(t *testing.T, r *engine.Reply, c engine.Contexts) {
		t.Helper()
		for _, ch := range checks {
			ch(t, r, c)
		}
	}
}

type engineCase struct {
	name  string
	src   string
	funcs map[string]plugins.ActionFunc
	opts  []engine.Option
	steps []step
}

func runCases(t *testing.T, cases []engineCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t, tc.src, tc.funcs, tc.opts...)
			play(t, e, "user-1", tc.steps)
		})
	}
}

func TestConversationFlow(t *testing.T) {
	greeterFuncs := map[string]plugins.ActionFunc{"full_name": fullName}
	runCases(t, []engineCase{
		{
			name: "welcome comes first when the chat opens",
			src:  greeter, funcs: greeterFuncs,
			steps: []step{{u: chatOpen, want: []string{"Hi! Press OK."}, check: func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
				b := r.Messages[0].Buttons
				if len(b) != 1 || b[0].Text != "OK" || b[0].Callback != "ok" {
					t.Fatalf("buttons = %+v", b)
				}
			}}},
		},
		{
			name: "button callback selects the intent of a turn valid after the last intent",
			src:  greeter, funcs: greeterFuncs,
			steps: []step{
				{u: chatOpen},
				{u: click("ok"), set: map[string]any{"first_name": "John", "last_name": "Smith"}, want: []string{"Hello John Smith!"},
					check: all(userIs("full_name", "John Smith"), userIs("action_status", true))},
			},
		},
		{
			name: "first app intent whose conditions pass wins",
			src:  greeter, funcs: greeterFuncs,
			steps: []step{
				{u: chatOpen},
				{u: click("ok"), want: []string{"Sorry, I could not look you up."},
					check: all(userIs("action_status", false), traceHas(`"source": "user.action_status"`, `"pos": "main.cue:`, `"reason": "condition false"`))},
			},
		},
		{
			name: "completing intent ends the conversation and clears the session",
			src: single(`t: {
				behaviors: ["starting"]
				request: [{id: "remember", patterns: ["^remember (?P<thing>\\w+)$"]}]
				response: [{id: "ok", message: text: "I'll forget {{ session.thing }} now", behaviors: ["completing"]}]
			}`),
			steps: []step{
				{u: text("remember milk"), want: []string{"I'll forget milk now"},
					check: all(sessionIs("thing", nil), conversationIs("current_conversation", ""), conversationIs("current_intent", "ok"))},
				{u: text("remember eggs"), want: []string{"I'll forget eggs now"}},
			},
		},
		{
			name: "a completing turn ends the conversation after its response",
			src: single(`t: {
				behaviors: ["starting", "completing"]
				request: [{id: "hi", utterances: ["hi"]}]
				response: [{id: "bye", message: text: "Bye"}]
			}`),
			steps: []step{
				{u: text("hi"), want: []string{"Bye"}, check: conversationIs("current_conversation", "")},
				{u: text("hi"), want: []string{"Bye"}},
			},
		},
		{
			name: "open turns are reachable from anywhere in their scene",
			src: single(welcomeTurn + `help: {
				behaviors: ["open"]
				request: [{id: "help", utterances: ["help"]}]
				response: [{id: "help_text", message: text: "Say hi"}]
			}`),
			steps: []step{
				{u: chatOpen, want: []string{"Hello"}},
				{u: text("Help"), want: []string{"Say hi"}},
				{u: text("help"), want: []string{"Say hi"}},
			},
		},
		{
			name: "an utterance valid only at the start is not matched mid-conversation",
			src: single(welcomeTurn + `order: {
				behaviors: ["starting"]
				request: [{id: "order", utterances: ["order"]}]
				response: [{id: "ordered", message: text: "Ordered"}]
			}`),
			steps: []step{
				{u: chatOpen, want: []string{"Hello"}},
				{u: text("order"), want: []string{engine.DefaultNoMatchText}},
			},
		},
		{
			name: "chat opened again mid-conversation starts afresh",
			src:  greeter, funcs: greeterFuncs,
			steps: []step{
				{u: chatOpen},
				{u: chatOpen, want: []string{"Hi! Press OK."}, check: traceHas("chat opened again")},
			},
		},
		{
			name: "restart callback restarts the conversation with the welcome",
			src: single(welcomeTurn + `note: {
				valid_origins: ["hello"]
				request: [{id: "note", patterns: ["^note (?P<n>\\w+)$"]}]
				response: [{id: "noted", message: text: "Noted {{ session.n }}"}]
			}`),
			steps: []step{
				{u: chatOpen},
				{u: text("note a"), want: []string{"Noted a"}, check: sessionIs("n", "a")},
				{u: click("intent.core.restart"), want: []string{"Hello"}, check: all(sessionIs("n", nil), traceHas("restart requested"))},
			},
		},
		{
			name: "a declared restart intent answers the restart",
			src: single(welcomeTurn + `restart: {
				behaviors: ["starting"]
				request: [{id: "intent.core.restart"}]
				response: [{id: "restarted", message: text: "Starting over"}]
			}`),
			steps: []step{
				{u: chatOpen},
				{u: click("intent.core.restart"), want: []string{"Starting over"}},
			},
		},
		{
			name: "endChat ends the conversation without a reply",
			src:  greeter, funcs: greeterFuncs,
			steps: []step{
				{u: chatOpen},
				{u: click("intent.core.endChat"), want: []string{}, check: all(conversationIs("current_conversation", ""), traceHas("chat ended"))},
			},
		},
		{
			name: "a declared endChat intent answers and ends the conversation",
			src: single(welcomeTurn + `bye: {
				behaviors: ["open"]
				request: [{id: "intent.core.endChat"}]
				response: [{id: "goodbye", message: text: "Goodbye"}]
			}`),
			steps: []step{
				{u: chatOpen},
				{u: click("intent.core.endChat"), want: []string{"Goodbye"}, check: conversationIs("current_conversation", "")},
			},
		},
		{
			name: "a chat opened where no welcome is declared gets no reply",
			src: single(`t: {
				behaviors: ["starting"]
				request: [{id: "hi", utterances: ["hi"]}]
				response: [{id: "hello", message: text: "Hello"}]
			}`),
			steps: []step{{u: chatOpen, want: []string{}, check: traceHas("no reply")}},
		},
		{
			name: "a trigger is interpreted by its callback id",
			src: single(welcomeTurn + `ping: {
				behaviors: ["starting"]
				request: [{id: "ping"}]
				response: [{id: "pong", message: text: "Pong"}]
			}`),
			steps: []step{{u: plugins.Utterance{Type: plugins.Trigger, CallbackID: "ping"}, want: []string{"Pong"}}},
		},
		{
			name: "transition to a scene is entered by the next utterance",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: text: "Hello", transition: scene: "second"}]
			}`) + `scenarios: s: conversations: c: scenes: second: turns: t2: {
				behaviors: ["starting"]
				request: [{id: "next", utterances: ["next"]}]
				response: [{id: "r2", message: text: "In second"}]
			}`,
			steps: []step{
				{u: chatOpen, want: []string{"Hello"}, check: all(conversationIs("current_scene", "second"), traceHas("transition by hello to scene second"))},
				{u: text("next"), want: []string{"In second"}, check: conversationIs("current_turn", "t2")},
			},
		},
		{
			name: "transition to a turn is entered by the next utterance",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: text: "Hello", transition: turn: "deep"}]
			}
			deep: {
				request: [{id: "go", utterances: ["go"]}]
				response: [{id: "went", message: text: "Went deep"}]
			}`),
			steps: []step{
				{u: chatOpen, want: []string{"Hello"}},
				{u: text("go"), want: []string{"Went deep"}},
			},
		},
		{
			name: "transition to a conversation enters its starting scene",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: text: "Hello", transition: conversation: "other"}]
			}`) + `scenarios: s: conversations: other: scenes: first: {
				behaviors: ["starting"]
				turns: t: {
					behaviors: ["starting"]
					request: [{id: "x", utterances: ["x"]}]
					response: [{id: "rx", message: text: "In other"}]
				}
			}`,
			steps: []step{
				{u: chatOpen, want: []string{"Hello"}, check: conversationIs("current_conversation", "other")},
				{u: text("x"), want: []string{"In other"}},
			},
		},
		{
			name: "the app opens a turn it enters and the user answers it",
			src: `scenarios: s: attributes: age: "int"
` + single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: text: "Hello", transition: turn: "name"}]
			}
			name: {
				request: [{id: "ask_name", speaker: "app", message: text: "Your name?"}]
				response: [{id: "my_name", speaker: "user", patterns: ["^(?P<name>\\w+)$"], expected_attributes: name: "user.name"}]
			}
			age: {
				valid_origins: ["my_name"]
				request: [{id: "ask_age", speaker: "app", message: text: "Thanks {{ user.name }}. Your age?"}]
				response: [{id: "my_age", speaker: "user", patterns: ["^(?P<age>\\d+)$"], expected_attributes: age: "user.age"}]
			}
			done: {
				valid_origins: ["my_age"]
				request: [{id: "bye", speaker: "app", message: text: "Bye", behaviors: ["completing"]}]
			}`),
			steps: []step{
				{u: chatOpen, want: []string{"Hello", "Your name?"}},
				{u: text("Ann"), want: []string{"Thanks Ann. Your age?"}, check: userIs("name", "Ann")},
				{u: text("30"), want: []string{"Bye"}, check: all(userIs("age", 30), conversationIs("current_conversation", ""))},
			},
		},
		{
			name: "a virtual intent runs next as if the user had said it",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "one", message: text: "One", virtual: "more"}]
			}
			more: {
				valid_origins: ["one"]
				request: [{id: "more"}]
				response: [{id: "two", message: text: "Two"}]
			}`),
			steps: []step{{u: chatOpen, want: []string{"One", "Two"}, check: conversationIs("current_intent", "two")}},
		},
		{
			name: "a virtual intent is still condition-checked",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "one", message: text: "One", virtual: "more"}]
			}
			more: {
				valid_origins: ["one"]
				request: [{id: "more", conditions: ["user.vip == true"]}]
				response: [{id: "two", message: text: "Two"}]
			}`),
			steps: []step{{u: chatOpen, want: []string{"One"}, check: traceHas(`"source": "user.vip == true"`, "virtual intent more")}},
		},
		{
			name: "a cycle of virtual intents stops at the chain limit",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "ping", message: text: "ping", virtual: "v"}]
			}
			loop: {
				valid_origins: ["ping", "pong"]
				request: [{id: "v"}]
				response: [{id: "pong", message: text: "pong", virtual: "v"}]
			}`),
			opts:  []engine.Option{engine.WithMaxChain(3)},
			steps: []step{{u: chatOpen, want: []string{"ping", "pong", "pong"}, check: traceHas("stopped after 3 app intents")}},
		},
		{
			name: "inactive scenarios take no part",
			src: single(welcomeTurn) + `scenarios: a_off: {
				active: false
				conversations: c: {behaviors: ["starting"], scenes: s: {behaviors: ["starting"], turns: t: {
					behaviors: ["starting"]
					request: [{id: "intent.core.welcome"}]
					response: [{id: "off", message: text: "Inactive"}]
				}}}
			}`,
			steps: []step{{u: chatOpen, want: []string{"Hello"}}},
		},
		{
			name: "scenario conditions filter starting intents",
			src: single(welcomeTurn) + `scenarios: a_vip: {
				conditions: ["user.vip == true"]
				conversations: c: {behaviors: ["starting"], scenes: s: {behaviors: ["starting"], turns: t: {
					behaviors: ["starting"]
					request: [{id: "intent.core.welcome"}]
					response: [{id: "vip_hello", message: text: "Hello VIP"}]
				}}}
			}`,
			steps: []step{
				{u: chatOpen, want: []string{"Hello"}, check: traceHas("scenario a_vip: condition false")},
				{u: chatOpen, set: map[string]any{"vip": true}, want: []string{"Hello VIP"}},
			},
		},
		{
			name: "turn conditions filter the turns of a scene",
			src: single(`locked: {
				behaviors: ["starting"]
				conditions: ["user.key == 'gold'"]
				request: [{id: "open_door", utterances: ["open"]}]
				response: [{id: "opened", message: text: "Opened"}]
			}`),
			steps: []step{
				{u: text("open"), want: []string{engine.DefaultNoMatchText}, check: traceHas("turn locked: condition false")},
				{u: text("open"), set: map[string]any{"key": "gold"}, want: []string{"Opened"}},
			},
		},
	})
}

func TestMessages(t *testing.T) {
	runCases(t, []engineCase{
		{
			name: "a missing attribute renders as empty text",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: text: "Hello {{ user.nobody }}!"}]
			}`),
			steps: []step{{u: chatOpen, want: []string{"Hello !"}}},
		},
		{
			name: "a failing expression renders as empty text and is traced",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: text: "Total: {{ user.items[5] }}."}]
			}`),
			steps: []step{{u: chatOpen, set: map[string]any{"items": []any{1}}, want: []string{"Total: ."}, check: traceHas("message of hello")}},
		},
		{
			name: "messages read the global, utterance and conversation contexts",
			src: `global: bot: "Parley"
` + single(`start: {
				behaviors: ["starting"]
				request: [{id: "echo", patterns: ["."]}]
				response: [{id: "said", message: text: "{{ global.bot }} heard '{{ utterance.text }}' as {{ conversation.current_intent }} in {{ conversation.current_turn }}"}]
			}`),
			steps: []step{{u: text("ping"), want: []string{"Parley heard 'ping' as said in start"}}},
		},
		{
			name: "buttons render their text and keep callback and value",
			src: single(`start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "menu", message: {text: "Pick", buttons: [
					{text: "Yes {{ user.name }}", callback: "yes", value: "1"},
					{text: "No", callback: "no"},
				]}}]
			}
			answer: {
				valid_origins: ["menu"]
				request: [{id: "yes"}, {id: "no"}]
				response: [{id: "picked", message: text: "Picked {{ utterance.callback_id }} {{ utterance.value }}"}]
			}`),
			steps: []step{
				{u: chatOpen, set: map[string]any{"name": "Bo"}, want: []string{"Pick"}, check: func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
					want := []engine.Button{{Text: "Yes Bo", Callback: "yes", Value: "1"}, {Text: "No", Callback: "no"}}
					if fmt.Sprint(r.Messages[0].Buttons) != fmt.Sprint(want) {
						t.Fatalf("buttons = %+v, want %+v", r.Messages[0].Buttons, want)
					}
				}},
				{u: plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "yes", Value: "1"}, want: []string{"Picked yes 1"}},
			},
		},
	})
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	e := open(t, single(welcomeTurn), nil)
	if h, err := e.History(ctx, "u", 0); err != nil || len(h) != 0 {
		t.Fatalf("History of a new user = %v, %v", h, err)
	}
	if _, err := e.Handle(ctx, "u", chatOpen); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Handle(ctx, "u", text("anything")); err != nil {
		t.Fatal(err)
	}
	h, err := e.History(ctx, "u", 0)
	if err != nil || len(h) != 2 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	var u engine.Utterance
	var msgs []engine.Message
	if err := json.Unmarshal(h[0].Utterance, &u); err != nil || u.Type != plugins.ChatOpen {
		t.Fatalf("first utterance = %s (%v)", h[0].Utterance, err)
	}
	if err := json.Unmarshal(h[0].Messages, &msgs); err != nil || len(msgs) == 0 || msgs[0].Text == "" {
		t.Fatalf("first messages = %s (%v)", h[0].Messages, err)
	}
	if len(h[0].Intents) == 0 || h[0].Intents[0] != "intent.core.welcome" || h[0].ConfigVersion != e.Config().Version || h[0].Time.IsZero() {
		t.Fatalf("first entry = %+v", h[0])
	}
	if last, _ := e.History(ctx, "u", 1); len(last) != 1 || string(last[0].Utterance) != string(h[1].Utterance) {
		t.Fatalf("History(1) = %+v", last)
	}
	if err := e.Forget(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if h, _ := e.History(ctx, "u", 0); len(h) != 0 {
		t.Fatalf("history after Forget = %+v", h)
	}
}

// leasingStore is a memory store with a lease that records when it is held,
// as a store shared by several processes has.
type leasingStore struct {
	*store.Memory
	held      map[string]bool
	leases    int
	refuse    bool
	unleased  int // store writes made without the lease's context
	leaseMark struct{}
}

func (s *leasingStore) Lease(ctx context.Context, userID string) (context.Context, func(), error) {
	if s.refuse {
		return nil, nil, fmt.Errorf("leasing %s: %w", userID, store.ErrLeaseHeld)
	}
	if s.held[userID] {
		panic("lease taken twice")
	}
	s.held[userID] = true
	s.leases++
	return context.WithValue(ctx, &s.leaseMark, userID), func() { s.held[userID] = false }, nil
}

func (s *leasingStore) check(ctx context.Context, userID string) {
	if !s.held[userID] || ctx.Value(&s.leaseMark) != userID {
		s.unleased++
	}
}

func (s *leasingStore) Save(ctx context.Context, userID string, st store.State, h *store.HistoryEntry) (uint64, error) {
	s.check(ctx, userID)
	return s.Memory.Save(ctx, userID, st, h)
}

func (s *leasingStore) Delete(ctx context.Context, userID string) error {
	s.check(ctx, userID)
	return s.Memory.Delete(ctx, userID)
}

func TestLeases(t *testing.T) {
	ctx := context.Background()
	ls := &leasingStore{Memory: store.NewMemory(), held: map[string]bool{}}
	defer ls.Close()
	e := open(t, single(welcomeTurn), nil, engine.WithStore(ls))
	if _, err := e.Handle(ctx, "u", chatOpen); err != nil {
		t.Fatal(err)
	}
	if err := e.SetAttribute(ctx, "u", "user.x", "y"); err != nil {
		t.Fatal(err)
	}
	if err := e.Forget(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if ls.leases != 3 || ls.unleased != 0 || ls.held["u"] {
		t.Fatalf("leases %d, writes without the lease %d, still held %v", ls.leases, ls.unleased, ls.held["u"])
	}
	ls.refuse = true
	if _, err := e.Handle(ctx, "u", chatOpen); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("Handle with the lease held elsewhere: %v, want ErrLeaseHeld", err)
	}
	if err := e.SetAttribute(ctx, "u", "user.x", "y"); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("SetAttribute with the lease held elsewhere: %v, want ErrLeaseHeld", err)
	}
}
