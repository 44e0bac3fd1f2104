package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// BenchmarkWebhookCall compares an action call (templated Authorization
// header with a secret, idempotency key, traceparent, OpenDialog encoding
// and decoding, trace entry) with a plain net/http POST of the same body to
// the same local OpenDialog service, in the same run.
func BenchmarkWebhookCall(b *testing.B) {
	srv := webhooktest.NewServer(b, webhooktest.OpenDialog(webhooktest.FullName))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"FULL_NAME_TOKEN": "tok-123"}}
	for _, bc := range []struct{ name, extra string }{
		{"webhook_action", `"headers":{"Authorization":"Bearer {{ secret.FULL_NAME_TOKEN }}"}`},
		{"webhook_action_signed", `"headers":{"Authorization":"Bearer {{ secret.FULL_NAME_TOKEN }}"},"signing":{"secret":"FULL_NAME_TOKEN"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := newAction(b, opts, cfgJSON(srv.URL, bc.extra), []string{"first_name", "last_name"}, []string{"full_name"})
			inputs := map[string]any{"first_name": "John", "last_name": "Smith"}
			body, _ := json.Marshal(map[string]any{"input_data": map[string]any{"attributes": inputs}})
			req := plugins.ActionRequest{Scenario: "greeter", Action: "full_name", UserID: "u1", Inputs: inputs}
			webhooktest.ComparePlainPost(b, srv.URL, body, "action", func() error {
				res := a.Run(context.Background(), req)
				if !res.Success || res.Outputs["full_name"] != "John Smith" {
					return errors.New(res.Error)
				}
				return nil
			})
		})
	}
}
