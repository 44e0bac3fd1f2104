package webhook_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// envMap is an Options.Env over a map.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
}

// TestEnvValuesAreShownInTraces: a URL read with env.NAME reaches the
// service and shows in the trace as it is, while a token read with
// secret.NAME in the same call stays redacted.
func TestEnvValuesAreShownInTraces(t *testing.T) {
	var gotAuth string
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"successful":true,"output_data":{"attributes":{"full_name":"John Smith"}}}`))
	}))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"FULL_NAME_TOKEN": "tok-123456"},
		Env: envMap(map[string]string{"GREETER_WEBHOOK_URL": srv.URL + "/full_name"})}
	a := newAction(t, opts, `{"url": "{{ env.GREETER_WEBHOOK_URL }}", "headers": {"X-Token": "{{ secret.FULL_NAME_TOKEN }}", "X-Base": "{{ env[\"GREETER_WEBHOOK_URL\"] }}"}}`, nil, []string{"full_name"})
	res := run(a, nil)
	if !res.Success || len(res.Calls) != 1 {
		t.Fatalf("result %+v", res)
	}
	c := res.Calls[0]
	if c.URL != srv.URL+"/full_name" || c.Headers["X-Base"] != srv.URL+"/full_name" {
		t.Errorf("the trace hides the env values: url %q, headers %v", c.URL, c.Headers)
	}
	if c.Headers["X-Token"] != "[REDACTED]" || gotAuth != "" {
		t.Errorf("the secret: trace %q", c.Headers["X-Token"])
	}
	if all, _ := json.Marshal(res); strings.Contains(string(all), "tok-123456") {
		t.Fatalf("secret in %s", all)
	}
}

// TestMissingEnvFailsBeforeSending: an env.NAME that is not set fails the
// call, saying which variable, before anything is sent.
func TestMissingEnvFailsBeforeSending(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{}, Env: envMap(nil)}
	a := newAction(t, opts, cfgJSON(srv.URL+"/{{ env.NOT_SET_HERE }}", ""), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeRequestError, time.Second)
	if hits.Load() != 0 || !strings.Contains(c.Error, "env.NOT_SET_HERE is not set") {
		t.Fatalf("hits %d error %q", hits.Load(), c.Error)
	}
}

// TestEnvRefusesSecretLookingNames: env values are shown in traces, so a
// name that looks like a credential must be read as a secret.
func TestEnvRefusesSecretLookingNames(t *testing.T) {
	for _, name := range []string{"API_TOKEN", "DB_PASSWORD", "STRIPE_SECRET", "X_API_KEY"} {
		_, err := webhook.New(webhook.Options{}, plugins.ActionConfig{Name: "a", Config: json.RawMessage(cfgJSON("https://x.example/{{ env."+name+" }}", ""))})
		if err == nil || !strings.Contains(err.Error(), "secret."+name) {
			t.Errorf("env.%s: %v", name, err)
		}
	}
}

// TestFieldsNamedLikeANamespaceAreNotLookedUp: input.secret.X and
// input.env.X are fields of the input, not references to a secret or an
// environment variable, so nothing is looked up (and nothing is missing).
func TestFieldsNamedLikeANamespaceAreNotLookedUp(t *testing.T) {
	srv := webhooktest.NewServer(t, webhooktest.OpenDialog(webhooktest.FullName))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{}, Env: envMap(nil)}
	a := newAction(t, opts, `{"url": "`+srv.URL+`/full_name", "protocol": "http", "body": {"a": "input.secret?.x ?? 1", "b": "input.env?.y ?? 2"}}`, nil, nil)
	res := run(a, map[string]any{"secret": map[string]any{"x": 1}})
	if len(res.Calls) != 1 || res.Calls[0].Outcome == webhook.OutcomeRequestError {
		t.Fatalf("a field was taken for a reference: %+v", res)
	}
}
