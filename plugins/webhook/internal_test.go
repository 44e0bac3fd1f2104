package webhook

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBreakerStates(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBreaker(2, time.Second, func() time.Time { return now })
	for i := 0; i < 2; i++ {
		ok, probe, _ := b.allow()
		if !ok || probe {
			t.Fatalf("closed breaker refused call %d", i)
		}
		b.done(false, true)
	}
	if ok, _, wait := b.allow(); ok || wait != time.Second {
		t.Fatalf("open breaker allowed a call (wait %s)", wait)
	}
	now = now.Add(time.Second)
	ok, probe, _ := b.allow()
	if !ok || !probe {
		t.Fatal("no trial call after the cooldown")
	}
	if ok, _, _ := b.allow(); ok {
		t.Fatal("a second call during the trial")
	}
	b.done(true, false)
	if ok, probe, _ := b.allow(); !ok || probe {
		t.Fatal("breaker not closed after a successful trial")
	}
	b.done(false, false)
	// A success resets the count of consecutive failures.
	b.done(false, true)
	b.allow()
	b.done(false, false)
	b.allow()
	b.done(false, true)
	if ok, _, _ := b.allow(); !ok {
		t.Fatal("opened on non-consecutive failures")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"0":                             0,
		"2":                             2 * time.Second,
		" 7 ":                           7 * time.Second,
		"99999999":                      24 * time.Hour,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0,
	} {
		if got, ok := parseRetryAfter(in, now); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "soon", "1.5"} {
		if _, ok := parseRetryAfter(in, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", in)
		}
	}
}

func TestAddressPolicy(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":       "loopback",
		"::1":             "loopback",
		"::ffff:10.0.0.1": "private",
		"10.1.2.3":        "private",
		"172.16.0.1":      "private",
		"192.168.1.1":     "private",
		"fd00::1":         "private",
		"100.64.0.1":      "private",
		"169.254.169.254": "link-local",
		"fe80::1":         "link-local",
		"0.0.0.0":         "unspecified",
		"::":              "unspecified",
		"224.0.0.1":       "link-local",
		"239.1.1.1":       "multicast",
		"64:ff9b::a00:1":  "private",
		"93.184.216.34":   "",
		"2606:4700::1111": "",
		"8.8.8.8":         "",
	} {
		if got := classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("classify(%s) = %q, want %q", addr, got, want)
		}
	}
	if err := dialControl("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
	if err := dialControl("udp", "8.8.8.8:53", nil); err == nil {
		t.Error("UDP allowed")
	}
}

func TestSecretsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.env")
	data := "# comment\n\nTOKEN=abc=def\nexport QUOTED=\"a\\tb\"\nSINGLE='x \"y\"'\n SPACED = v \n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadSecretsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := SecretsMap{"TOKEN": "abc=def", "QUOTED": "a\tb", "SINGLE": `x "y"`, "SPACED": "v"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if err := os.WriteFile(path, []byte("OK=1\nthis line holds hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretsFile(path); err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
	if _, err := LoadSecretsFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing file loaded")
	}

	t.Setenv(EnvSecretsFile, path)
	if err := os.WriteFile(path, []byte("FROM_FILE=f\nBOTH=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOTH", "env")
	t.Setenv("ONLY_ENV", "e")
	t.Setenv(EnvDev, "1")
	opts, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if !opts.AllowPrivate {
		t.Error("PARLEY_DEV=1 is not development mode")
	}
	for name, want := range map[string]string{"FROM_FILE": "f", "BOTH": "file", "ONLY_ENV": "e"} {
		if v, ok := opts.Secrets.Lookup(name); !ok || v != want {
			t.Errorf("secret %s = %q, %v; want %q", name, v, ok, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	v, err := decodeJSON([]byte(`{"i":3,"neg":-4,"f":2.5,"e":1e2,"huge":1e300,"big":12345678901234567890,"l":[1,{"x":2.0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["i"] != 3 || m["neg"] != -4 || m["f"] != 2.5 || m["e"] != 100 || m["huge"] != 1e300 || m["big"] != 12345678901234567890.0 {
		t.Fatalf("%#v", m)
	}
	if l := m["l"].([]any); l[0] != 1 || l[1].(map[string]any)["x"] != 2 {
		t.Fatalf("%#v", l)
	}
}

func TestTraceBody(t *testing.T) {
	var r redactor
	r.add("pa\"ss")
	got := r.traceBody([]byte(`{"p":"pa\"ss","n":1}`))
	if string(got) != `{"p":"[REDACTED]","n":1}` {
		t.Fatalf("%s", got)
	}
	long := []byte(`{"x":"` + strings.Repeat("a", 10000) + `"}`)
	got = r.traceBody(long)
	var s string
	if err := json.Unmarshal(got, &s); err != nil || !strings.HasSuffix(s, "(truncated)") || len(s) > maxTraceBody+32 {
		t.Fatalf("truncated body %.80s… (%v)", got, err)
	}
	if got := r.traceBody([]byte("<html>")); string(got) != `"<html>"` {
		t.Fatalf("%s", got)
	}
}

func TestIdempotencyKey(t *testing.T) {
	k := newIdempotencyKey()
	if len(k) != 36 || k[14] != '4' || strings.Count(k, "-") != 4 || k == newIdempotencyKey() {
		t.Fatalf("key %q", k)
	}
}
