package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/mock"
	_ "github.com/parleyhq/parley/plugins/all"
	"github.com/parleyhq/parley/reload"
	"github.com/parleyhq/parley/server"
)

// Environment variables of the browser test.
const (
	// envArtifacts names the folder where the browser test writes its
	// screenshot, preview-walkthrough.png (preview-walkthrough-failed.png when
	// it fails). Without it the folder is $TMPDIR/parley-artifacts.
	envArtifacts = "PARLEY_ARTIFACTS"
	// envChromium names the Chromium (or Chrome) binary; without it the test
	// looks for chromium on PATH, then /usr/bin/chromium.
	envChromium = "PARLEY_CHROMIUM"
)

const browserAdminKey = "preview-admin-key-0123456789"

// findChromium returns the path of a Chromium binary, or "".
func findChromium() string {
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// artifactsDir returns (and creates) the folder for screenshots.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "parley-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artifacts folder %s: %v", dir, err)
	}
	return dir
}

// browserPage is a preview page open in a headless Chromium, for one test.
type browserPage struct {
	t       *testing.T
	ctx     context.Context // the tab
	base    string          // the server's URL
	mock    *mock.Server
	mockURL string
	srv     *server.Server
	shot    string // the name of the screenshot taken when a step fails
	// scenario is the example scenario served.
	scenario string

	mu       sync.Mutex
	problems []string // console errors and uncaught exceptions
	dialogs  []string // messages of the dialogs answered
	requests []string // "METHOD path status" of every request the server answered
}

// requestsMatching returns the recorded requests that contain every part.
func (p *browserPage) requestsMatching(parts ...string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
next:
	for _, r := range p.requests {
		for _, part := range parts {
			if !strings.Contains(r, part) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// statusRecorder remembers the status of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newBrowserPage starts the mock webhook, the greeter scenario behind a
// server with an admin key, and a fresh headless Chromium; it skips the test
// when Chromium is missing and CI is not set. The page is not opened yet.
// Everything stops when the test ends.
func newBrowserPage(t *testing.T, shot string) *browserPage {
	t.Helper()
	return newBrowserPageFor(t, shot, "greeter")
}

// newBrowserPageFor is newBrowserPage on the example scenario named
// scenario, or on the directory scenario when it is an absolute path.
func newBrowserPageFor(t *testing.T, shot, scenario string) *browserPage {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed and CI is set: install it (apt-get install chromium) or set %s", envChromium)
		}
		t.Skipf("chromium is not installed (apt-get install chromium, or set %s); skipping the browser test", envChromium)
	}

	// The mock webhook, in-process.
	mcfg, err := mock.LoadPath("../mocks/greeter.cue")
	if err != nil {
		t.Fatalf("loading the mock: %v", err)
	}
	m := mock.New(mcfg, mock.Options{})
	mockSrv := httptest.NewServer(m)
	t.Cleanup(func() { m.Close(); mockSrv.Close() })

	// The greeter scenario in development mode, so the webhook may call loopback.
	t.Setenv("GREETER_WEBHOOK_URL", mockSrv.URL+"/full_name")
	t.Setenv("PARLEY_DEV", "1")
	dir := "../scenarios/" + scenario
	if filepath.IsAbs(scenario) {
		// A scenario directory of the test's own, holding a scenario named "types".
		dir, scenario = scenario, "types"
	}
	eng, err := engine.Open(dir)
	if err != nil {
		t.Fatalf("opening the greeter scenario: %v", err)
	}
	t.Cleanup(func() { eng.Close() })

	srv, err := server.New(eng, server.Options{AdminKeys: []string{browserAdminKey}})
	if err != nil {
		t.Fatalf("creating the server: %v", err)
	}
	p := &browserPage{t: t, mock: m, srv: srv, shot: shot}
	// Every request is recorded once it is answered (an event stream when it ends).
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		p.mu.Lock()
		p.requests = append(p.requests, r.Method+" "+r.URL.Path+" started")
		p.mu.Unlock()
		srv.Handler().ServeHTTP(rec, r)
		p.mu.Lock()
		p.requests = append(p.requests, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, rec.status))
		p.mu.Unlock()
	}))
	t.Cleanup(hs.Close)
	p.base, p.mockURL = hs.URL, mockSrv.URL

	// A fresh headless Chromium, with nothing that reaches the network.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	p.ctx, p.scenario = bctx, scenario

	// Record the page's console: console.error calls (the page reports every
	// failure there too) and uncaught exceptions fail the test. The page
	// opens no dialog (the admin key has a form of its own): any is recorded,
	// answered and fails the test.
	messages := chromedp.Console(bctx)
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for msg, err := range messages {
			if err != nil {
				return
			}
			t.Logf("browser console: %s", msg)
			if msg.IsException() || (msg.Type == chromedp.ConsoleError && msg.Source == "") {
				p.mu.Lock()
				p.problems = append(p.problems, msg.String())
				p.mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.dialogs = append(p.dialogs, ev.Message)
			p.mu.Unlock()
			answer := page.HandleJavaScriptDialogParams{Accept: true}
			if ev.Type == page.DialogTypePrompt {
				answer.PromptText = browserAdminKey
			}
			if _, err := chromedp.Call(bctx, page.HandleJavaScriptDialog, answer); err != nil {
				t.Logf("answering the dialog %q: %v", ev.Message, err)
			}
		}
	}()
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the browser event readers did not stop")
		}
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		if timedOut {
			t.Error("the browser test ran out of time")
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.problems) > 0 {
			t.Errorf("the page logged errors:\n%s", strings.Join(p.problems, "\n"))
		}
		if len(p.dialogs) > 0 {
			t.Errorf("the page opened dialogs: %q", p.dialogs)
		}
	})
	return p
}

// screenshot saves a full-page PNG in the artifacts folder and returns its path ("" on failure).
func (p *browserPage) screenshot(name string) string {
	buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("taking the screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(artifactsDir(p.t), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Logf("writing the screenshot: %v", err)
		return ""
	}
	return path
}

// step runs actions; on failure it keeps a screenshot and stops the test.
func (p *browserPage) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		shot := p.screenshot(p.shot)
		errText, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById('error-list') ? document.getElementById('error-list').innerText : ''`))
		p.t.Fatalf("%s: %v\npage problems: %q\nscreenshot: %s", what, err, errText, shot)
	}
}

// waitFor polls a JavaScript predicate for a bounded time.
func (p *browserPage) waitFor(what, predicate string) {
	p.t.Helper()
	p.step("waiting for "+what, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

// text returns the rendered text of the element with the CSS selector sel.
func (p *browserPage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("reading the text of %s: %v", sel, err)
	}
	return s
}

// noProblemsShown checks that the page's Problems panel is hidden.
func (p *browserPage) noProblemsShown() {
	p.t.Helper()
	hidden, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.getElementById('errors').hidden`))
	if err != nil {
		p.t.Fatalf("reading the error panel: %v", err)
	}
	if !hidden {
		p.t.Errorf("the page shows problems:\n%s", p.text("#errors"))
	}
}

// open loads /preview with the fragment and waits for the scenario status.
func (p *browserPage) open(fragment string) {
	p.t.Helper()
	p.step("opening the preview page",
		chromedp.Navigate(p.base+"/preview"+fragment),
		chromedp.WaitVisible(chromedp.ID("attr-key")),
	)
	p.waitFor("the scenario status", `(() => { const v = document.querySelector('[data-testid="scenario-version"]');
		return v !== null && v.textContent.length > 0 && document.getElementById('scenario-status').textContent.includes('`+p.scenario+`'); })()`)
}

// setAttribute sets an attribute with the "Set Custom Attributes" panel and
// waits until the user context shows it.
func (p *browserPage) setAttribute(key, value string) {
	p.t.Helper()
	p.step("setting "+key,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('attr-key').value = ''; document.getElementById('attr-value').value = ''`),
		chromedp.SendKeys(chromedp.ID("attr-key"), key),
		chromedp.SendKeys(chromedp.ID("attr-value"), value),
		chromedp.Click(chromedp.ID("attr-set")),
	)
	p.waitFor("the attribute "+key+" to be set",
		`(() => { const r = document.getElementById('attr-result');
			return r.classList.contains('attr-ok') && r.textContent.includes('`+key+`'); })()`)
	p.waitFor(key+" in the user context",
		`(() => { const row = document.querySelector('#context-user tr[data-key="`+key+`"]');
			return row !== null && row.textContent.includes('`+value+`'); })()`)
}

// TestPreviewBrowserWalkthrough drives /preview in a real headless Chromium
// through the OpenDialog webhook walkthrough: with the mock full_name webhook
// and the greeter scenario, it sets first_name John and last_name Smith in
// the "Set Custom Attributes" panel, opens the chat, presses OK, and waits
// until the "Context – User" panel shows "John Smith" and the trace panel
// shows the full_name webhook call. The server requires an admin key, which
// the page reads from the URL fragment. The screenshot of the final page is
// kept as $PARLEY_ARTIFACTS/preview-walkthrough.png.
//
// Without Chromium the test is skipped, unless CI is set: then it fails.
func TestPreviewBrowserWalkthrough(t *testing.T) {
	p := newBrowserPage(t, "preview-walkthrough-failed.png")
	p.open("#key=" + browserAdminKey)
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("reading the location: %v", err)
	}
	if strings.Contains(loc, browserAdminKey) {
		t.Errorf("the admin key stays in the address bar: %s", loc)
	}

	// A value of the wrong type is refused with the server's JSON error, shown
	// next to the form, and changes nothing.
	p.step("setting first_name to a number",
		chromedp.Click(chromedp.ID("attr-json")),
		chromedp.SendKeys(chromedp.ID("attr-key"), "first_name"),
		chromedp.SendKeys(chromedp.ID("attr-value"), "42"),
		chromedp.Click(chromedp.ID("attr-set")),
	)
	p.waitFor("the type error", `(() => { const r = document.getElementById('attr-result');
		return r.classList.contains('attr-error') && r.textContent.includes('422'); })()`)
	if refused := p.text("#attr-result"); !strings.Contains(refused, "unprocessable") || !strings.Contains(refused, "first_name") {
		t.Errorf("the refusal does not show the server's error: %q", refused)
	}
	p.step("unchecking JSON value", chromedp.Click(chromedp.ID("attr-json")))

	p.setAttribute("first_name", "John")
	p.setAttribute("last_name", "Smith")

	p.step("opening the chat",
		chromedp.Click(chromedp.ID("open-chat")),
		chromedp.WaitVisible(chromedp.CSS(`.bot-button[data-callback-id="ok"]`)),
	)
	p.step("pressing OK", chromedp.Click(chromedp.CSS(`.bot-button[data-callback-id="ok"]`)))
	p.waitFor(`"John Smith" in the Context – User panel`,
		`document.getElementById('context-user').innerText.includes('John Smith')`)
	p.waitFor("the full_name call in the trace panel",
		`document.querySelector('#traces [data-testid="trace-action"][data-action="full_name"] [data-testid="trace-call"]') !== null`)

	// The URL of the call comes from env.GREETER_WEBHOOK_URL, not a secret,
	// so the trace shows it.
	action := p.text(`#traces [data-testid="trace-action"][data-action="full_name"]`)
	for _, want := range []string{"full_name", "webhook", "success", "POST", "200", "ok", `"John"`, `"Smith"`, "John Smith"} {
		if !strings.Contains(action, want) {
			t.Errorf("the trace of full_name lacks %q:\n%s", want, action)
		}
	}
	if !strings.Contains(action, p.mockURL+"/full_name") {
		t.Errorf("the trace does not show the URL %s/full_name:\n%s", p.mockURL, action)
	}
	chat := p.text("#chat-log")
	for _, want := range []string{"Hi! Press OK.", "Hello John Smith!"} {
		if !strings.Contains(chat, want) {
			t.Errorf("the chat lacks %q:\n%s", want, chat)
		}
	}
	if user := p.text("#context-user"); !strings.Contains(user, "action_status") || !strings.Contains(user, "true") {
		t.Errorf("the user context lacks action_status true:\n%s", user)
	}
	p.noProblemsShown()

	// The mock received both inputs.
	reqs := p.mock.Requests()
	if len(reqs) != 1 {
		t.Errorf("the mock received %d requests, want 1", len(reqs))
	} else if body := string(reqs[0].Body); !strings.Contains(body, `"John"`) || !strings.Contains(body, `"Smith"`) {
		t.Errorf("the mock received %s, want both first_name and last_name", body)
	}

	if shot := p.screenshot("preview-walkthrough.png"); shot == "" {
		t.Error("no screenshot was written")
	} else {
		t.Logf("screenshot: %s", shot)
	}
}

// TestPreviewBrowserKeyFormAndText opens /preview without the key in the
// URL: the page asks for it with a form of its own (no dialog), and once it
// is entered a typed message, a restart and a change of user id work, and a
// failed webhook call (no first_name) shows as a failed action in the trace.
func TestPreviewBrowserKeyFormAndText(t *testing.T) {
	p := newBrowserPage(t, "preview-keyform-failed.png")
	p.step("opening the preview page without a key",
		chromedp.Navigate(p.base+"/preview"),
		chromedp.WaitVisible(chromedp.ID("key-form")),
	)
	if reason := p.text("#key-reason"); !strings.Contains(reason, "admin key") {
		t.Errorf("the key form does not say why: %q", reason)
	}
	p.step("entering the key",
		chromedp.SendKeys(chromedp.ID("key-input"), browserAdminKey),
		chromedp.Click(chromedp.ID("key-save")),
	)
	p.waitFor("the scenario status", `document.getElementById('scenario-status').textContent.includes('greeter') &&
		document.getElementById('key-form').hidden && document.getElementById('live-status').textContent === 'Live'`)
	if key, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`sessionStorage.getItem('parley.preview.adminKey')`)); key != browserAdminKey {
		t.Errorf("sessionStorage holds the key %q, want the admin key", key)
	}

	p.step("changing the user",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('user-id').value = ''`),
		chromedp.SendKeys(chromedp.ID("user-id"), "typist\t"),
	)
	p.step("typing a message",
		chromedp.SendKeys(chromedp.ID("chat-input"), "hello there"),
		chromedp.Click(chromedp.ID("chat-send")),
	)
	p.waitFor("the typed message in the chat", `(() => {
		const u = document.querySelector('#chat-log [data-testid="user-message"]');
		return u !== null && u.textContent.includes('hello there') &&
			document.querySelectorAll('#chat-log [data-testid="bot-message"]').length > 0; })()`)
	p.waitFor("the text turn in the traces", `document.getElementById('traces').textContent.includes('hello there')`)

	p.step("restarting", chromedp.Click(chromedp.ID("restart-chat")))
	p.waitFor("the restart", `document.querySelectorAll('#traces [data-testid="trace"]').length === 2 &&
		document.querySelector('#chat-log .bot-button[data-callback-id="ok"]') !== null`)
	p.step("pressing OK without a name", chromedp.Click(chromedp.CSS(`#chat-log .bot-button[data-callback-id="ok"]:not([disabled])`)))
	p.waitFor("the failed action", `(() => {
		const a = document.querySelector('#traces [data-testid="trace-action"][data-action="full_name"]');
		return a !== null && a.textContent.includes('failed'); })()`)
	if chat := p.text("#chat-log"); !strings.Contains(chat, "Sorry, I could not look you up.") {
		t.Errorf("the chat lacks the apology:\n%s", chat)
	}
	if user := p.text("#context-user"); !strings.Contains(user, "action_status") || !strings.Contains(user, "false") {
		t.Errorf("the user context lacks action_status false:\n%s", user)
	}
	p.noProblemsShown()
	if shot := p.screenshot("preview-keyform.png"); shot != "" {
		t.Logf("screenshot: %s", shot)
	}
}

// TestPreviewBrowserNewUserAndPushedUpdates opens the preview for a user
// the server has never seen: no request answers 404 (none is counted as
// rejected), and the page reads nothing by polling. Turns made outside the
// page (another webchat client) and a reload show up by themselves, pushed
// by the event stream. Every time on the page has one format (HH:MM:SS),
// short values never wrap inside a word, and the older traces collapse as a
// group that stays as the user left it.
func TestPreviewBrowserNewUserAndPushedUpdates(t *testing.T) {
	p := newBrowserPage(t, "preview-push-failed.png")
	p.open("#key=" + browserAdminKey)
	p.waitFor("the live stream and the new user's panels", `document.getElementById('live-status').textContent === 'Live' &&
		document.getElementById('context-updated').textContent.includes('new user')`)
	if bad := p.requestsMatching(" 404"); len(bad) > 0 {
		t.Errorf("requests answered 404 for a new user: %q", bad)
	}
	metrics := string(do(t, "GET", p.base+"/metrics", "", "", "").body)
	if strings.Contains(metrics, `parley_http_rejected_total{code="not_found"`) {
		t.Errorf("the new user's panels counted a rejected request:\n%s", metrics)
	}

	// Three turns made by another client of the same user.
	send := func(typ, callback string) {
		t.Helper()
		r := do(t, "POST", p.base+"/incoming/webchat", browserAdminKey, "application/json", webchat("preview-user", typ, "", callback))
		r.ok(t, nil)
	}
	send("chat_open", "")
	p.waitFor("the pushed trace and context", `document.querySelectorAll('#traces [data-testid="trace"]').length === 1 &&
		document.getElementById('context-conversation').textContent.includes('welcome_response')`)
	send("button_response", "intent.core.restart")
	send("chat_open", "")
	p.waitFor("three pushed traces", `document.querySelectorAll('#traces [data-testid="trace"]').length === 3`)
	if polled := p.requestsMatching("GET /api/users/"); len(polled) > 0 {
		t.Errorf("the page read the API instead of the stream: %q", polled)
	}
	if polled := p.requestsMatching("GET /api/scenarios"); len(polled) > 0 {
		t.Errorf("the page polled the scenario status: %q", polled)
	}

	// The older traces: one group, closed, that keeps its state across updates.
	older := `document.querySelector('#traces [data-testid="older-traces"]')`
	if n, _ := chromedp.Run(p.ctx, chromedp.Evaluate[int](older+`.querySelectorAll('[data-testid="trace"]').length`)); n != 2 {
		t.Errorf("the older group holds %d traces, want 2", n)
	}
	if open, _ := chromedp.Run(p.ctx, chromedp.Evaluate[bool](older+`.open`)); open {
		t.Error("the older traces are expanded by default")
	}
	p.step("expanding the older traces", chromedp.Click(chromedp.CSS(`#traces [data-testid="older-traces"] > summary`)))
	p.waitFor("the older traces expanded", older+`.open`)
	send("button_response", "ok")
	p.waitFor("a fourth pushed trace", `document.querySelectorAll('#traces [data-testid="trace"]').length === 4`)
	if open, _ := chromedp.Run(p.ctx, chromedp.Evaluate[bool](older+`.open`)); !open {
		t.Error("the older traces collapsed by themselves after an update")
	}
	p.step("collapsing the older traces", chromedp.Click(chromedp.CSS(`#traces [data-testid="older-traces"] > summary`)))
	p.waitFor("the older traces collapsed", `!`+older+`.open`)

	// A reload decision is pushed too.
	p.srv.ObserveReload(reload.Event{Outcome: reload.Rejected, Change: reload.Change{Version: "next"}, Time: time.Now(),
		Err: diag.List{{File: "greeter.cue", Line: 1, Col: 1, Code: "syntax", Message: "pushed"}}})
	p.waitFor("the pushed reload status", `document.getElementById('diagnostics').textContent.includes('pushed')`)

	// One time format everywhere: the chat, the traces, the context and the reload.
	p.step("opening the chat", chromedp.Click(chromedp.ID("open-chat")))
	p.waitFor("the welcome", `document.querySelector('#chat-log [data-testid="bot-message"] .msg-meta') !== null`)
	times, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		const pick = (sel, re) => document.querySelectorAll(sel).forEach(e => { const m = e.textContent.match(re); out.push(m ? m[0] : 'NO TIME IN: ' + e.textContent); });
		pick('#chat-log .msg-meta', /\S+$/);
		pick('#chat-log [data-testid="system-message"]', /\S+$/);
		pick('#traces .turn-time', /^\S+/);
		pick('#context-updated', /\S+$/);
		pick('[data-testid="reload-status"] .muted', /\S+/);
		return out; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(times) < 6 {
		t.Errorf("found only %d times: %q", len(times), times)
	}
	for _, tm := range times {
		if !clockFormat.MatchString(tm) {
			t.Errorf("time %q is not HH:MM:SS (all: %q)", tm, times)
		}
	}

	// Short values (under 20 characters) do not wrap inside a word, even in a
	// narrow trace panel; a longer one may, where it is wider than its cell.
	p.step("narrowing the trace panel and opening a trace with inputs",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('.trace-panel').style.maxWidth = '420px';
			document.querySelectorAll('#traces details').forEach(d => d.open = true)`))
	broken, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		document.querySelectorAll('#traces .kv-table .v, #context-user .v, #context-conversation .v').forEach(e => {
			const text = e.textContent;
			if (text.length < 20 && !/\s/.test(text) && e.getClientRects().length > 1) out.push(text);
		});
		return out; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if len(broken) > 0 {
		t.Errorf("values wrap inside a word: %q", broken)
	}
	p.noProblemsShown()
	if shot := p.screenshot("preview-push.png"); shot != "" {
		t.Logf("screenshot: %s", shot)
	}
}

// clockFormat is the one time format of the preview.
var clockFormat = regexp.MustCompile(`^\d\d:\d\d:\d\d$`)

// TestPreviewBrowserMessageTypes: the preview renders the booking example's
// form and long text messages and answers them as the widget does
// (form_response with each field, longtext_response with the callback).
func TestPreviewBrowserMessageTypes(t *testing.T) {
	p := newBrowserPageFor(t, "preview-types-failed.png", "booking")
	p.open("#key=" + browserAdminKey)
	p.step("opening the chat", chromedp.Click(chromedp.ID("open-chat")))
	p.waitFor("the welcome", `document.querySelector('#chat-log [data-intent="booking_welcome"]') !== null`)
	say := func(text string) {
		p.t.Helper()
		p.step("typing "+text, chromedp.SendKeys(chromedp.ID("chat-input"), text), chromedp.Click(chromedp.ID("chat-send")))
	}
	say("use a form")
	p.waitFor("the form", `document.querySelector('#chat-log [data-testid="bot-form"] input[name="party_size"]') !== null`)
	p.step("filling in the form",
		chromedp.SendKeys(chromedp.CSS(`#chat-log [data-testid="bot-form"] input[name="party_size"]`), "4"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#chat-log [data-testid="bot-form"] select[name="when"]').value = '7pm'`),
		chromedp.Click(chromedp.CSS(`#chat-log [data-testid="form-submit"]`)))
	p.waitFor("the confirmation", `(() => { const m = document.querySelector('#chat-log [data-intent="confirm_booking_after_form"]');
		return m !== null && m.textContent.includes('A table for 4 at 7pm'); })()`)
	p.step("pressing Yes", chromedp.Click(chromedp.CSS(`#chat-log [data-intent="confirm_booking_after_form"] .bot-button[data-callback-id="confirm"]`)))
	p.waitFor("the booking", `document.querySelector('#chat-log [data-intent="booked"]') !== null`)
	say("book a table")
	p.waitFor("the question", `document.querySelector('#chat-log [data-intent="ask_size"]') !== null`)
	say("special request")
	p.waitFor("the long text", `document.querySelector('#chat-log [data-testid="bot-longtext"] textarea') !== null`)
	p.step("answering the long text",
		chromedp.SendKeys(chromedp.CSS(`#chat-log [data-testid="bot-longtext"] textarea`), "a window seat"),
		chromedp.Click(chromedp.CSS(`#chat-log [data-testid="bot-longtext"] button[type="submit"]`)))
	p.waitFor("the answer", `(() => { const m = document.querySelector('#chat-log [data-intent="special_request_noted"]');
		return m !== null && m.textContent.includes('Noted: a window seat.'); })()`)
	p.noProblemsShown()
}

// TestPreviewBrowserRichMessages: the preview renders image, rich and list
// messages, and a link button as a link.
func TestPreviewBrowserRichMessages(t *testing.T) {
	dir := t.TempDir()
	src := `scenarios: types: conversations: c: {
	behaviors: ["starting"]
	scenes: m: {
		behaviors: ["starting"]
		turns: w: {
			behaviors: ["starting"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "pic", message: {type: "image", image: src: "/preview/none.png"}, virtual: "more"}]
		}
		turns: more: {
			valid_origins: ["pic"]
			request: [{id: "more"}]
			response: [{id: "card", message: {type: "rich", title: "A title", subtitle: "A subtitle", text: "Some text",
				buttons: [{text: "Site", link: "https://example.com/"}, {text: "Pick", callback: "more"}]}, virtual: "list"}]
		}
		turns: list: {
			valid_origins: ["card"]
			request: [{id: "list"}]
			response: [{id: "items", message: {type: "list", title: "Choose", items: [{text: "One"}, {text: "Two"}]}}]
		}
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newBrowserPageFor(t, "preview-rich-failed.png", dir)
	p.open("#key=" + browserAdminKey)
	p.step("opening the chat", chromedp.Click(chromedp.ID("open-chat")))
	p.waitFor("the three messages", `document.querySelectorAll('#chat-log [data-testid="bot-message"]').length === 3`)
	for sel, want := range map[string]string{
		`#chat-log [data-intent="card"] .msg-title`:                "A title",
		`#chat-log [data-intent="card"] .msg-subtitle`:             "A subtitle",
		`#chat-log [data-intent="card"] .bot-link`:                 "Site",
		`#chat-log [data-intent="items"] .msg-title`:               "Choose",
		`#chat-log [data-intent="items"] [data-testid="bot-list"]`: "One",
	} {
		if got := p.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#chat-log [data-intent="pic"] img.msg-image').length`)); err != nil || n != 1 {
		t.Errorf("the image message shows %d images (%v)", n, err)
	}
	if href, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.querySelector('#chat-log [data-intent="card"] .bot-link').getAttribute('href')`)); err != nil || href != "https://example.com/" {
		t.Errorf("the link button links to %q (%v)", href, err)
	}
	p.noProblemsShown()
}
