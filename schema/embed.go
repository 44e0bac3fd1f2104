// Package schema holds Parley's CUE schema, embedded in the binary.
//
// The schema is the single source of truth for scenario files: the loader in
// package dsl validates against it, `parley schema --json` exports it as a JSON
// Schema, and the README documents it.
package schema

import _ "embed"

// Source is the CUE source of the base schema. Plugins add action kinds as
// fields of #ActionKinds, which the loader composes with this source.
//
//go:embed schema.cue
var Source string

// TestSource is the CUE source of the conversation test files' schema
// (#TestFile); it refers to definitions of Source and is compiled with it.
//
//go:embed test.cue
var TestSource string
