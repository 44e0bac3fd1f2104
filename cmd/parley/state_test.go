package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins/store"
)

// runIn runs the command line with stdin in.
func runIn(in string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, streams{in: strings.NewReader(in), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

// fillStore writes users to a new file store at path.
func fillStore(t *testing.T, path string, users int) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, "file:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for u := range users {
		id := fmt.Sprint("user-", u)
		for turn := 0; turn <= u%3; turn++ {
			st, err := s.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			st.User = map[string]any{"turn": float64(turn), "name": id}
			st.Conversation, st.Updated = "main", time.Date(2026, 12, 1, 9, 0, turn, 0, time.UTC)
			if _, err := s.Save(ctx, id, st, &store.HistoryEntry{ConfigVersion: fmt.Sprint("v", turn), Intents: []string{"hello"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestStateExportImport(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	fillStore(t, a, 20)
	code, exported, errOut := runIn("", "state", "export", "--store", "file:"+a)
	if code != 0 || !strings.Contains(errOut, "exported 20 user(s) from file:"+a) {
		t.Fatalf("export: exit %d, stderr %q", code, errOut)
	}
	if n := strings.Count(exported, "\n"); n != 20 {
		t.Fatalf("exported %d lines, want 20", n)
	}
	if !strings.Contains(exported, `"user_id":"user-2","state":{"version":3,`) || !strings.Contains(exported, `"config_version":"v2"`) {
		t.Fatalf("versions or histories are not exported:\n%s", exported)
	}
	// Import twice: the same data (idempotent), versions and histories kept.
	for round := 1; round <= 2; round++ {
		code, _, errOut = runIn(exported, "state", "import", "--store", "file:"+b)
		if code != 0 || !strings.Contains(errOut, "imported 20 user(s)") {
			t.Fatalf("import round %d: exit %d, stderr %q", round, code, errOut)
		}
		_, again, _ := runIn("", "state", "export", "--store", "file:"+b)
		if again != exported {
			t.Fatalf("after import round %d the export differs:\n%s\nwant\n%s", round, again, exported)
		}
	}
	// From a file too.
	file := filepath.Join(dir, "users.jsonl")
	os.WriteFile(file, []byte(exported), 0o600)
	c := filepath.Join(dir, "c.db")
	if code, _, errOut := runIn("", "state", "import", "--store", "file:"+c, file); code != 0 {
		t.Fatalf("import FILE: exit %d, %s", code, errOut)
	}
	// The default history limit of import applies; --history-limit 1 keeps the last turn.
	d := filepath.Join(dir, "d.db")
	if code, _, errOut := runIn(exported, "state", "import", "--store", "file:"+d, "--history-limit", "1"); code != 0 {
		t.Fatalf("import --history-limit: exit %d, %s", code, errOut)
	}
	s, err := store.Open(context.Background(), "file:"+d, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.History(context.Background(), "user-2", 0)
	s.Close()
	if len(h) != 1 || h[0].ConfigVersion != "v2" {
		t.Fatalf("history with --history-limit 1 = %+v", h)
	}

	// Delete erases users.
	if code, out, errOut := runIn("", "state", "delete", "--store", "file:"+b, "user-1", "user-7"); code != 0 || out != "deleted user-1\ndeleted user-7\n" {
		t.Fatalf("delete: exit %d, %q %q", code, out, errOut)
	}
	_, left, _ := runIn("", "state", "export", "--store", "file:"+b)
	if strings.Count(left, "\n") != 18 || strings.Contains(left, `"user-1"`) || strings.Contains(left, `"user-7"`) {
		t.Fatalf("after delete:\n%s", left)
	}
}

func TestStateImportBadInput(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "b.db")
	good := `{"user_id":"a","state":{"version":2,"updated":"2026-12-01T09:00:00Z"}}`
	for _, tc := range []struct{ name, in, want string }{
		{"not JSON", good + "\n{nope\n", "standard input:2: not a user record"},
		{"unknown field", good + "\n\n" + `{"user":"b","state":{}}` + "\n", `standard input:3: not a user record: json: unknown field "user"`},
		{"no user id", `{"state":{"version":1,"updated":"2026-12-01T09:00:00Z"}}`, "standard input:1: user_id is missing"},
		{"two values", good + " " + good, "standard input:1: more than one JSON value"},
		{"duplicate", good + "\n" + good, `standard input:2: user "a" is already on line 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runIn(tc.in, "state", "import", "--store", "file:"+b)
			if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "nothing was imported") {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			_, out, _ := runIn("", "state", "export", "--store", "file:"+b)
			if out != "" {
				t.Fatalf("a bad input imported %s", out)
			}
		})
	}
}

// A bad or unusable store URL is a clear error and exit status 2, and a
// password in it is never shown.
func TestStoreURLErrors(t *testing.T) {
	dir := writeScenario(t, chatGreeter)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"serve, unknown scheme", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", "nosuch://admin:hunter2@127.0.0.1:1/0"}, `unknown scheme "nosuch"`},
		{"serve, not a URL", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", "://admin:hunter2@x"}, "not a store URL"},
		{"serve, unusable path", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", "file:" + filepath.Join(notDir, "state.db")}, "creating its directory"},
		{"serve, bad retention", []string{"serve", dir, "--addr", "127.0.0.1:0", "--retention", "-1h"}, "--retention must not be negative"},
		{"serve, bad new-user rate", []string{"serve", dir, "--addr", "127.0.0.1:0", "--new-user-rate", "5/d"}, "invalid --new-user-rate"},
		{"serve, zero new-user rate", []string{"serve", dir, "--addr", "127.0.0.1:0", "--new-user-rate", "0"}, "want a positive rate"},
		{"serve, bad proxy", []string{"serve", dir, "--addr", "127.0.0.1:0", "--trusted-proxy", "10.0.0.0/33"}, `invalid --trusted-proxy "10.0.0.0/33"`},
		{"chat", []string{"chat", dir, "--store", "nosuch://admin:hunter2@127.0.0.1:1/0"}, `unknown scheme "nosuch"`},
		{"export", []string{"state", "export", "--store", "nosuch://admin:hunter2@127.0.0.1:1/0"}, `unknown scheme "nosuch"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runIn("", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if strings.Contains(out+errOut, "hunter2") {
				t.Fatalf("the password is shown: %s%s", out, errOut)
			}
		})
	}
	// PARLEY_STORE is read when --store is not given.
	t.Setenv(envStore, "nosuch://admin:hunter2@127.0.0.1:1/0")
	if code, _, errOut := runIn("", "chat", dir); code != 2 || !strings.Contains(errOut, `unknown scheme "nosuch"`) || strings.Contains(errOut, "hunter2") {
		t.Fatalf("PARLEY_STORE: exit %d, %q", code, errOut)
	}
	if got := redactedURL("redis://admin:hunter2@127.0.0.1:6379/0"); strings.Contains(got, "hunter2") {
		t.Fatalf("redactedURL = %q", got)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"100/s": 100, "60/m": 1, "7200/h": 2, "5": 5, "0.5/s": 0.5, "off": -1} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1/s", "x/s", "10/d", "Inf"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) succeeded", in)
		}
	}
	p, err := parseProxies([]string{"10.0.0.0/8, 192.168.1.7", "::1"})
	if err != nil || fmt.Sprint(p) != "[10.0.0.0/8 192.168.1.7/32 ::1/128]" {
		t.Fatalf("parseProxies = %v, %v", p, err)
	}
}

// chat keeps a conversation in a file store from one run to the next.
func TestChatFileStore(t *testing.T) {
	withGoActions(t)
	dir := writeScenario(t, chatGreeter)
	db := "file:" + filepath.Join(t.TempDir(), "chat.db")
	if code, out, errOut := chat(t, "/set first_name Ada\n", dir, "--watch=false", "--store", db); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut := chat(t, "/context\n", dir, "--watch=false", "--store", db)
	if code != 0 || lastJSON(t, out)["user"]["first_name"] != "Ada" {
		t.Fatalf("exit %d, the second run does not know the first: %s%s", code, out, errOut)
	}
}

func TestInitIgnoresDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bot")
	if code, out, errOut := runIn("", "init", dir); code != 0 || !strings.Contains(out, ".parley/ (the state of parley serve) is kept out of git") {
		t.Fatalf("init: exit %d, %q %q", code, out, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if !strings.Contains(string(b), "\n.parley/\n") {
		t.Fatalf(".gitignore = %q", b)
	}
	// A second scenario in the same directory adds nothing.
	if code, out, _ := runIn("", "init", dir, "--name", "other"); code != 0 || strings.Contains(out, "kept out of git") {
		t.Fatalf("second init: exit %d, %q", code, out)
	}
	if b2, _ := os.ReadFile(filepath.Join(dir, ".gitignore")); string(b2) != string(b) {
		t.Fatalf(".gitignore changed: %q", b2)
	}
	// An existing .gitignore keeps its lines, even without a final newline.
	other := filepath.Join(t.TempDir(), "bot2")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, ".gitignore"), []byte("*.log"), 0o644)
	if code, _, errOut := runIn("", "init", other); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(other, ".gitignore")); !strings.HasPrefix(string(b), "*.log\n") || !strings.HasSuffix(string(b), "\n.parley/\n") {
		t.Fatalf(".gitignore = %q", b)
	}
}

// serve without --store keeps its state in .parley/state.db under the
// working directory, and says so.
func TestServeDefaultStore(t *testing.T) {
	exe := parleyBinary(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bot"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bot", "main.cue"), []byte(crashScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServeProc(t, exe, dir, true)
	if ok, err := post(p.base+"/api/users/u/context", `{"key":"n","value":1}`); !ok || err != nil {
		t.Fatalf("context write: %v %v", ok, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, ".parley", "state.db")); err != nil || fi.Size() == 0 {
		t.Fatalf("no state in .parley/state.db: %v", err)
	}
	if !strings.Contains(p.stderr.String(), "store=file:.parley/state.db") {
		t.Fatalf("the log does not name the store: %s", p.stderr)
	}
}

// Export writes every turn the store keeps, whatever its history limit was.
func TestStateExportLongHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "long.db")
	s, err := store.Open(ctx, "file:"+path, store.Options{HistoryLimit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var st store.State
	for i := range 300 {
		v, err := s.Save(ctx, "u", st, &store.HistoryEntry{ConfigVersion: fmt.Sprint("v", i)})
		if err != nil {
			t.Fatal(err)
		}
		st.Version = v
	}
	s.Close()
	code, out, errOut := runIn("", "state", "export", "--store", "file:"+path)
	if code != 0 || strings.Count(out, `"config_version"`) != 300 {
		t.Fatalf("exit %d, %d turns exported, want 300: %s", code, strings.Count(out, `"config_version"`), errOut)
	}
}
