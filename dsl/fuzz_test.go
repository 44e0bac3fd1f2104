package dsl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/diag"
)

// FuzzLoad loads a CUE file and a YAML file with fuzzed contents. The
// loader must never panic, and must either return a configuration or a
// diag.List whose every diagnostic has a code and a message.
//
//	go test -run XXX -fuzz FuzzLoad -fuzztime 60s ./dsl
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*/*.cue")
	yamls, _ := filepath.Glob("testdata/*/*/*.y*ml")
	for _, p := range seeds {
		b, _ := os.ReadFile(p)
		f.Add(string(b), "")
	}
	for _, p := range yamls {
		b, _ := os.ReadFile(p)
		f.Add("", string(b))
	}
	f.Add(`scenarios: a: conversations: c: scenes: s: turns: t: request: [{id: "x", conditions: ["user.x > 1"]}]`,
		"scenarios:\n  a:\n    actions:\n      w:\n        webhook: {url: 'https://x/{{ secret.T }}'}\n")
	env := testEnv()
	f.Fuzz(func(t *testing.T, cueSrc, yamlSrc string) {
		cfg, err := Load(fstest.MapFS{
			"a.cue":    &fstest.MapFile{Data: []byte(cueSrc)},
			"b/b.yaml": &fstest.MapFile{Data: []byte(yamlSrc)},
		}, Options{Env: env})
		if err == nil {
			if cfg == nil {
				t.Fatal("nil configuration without an error")
			}
			cfg.Close()
			return
		}
		var list diag.List
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is not a diagnostic list: %v", err)
		}
		for _, d := range list {
			if d.Code == "" || d.Message == "" {
				t.Fatalf("incomplete diagnostic %#v", d)
			}
		}
	})
}
