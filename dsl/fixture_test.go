package dsl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
)

// The test environment registers fixtures that stand in for the real plugins:
// an interpreter "text" that matches nothing, and an action kind "webhook"
// whose configuration is a url template plus optional headers. The fixture
// compiles its templates like a real plugin and reports FieldErrors, so the
// loader's plugin error reporting is exercised.

type nopInterpreter struct{}

func (nopInterpreter) Interpret(context.Context, plugins.Utterance, []*plugins.Hints) []plugins.Match {
	return nil
}

const fixtureWebhookSchema = `package schema

#Webhook: {
	url: string & =~"^(https?://|\\{\\{)"
	method?: "GET" | "POST"
	headers?: [string]: string
	timeout?: string
}
`

var templatePart = regexp.MustCompile(`\{\{.*?\}\}`)

type fixtureWebhook struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

func newFixtureWebhook(cfg plugins.ActionConfig) (plugins.Action, error) {
	var w fixtureWebhook
	if err := json.Unmarshal(cfg.Config, &w); err != nil {
		return nil, fmt.Errorf("decoding webhook configuration: %w", err)
	}
	env := expression.Env{"secret": expression.Open(nil), "env": expression.Open(nil)}
	var errs []error
	if _, es := expression.ParseTemplate(w.URL, env); len(es) > 0 {
		for _, e := range es {
			errs = append(errs, &plugins.FieldError{Field: "url", Err: e})
		}
	}
	if strings.Contains(templatePart.ReplaceAllString(w.URL, ""), " ") {
		errs = append(errs, &plugins.FieldError{Field: "url", Err: errors.New("a URL has no spaces")})
	}
	for k, v := range w.Headers {
		for _, e := range func() []*expression.Error { _, es := expression.ParseTemplate(v, env); return es }() {
			errs = append(errs, &plugins.FieldError{Field: "headers." + k, Err: e})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plugins.ActionFunc(func(context.Context, plugins.ActionRequest) plugins.ActionResult {
		return plugins.ActionResult{Success: true}
	}), nil
}

// testEnv returns an isolated environment with the fixtures registered.
func testEnv() *plugins.Environment {
	env := plugins.NewEmptyEnvironment()
	env.MustRegisterInterpreter("text", nopInterpreter{})
	env.MustRegisterInterpreter("callback", nopInterpreter{})
	env.MustRegisterAction(plugins.ActionKind{Name: "webhook", Schema: fixtureWebhookSchema, Definition: "#Webhook", New: newFixtureWebhook})
	env.MustRegisterAction(plugins.ActionKind{Name: "script", Schema: "package schema\n\n#Script: {source: string}\n", Definition: "#Script",
		New: func(plugins.ActionConfig) (plugins.Action, error) {
			return plugins.ActionFunc(func(context.Context, plugins.ActionRequest) plugins.ActionResult {
				return plugins.ActionResult{Success: true}
			}), nil
		}})
	return env
}
