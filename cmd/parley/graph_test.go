package main

import (
	"os"
	"strings"
	"testing"
)

func TestGraphCommand(t *testing.T) {
	for _, f := range []struct{ format, ext string }{{"", ".mmd"}, {"mermaid", ".mmd"}, {"dot", ".dot"}, {"json", ".json"}} {
		args := []string{"graph", "../../scenarios", "--scenario", "booking"}
		if f.format != "" {
			args = append(args, "--format", f.format)
		}
		code, out, errOut := runCLI(t, args...)
		want, err := os.ReadFile("../../graph/testdata/booking" + f.ext)
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 || out != string(want) {
			t.Errorf("graph --format %q: exit %d\n%s%s", f.format, code, out, errOut)
		}
	}
	if code, out, _ := runCLI(t, "graph", "../../scenarios"); code != 0 || strings.Count(out, "  subgraph x_") != 3 {
		t.Errorf("all scenarios: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "graph", "../../scenarios", "--scenario", "shop"); code != 2 || !strings.Contains(errOut, `declares no scenario "shop"`) {
		t.Errorf("an unknown scenario: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "graph", "../../scenarios", "--format", "svg"); code != 2 || !strings.Contains(errOut, `unknown --format "svg"`) {
		t.Errorf("a bad format: exit %d %s", code, errOut)
	}
	dir := t.TempDir()
	copyDir(t, "../../scenarios", dir)
	edit(t, dir+"/greeter/greeter.cue", `use: "full_name"`, `use: "fullname"`)
	if code, _, errOut := runCLI(t, "graph", dir); code != 1 || !strings.Contains(errOut, "ref.unknown_action") {
		t.Errorf("an invalid directory: exit %d %s", code, errOut)
	}
}
