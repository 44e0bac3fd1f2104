package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSchemaCUE(t *testing.T) {
	code, out, errOut := runCLI(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"#Config: {", "#Intent: {", "#ActionKinds: {", "webhook?: #Webhook", "#Webhook: {"} {
		if !strings.Contains(out, want) {
			t.Errorf("CUE schema lacks %q", want)
		}
	}
}

func TestSchemaJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "schema", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Schema     string                     `json:"$schema"`
		Defs       map[string]json.RawMessage `json:"$defs"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q", doc.Schema)
	}
	if _, ok := doc.Properties["scenarios"]; !ok {
		t.Error("no scenarios property")
	}
	for _, def := range []string{"Scenario", "Intent", "Action", "Webhook"} {
		if _, ok := doc.Defs[def]; !ok {
			t.Errorf("no $defs/%s", def)
		}
	}
	// #Action embeds #ActionKinds: the pair must not reject each other's fields.
	var action map[string]any
	if err := json.Unmarshal(doc.Defs["Action"], &action); err != nil {
		t.Fatal(err)
	}
	if action["unevaluatedProperties"] != false || action["additionalProperties"] != nil {
		t.Errorf("Action closes with %v / %v, want unevaluatedProperties false only", action["unevaluatedProperties"], action["additionalProperties"])
	}
	if strings.Contains(string(doc.Defs["ActionKinds"]), "additionalProperties") {
		t.Errorf("ActionKinds is closed: %s", doc.Defs["ActionKinds"])
	}
}

// TestSchemaJSONPatternsArePortable: JSON Schema patterns are ECMAScript
// regular expressions, which have no inline flags such as (?i); editors
// would reject the schema.
func TestSchemaJSONPatternsArePortable(t *testing.T) {
	code, out, errOut := runCLI(t, "schema", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if p, ok := e.(string); ok && k == "pattern" {
					n++
					if strings.Contains(p, "(?") {
						t.Errorf("pattern %q uses an inline flag or group syntax that ECMAScript lacks", p)
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var doc any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	if n == 0 {
		t.Fatal("the JSON Schema has no patterns at all")
	}
}
