package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"cuelang.org/go/cue/cuecontext"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/interpreters"
	"github.com/parleyhq/parley/plugins/webhook"
)

func loaderEnv() *plugins.Environment {
	env := plugins.NewEmptyEnvironment()
	env.MustRegisterInterpreter(interpreters.TextName, interpreters.Text{})
	env.MustRegisterInterpreter(interpreters.CallbackName, interpreters.Callback{})
	env.MustRegisterAction(webhook.Kind(webhook.Options{}))
	return env
}

func TestSchemaCompilesIntoTheBaseSchema(t *testing.T) {
	if _, err := dsl.CompileSchema(cuecontext.New(), loaderEnv()); err != nil {
		t.Fatal(err)
	}
	if k, ok := plugins.Global().ActionKind("webhook"); !ok || k.Definition != "#Webhook" {
		t.Fatal("the webhook kind is not registered in the global environment")
	}
}

const scenarioHead = `scenarios: greeter: {
	actions: full_name: {
		webhook: {
`

const scenarioTail = `
		}
		inputs: ["first_name", "last_name"]
		outputs: ["full_name"]
	}
}
`

func load(t *testing.T, webhookBody string) (*dsl.Config, diag.List) {
	t.Helper()
	fsys := fstest.MapFS{"main.cue": {Data: []byte(scenarioHead + webhookBody + scenarioTail)}}
	cfg, err := dsl.Load(fsys, dsl.Options{Env: loaderEnv()})
	if err == nil {
		t.Cleanup(func() { _ = cfg.Close() })
		return cfg, nil
	}
	var list diag.List
	if !errors.As(err, &list) {
		t.Fatalf("Load: %v", err)
	}
	return nil, list
}

func TestLoadAWebhookAction(t *testing.T) {
	cfg, diags := load(t, `			url: "https://api.example.com/opendialog"
			headers: Authorization: "Bearer {{ secret.FULL_NAME_TOKEN }}"
			timeout: "2s"
			retry: attempts: 2
			signing: secret: "secret.SIGNING"
			breaker: {failures: 3, cooldown: "10s"}`)
	if diags != nil {
		t.Fatalf("diagnostics: %v", diags)
	}
	act := cfg.Scenario("greeter").Actions["full_name"]
	if _, ok := act.Impl.(*webhook.Action); !ok || act.Kind != "webhook" {
		t.Fatalf("action %+v", act)
	}
}

func TestLoadReportsProblemsAtTheirPosition(t *testing.T) {
	cases := []struct {
		name, body string
		code       string
		line, col  int
		message    string
	}{
		// Line 4 is the first line of the webhook block; the column is 1-based, tabs count 1.
		{"header expression", `			url: "https://x.example"
			headers: Authorization: "Bearer {{ input.nope }}"`, diag.CodeExprUnknown, 5, 45, "nope"},
		{"method enum", `			url: "https://x.example"
			protocol: "http"
			method: "TRACE"`, "", 6, 0, "TRACE"},
		{"closed definition", `			url: "https://x.example"
			retries: 3`, diag.CodeFieldNotAllowed, 5, 0, "retries"},
		{"duration pattern", `			url: "https://x.example"
			timeout: "soon"`, "", 5, 0, "soon"},
		{"scheme", `			url: "ftp://x.example"`, "", 4, 0, "ftp"},
		{"opendialog method", `			url: "https://x.example"
			method: "GET"`, diag.CodePluginConfig, 5, 0, "opendialog protocol always POSTs"},
		{"success type", `			url: "https://x.example"
			protocol: "http"
			success: "response.status"`, "", 6, 0, "bool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := load(t, tc.body)
			if len(diags) == 0 {
				t.Fatal("no diagnostics")
			}
			for _, d := range diags {
				if d.File == "main.cue" && d.Line == tc.line && (tc.col == 0 || d.Col == tc.col) &&
					(tc.code == "" || d.Code == tc.code) && strings.Contains(d.Message, tc.message) {
					t.Logf("%s", d)
					return
				}
			}
			t.Fatalf("no diagnostic at main.cue:%d:%d with code %q mentioning %q in:\n%v", tc.line, tc.col, tc.code, tc.message, diags)
		})
	}
}

// TestDurationErrorsSayWhatIsAllowed: a duration that does not parse is
// reported with what durations look like, not as if the default were the
// only value allowed.
func TestDurationErrorsSayWhatIsAllowed(t *testing.T) {
	for _, body := range []string{
		`			url: "https://x.example"
			timeout: "2 seconds"`,
		`			url: "https://x.example"
			breaker: cooldown: "2 seconds"`,
	} {
		_, diags := load(t, body)
		if len(diags) != 1 {
			t.Fatalf("want one diagnostic: %v", diags)
		}
		msg := diags[0].Message
		if !strings.Contains(msg, `"2 seconds"`) || !strings.Contains(msg, `a duration such as "2s", "500ms"`) || strings.Contains(msg, `want "5s"`) {
			t.Errorf("%s", diags[0])
		}
	}
}
