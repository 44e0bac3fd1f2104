package dsl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/encoding/jsonschema"

	"github.com/parleyhq/parley/plugins"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of scenario files for env,
// generated from the composed CUE schema (see SchemaSource). YAML editors use
// it for completion and checks; the loader stays the authority, since a JSON
// Schema cannot express every CUE constraint (expressions are checked only
// when loading).
func JSONSchema(env *plugins.Environment) ([]byte, error) {
	ctx := cuecontext.New()
	v, err := CompileSchema(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg := v.LookupPath(cue.ParsePath("#Config"))
	expr, err := jsonschema.Generate(cfg, &jsonschema.GenerateConfig{})
	if err != nil {
		return nil, fmt.Errorf("generating the JSON Schema: %s", cueerrors.Details(err, nil))
	}
	js := ctx.BuildExpr(expr)
	if err := js.Err(); err != nil {
		return nil, fmt.Errorf("building the JSON Schema: %s", cueerrors.Details(err, nil))
	}
	raw, err := js.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding the JSON Schema: %s", cueerrors.Details(err, nil))
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decoding the JSON Schema: %w", err)
	}
	doc["title"] = "Parley scenario files"
	fixEmbeddings(doc)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding the JSON Schema: %w", err)
	}
	return out.Bytes(), nil
}

// fixEmbeddings repairs closed objects that embed another definition (#Action
// embeds #ActionKinds). The generator closes both with additionalProperties,
// so each would reject the other's fields; in JSON Schema 2020-12 the
// embedding object must use unevaluatedProperties, which sees the fields the
// $ref evaluates, and the embedded definition must stay open.
func fixEmbeddings(doc map[string]any) {
	defs, _ := doc["$defs"].(map[string]any)
	embedded := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && x["additionalProperties"] == false {
				delete(x, "additionalProperties")
				x["unevaluatedProperties"] = false
				embedded[strings.TrimPrefix(ref, "#/$defs/")] = true
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	for name := range embedded {
		if d, ok := defs[name].(map[string]any); ok && d["additionalProperties"] == false {
			delete(d, "additionalProperties")
		}
	}
}
