package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

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

// BenchmarkRestyBaseline is a reference for BenchmarkWebhookCall: a bare
// resty POST of the same body (no retries, templates, trace or decoding;
// the same number of headers as the plain POST), and the same with two more
// headers, as many as a call sends beyond the plain POST's (Accept and
// Idempotency-Key), each beside the plain net/http POST. It measures what
// resty and the extra headers cost before any code of ours runs.
func BenchmarkRestyBaseline(b *testing.B) {
	srv := webhooktest.NewServer(b, webhooktest.OpenDialog(webhooktest.FullName))
	inputs := map[string]any{"first_name": "John", "last_name": "Smith"}
	body, _ := json.Marshal(map[string]any{"input_data": map[string]any{"attributes": inputs}})
	tr := &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	c := resty.NewWithClient(&http.Client{Timeout: 5 * time.Second, Transport: tr})
	webhooktest.ComparePlainPost(b, srv.URL, body, "resty", func() error {
		_, err := c.R().SetHeader("Content-Type", "application/json").SetBody(body).Post(srv.URL)
		return err
	})
	webhooktest.ComparePlainPost(b, srv.URL, body, "resty_2_headers", func() error {
		_, err := c.R().SetHeader("Content-Type", "application/json").
			SetHeader("Idempotency-Key", "0b7e1f0c-9a8a-4b39-b0b1-3d2c1a0f9e8d").
			SetHeader("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").
			SetBody(body).Post(srv.URL)
		return err
	})
}
