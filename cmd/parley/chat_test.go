package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/goaction"
	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// chatGreeter is the greeter of SPEC §2 with its action implemented in Go
// (kind "go") instead of a webhook.
const chatGreeter = `
scenarios: greeter: {
	active: true
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

// withGoActions makes `parley chat` use an environment with the "go" action kind.
func withGoActions(t *testing.T) {
	t.Helper()
	env := plugins.NewEnvironment()
	_, err := goaction.Register(env, map[string]plugins.ActionFunc{
		"full_name": func(_ context.Context, req plugins.ActionRequest) plugins.ActionResult {
			f, _ := req.Inputs["first_name"].(string)
			l, _ := req.Inputs["last_name"].(string)
			if f == "" || l == "" {
				return plugins.ActionResult{Error: "first_name and last_name are required"}
			}
			return plugins.ActionResult{Success: true, Outputs: map[string]any{"full_name": f + " " + l}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	old := chatEnvironment
	chatEnvironment = func() *plugins.Environment { return env }
	t.Cleanup(func() { chatEnvironment = old })
}

func writeScenario(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "greeter.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chat(t *testing.T, script string, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"chat"}, args...), streams{in: strings.NewReader(script), out: &o, err: &e})
	return code, o.String(), e.String()
}

// lastJSON decodes the last JSON object printed in out.
func lastJSON(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	i := strings.LastIndex(out, "\n{\n")
	if i < 0 {
		t.Fatalf("no JSON in output:\n%s", out)
	}
	var v map[string]map[string]any
	dec := json.NewDecoder(strings.NewReader(out[i+1:]))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", out[i+1:], err)
	}
	return v
}

func TestChatGreeterFlow(t *testing.T) {
	withGoActions(t)
	dir := writeScenario(t, chatGreeter)
	script := "/set user.first_name John\n/set user.last_name Smith\n/click ok\n/context\n"
	code, out, errOut := chat(t, script, dir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	wantOrder := []string{
		"bot: Hi! Press OK.", "[OK] /click ok",
		"> /set user.first_name John", "set user.first_name",
		"> /click ok", "bot: Hello John Smith!",
		"> /context",
	}
	at := 0
	for _, w := range wantOrder {
		i := strings.Index(out[at:], w)
		if i < 0 {
			t.Fatalf("output lacks %q after offset %d:\n%s", w, at, out)
		}
		at += i + len(w)
	}
	ctx := lastJSON(t, out)
	if ctx["user"]["action_status"] != true || ctx["user"]["full_name"] != "John Smith" {
		t.Fatalf("user context = %v", ctx["user"])
	}
}

func TestChatCommands(t *testing.T) {
	withGoActions(t)
	dir := writeScenario(t, chatGreeter)
	cases := []struct {
		name     string
		script   string
		args     []string
		code     int
		want     []string // in stdout
		wantErr  []string // in stderr
		notWant  []string
		checkOut func(t *testing.T, out string)
	}{
		{
			name:   "the welcome comes first, before any input",
			script: "",
			want:   []string{"bot: Hi! Press OK."},
		},
		{
			name:   "a failed action leads to the fallback response",
			script: "/click ok\n/context\n",
			want:   []string{"bot: Sorry, I could not look you up."},
			checkOut: func(t *testing.T, out string) {
				if lastJSON(t, out)["user"]["action_status"] != false {
					t.Fatalf("action_status should be false:\n%s", out)
				}
			},
		},
		{
			name:   "/trace shows the candidates, the action and its inputs",
			script: "/set first_name Ada\n/set last_name L\n/click ok\n/trace\n",
			want: []string{"trace: button_response ok", "chosen     ok (welcome/main/greet) by callback 1",
				"chosen     greeting", "action full_name (go) of ok succeeded", `inputs: first_name="Ada" last_name="L"`,
				`outputs: user.full_name="Ada L"`, "event: conversation completed by greeting"},
		},
		{
			name:   "/trace json prints the trace as JSON",
			script: "/trace json\n",
			want:   []string{`"selections": [`, `"chosen": "welcome_response"`},
		},
		{
			name:   "--trace prints the trace of every turn",
			script: "hello\n",
			args:   []string{"--trace"},
			want:   []string{"trace: chat_open", `trace: text "hello"`, "no interpretation", "bot: Sorry, I didn't understand that."},
		},
		{
			name:   "/restart starts the conversation again",
			script: "/restart\n",
			want:   []string{"> /restart\nbot: Hi! Press OK."},
		},
		{
			name:    "/quit stops reading",
			script:  "/quit\n/click ok\n",
			notWant: []string{"> /click ok"},
		},
		{
			name:    "a value of the wrong type is refused and the script fails",
			script:  "/set action_status maybe\n/context\n",
			code:    1,
			wantErr: []string{"error: setting attribute user.action_status", "want a bool"},
			checkOut: func(t *testing.T, out string) {
				if _, ok := lastJSON(t, out)["user"]["action_status"]; ok {
					t.Fatalf("action_status was set:\n%s", out)
				}
			},
		},
		{
			name:    "an unknown command is an error",
			script:  "/dance\n",
			code:    1,
			wantErr: []string{"unknown command /dance"},
		},
		{
			name:    "a read-only context cannot be set",
			script:  "/set conversation.current_turn x\n",
			code:    1,
			wantErr: []string{"read-only"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := chat(t, tc.script, append(tc.args, dir)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			if tc.checkOut != nil {
				tc.checkOut(t, out)
			}
		})
	}
}

func TestChatInvalidScenario(t *testing.T) {
	withGoActions(t)
	dir := writeScenario(t, "scenarios: greeter: {\n\tconversations: c: bogus: true\n}\n")
	code, _, errOut := chat(t, "", dir)
	if code != 1 || !strings.Contains(errOut, "greeter.cue:2") || !strings.Contains(errOut, "bogus") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
}

func TestChatMissingDirectory(t *testing.T) {
	code, _, errOut := chat(t, "", filepath.Join(t.TempDir(), "nope"))
	if code != 2 || !strings.Contains(errOut, "nope: no such file or directory") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
}

// TestChatGreeterWebhook runs the example greeter scenario end to end through
// the real webhook action against a local service that answers OpenDialog's shape.
func TestChatGreeterWebhook(t *testing.T) {
	var got map[string]any
	svc := webhooktest.NewServer(t, webhooktest.OpenDialog(func(attrs map[string]any) (map[string]any, error) {
		got = attrs
		return webhooktest.FullName(attrs)
	}))
	t.Setenv("GREETER_WEBHOOK_URL", svc.URL+"/full_name")
	t.Setenv("PARLEY_DEV", "1") // the service listens on loopback
	script := "/set user.first_name John\n/set user.last_name Smith\n/click ok\n/context\n"
	code, out, errOut := chat(t, script, "--watch=false", filepath.Join("..", "..", "scenarios", "greeter"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Hello John Smith!") {
		t.Errorf("no greeting by full name:\n%s", out)
	}
	ctx := lastJSON(t, out)
	if ctx["user"]["action_status"] != true || ctx["user"]["full_name"] != "John Smith" {
		t.Fatalf("user context = %v", ctx["user"])
	}
	if got["first_name"] != "John" || got["last_name"] != "Smith" {
		t.Errorf("the service received %v, want both names", got)
	}
}

// TestChatGreeterWebhookDown: with the service gone the action fails cleanly,
// the app apologises, and the context holds action_status false and no full_name.
func TestChatGreeterWebhookDown(t *testing.T) {
	svc := webhooktest.NewServer(t, webhooktest.OpenDialog(webhooktest.FullName))
	url := svc.URL
	svc.Close()
	t.Setenv("GREETER_WEBHOOK_URL", url+"/full_name")
	t.Setenv("PARLEY_DEV", "1")
	script := "/set user.first_name John\n/set user.last_name Smith\n/click ok\n/context\n"
	code, out, errOut := chat(t, script, "--watch=false", filepath.Join("..", "..", "scenarios", "greeter"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Sorry, I could not look you up.") {
		t.Errorf("no apology:\n%s", out)
	}
	ctx := lastJSON(t, out)
	if ctx["user"]["action_status"] != false || ctx["user"]["full_name"] != nil || ctx["user"]["first_name"] != "John" {
		t.Fatalf("user context = %v", ctx["user"])
	}
}

// TestChatMessageTypes renders the booking example's form and long text in
// the terminal, and answers them with /form and /longtext; a trigger of WELCOME restarts.
func TestChatMessageTypes(t *testing.T) {
	script := "use a form\n/form form_booking party_size=4 when=7pm\n/click confirm\nspecial request\n" +
		"book a table\nspecial request\n/longtext a quiet table\n/trigger WELCOME\n"
	code, out, errOut := chat(t, script, "--watch=false", filepath.Join("..", "..", "scenarios", "booking"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"bot: Fill in your booking.\n     form: /form form_booking party_size=NUMBER when=7pm|8pm [name=TEXT]\n     cancel: /form form_cancelled\n",
		"bot: A table for 4 at 7pm. Shall I book it?",
		"bot: Booked: a table for 4 at 7pm.",
		"bot: Tell us what you need.\n     answer: /longtext TEXT (at most 500 characters)\n",
		"bot: Noted: a quiet table. Now, for how many people?",
		"> /trigger WELCOME\nbot: Welcome!",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
