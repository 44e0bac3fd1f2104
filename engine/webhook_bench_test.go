package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/webhook" // the webhook action kind, in the global environment
	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// webhookTurnScenario runs the greeter's full_name webhook on every "go",
// through OpenDialog's default mappings, and answers with its output.
const webhookTurnScenario = `
scenarios: bench: {
	attributes: {first_name: "string", last_name: "string", full_name: "string"}
	actions: full_name: {
		webhook: url: "URL"
		inputs: ["first_name", "last_name"]
		outputs: ["full_name"]
	}
	conversations: main: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: lookup: {
				behaviors: ["starting", "open"]
				request: [{id: "go", utterances: ["go"], actions: [{use: "full_name"}]}]
				response: [
					{id: "found", conditions: ["user.action_status"], message: text: "Hello {{ user.full_name }}!"},
					{id: "failed", message: text: "Sorry."},
				]
			}
		}
	}
}
`

// webhookTurnBody is the OpenDialog request of the benchmark turn's action.
var webhookTurnBody, _ = json.Marshal(map[string]any{"input_data": map[string]any{"attributes": map[string]any{"first_name": "John", "last_name": "Smith"}}})

// compareTurnWithPlainPost gives user "bench" of e the names the greeter
// needs and runs its "go" turn beside a plain POST of webhookTurnBody to url.
func compareTurnWithPlainPost(b *testing.B, e *engine.Engine, url string) {
	ctx := context.Background()
	for k, v := range map[string]string{"first_name": "John", "last_name": "Smith"} {
		if err := e.SetAttribute(ctx, "bench", k, v); err != nil {
			b.Fatal(err)
		}
	}
	u := plugins.Utterance{Type: plugins.Text, Text: "go"}
	webhooktest.ComparePlainPost(b, url, webhookTurnBody, "turn", func() error {
		r, err := e.Handle(ctx, "bench", u)
		if err != nil {
			return err
		}
		if len(r.Messages) != 1 || r.Messages[0].Text != "Hello John Smith!" {
			return fmt.Errorf("unexpected reply %+v", r.Messages)
		}
		return nil
	})
}

// BenchmarkTurnWithWebhook measures a whole turn whose action calls a local
// OpenDialog webhook, beside a plain net/http POST of the same body to the
// same server in the same run. Target: x_plain_post at most 1.3.
func BenchmarkTurnWithWebhook(b *testing.B) {
	b.Setenv("PARLEY_DEV", "1") // the webhook is on loopback
	srv := webhooktest.NewServer(b, webhooktest.OpenDialog(webhooktest.FullName))
	e := openEnv(b, strings.Replace(webhookTurnScenario, "URL", srv.URL, 1), plugins.NewEnvironment())
	compareTurnWithPlainPost(b, e, srv.URL)
}

// BenchmarkTurnAroundPlainPost is the engine's share of BenchmarkTurnWithWebhook:
// the same turn, whose action (a Go action) makes the plain POST itself,
// beside the plain POST alone. Its x_plain_post, less 1, is what the engine
// adds around an action call.
func BenchmarkTurnAroundPlainPost(b *testing.B) {
	srv := webhooktest.NewServer(b, webhooktest.OpenDialog(webhooktest.FullName))
	client := webhooktest.PlainClient()
	b.Cleanup(client.CloseIdleConnections)
	fn := func(ctx context.Context, req plugins.ActionRequest) plugins.ActionResult {
		if err := webhooktest.PlainPost(client, srv.URL, webhookTurnBody); err != nil {
			return plugins.ActionResult{Error: err.Error()}
		}
		return plugins.ActionResult{Success: true, Outputs: map[string]any{"full_name": "John Smith"}}
	}
	src := strings.Replace(webhookTurnScenario, `webhook: url: "URL"`, `go: "full_name"`, 1)
	compareTurnWithPlainPost(b, open(b, src, map[string]plugins.ActionFunc{"full_name": fn}), srv.URL)
}
