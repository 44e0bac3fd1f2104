package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/mock"
	"github.com/parleyhq/parley/server"
)

// widgetHostPage is a customer's page embedding the widget, on its own
// origin, as opendialog-bot.js does it (webchat 1.0.0
// resources/assets/js/opendialog-bot.js and mixins/bootstrapFunctions.js):
// window.openDialogSettings names Parley's URL and the user (first and last
// name, and email as the user id); the settings are fetched first (POST
// /webchat-config across origins: CORS), merged under the page's own, and
// only then the iframe /web-chat-iframe is opened from Parley's origin and
// given the settings by postMessage. The page keeps what the frame reports
// in window.widget, so the test can read a cross-origin frame.
const widgetHostPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body>
<h1>A shop</h1>
<script>
window.openDialogSettings = {url: %q, user: {first_name: "John", last_name: "Smith", email: "john.smith@example.com"}};
window.widget = null;
window.addEventListener('message', function (ev) { if (ev.data && ev.data.widgetState) window.widget = ev.data.widgetState; });
(function () {
  var s = window.openDialogSettings;
  var q = new URLSearchParams();
  q.append('url', window.location.href);
  q.append('user_id', s.user.email);
  q.append('width', window.innerWidth);
  fetch(s.url + '/webchat-config?' + q.toString(), {method: 'POST', body: JSON.stringify({custom_settings: s, tags: {}})})
    .then(function (r) { if (r.status !== 200) throw new Error('webchat-config: ' + r.status); return r.json(); })
    .then(function (cfg) {
      var settings = Object.assign({}, cfg, s);
      settings.parentUrl = window.location.pathname;
      document.body.setAttribute('data-config', cfg.userType);
      var ifrm = document.createElement('iframe');
      ifrm.id = 'opendialog-chatwindow';
      ifrm.src = s.url + '/web-chat-iframe?';
      ifrm.style.width = '400px';
      ifrm.style.height = '500px';
      ifrm.style.border = '0';
      ifrm.addEventListener('load', function () { ifrm.contentWindow.postMessage({loadSettings: settings}, '*'); });
      document.body.appendChild(ifrm);
    })
    .catch(function (e) { console.error(String(e)); });
})();
</script>
</body></html>
`

// widgetState is what the stand-in widget reports (testdata/widget/vendor/webchat/js/app.js).
type widgetState struct {
	History []struct {
		Author, Type, Text string
	} `json:"history"`
	HistoryLoaded bool `json:"historyLoaded"`
	Messages      []struct {
		Author, Type, Text string
	} `json:"messages"`
	Buttons []struct {
		Text    string  `json:"text"`
		Visible bool    `json:"visible"`
		X       float64 `json:"x"`
		Y       float64 `json:"y"`
	} `json:"buttons"`
	Download struct {
		Visible bool    `json:"visible"`
		X       float64 `json:"x"`
		Y       float64 `json:"y"`
	} `json:"download"`
	InputDisabled bool   `json:"inputDisabled"`
	Transcript    string `json:"transcript"`
	Filename      string `json:"filename"`
	Requests      int    `json:"requests"`
}

// TestWidgetBrowserWalkthrough runs the seed walkthrough in Chromium through
// a page that embeds the widget as a customer's site does: another origin,
// CORS, the settings fetched first, the history loaded before the chat
// opens, the user's names given by the host page and no attribute set
// through the admin API. The OK button is visible and fires once; after a
// reload the history shows the conversation; the transcript downloads.
func TestWidgetBrowserWalkthrough(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed and CI is set: install it (apt-get install chromium) or set %s", envChromium)
		}
		t.Skipf("chromium is not installed (apt-get install chromium, or set %s); skipping the browser test", envChromium)
	}
	mcfg, err := mock.LoadPath("../mocks/greeter.cue")
	if err != nil {
		t.Fatal(err)
	}
	m := mock.New(mcfg, mock.Options{})
	mockSrv := httptest.NewServer(m)
	t.Cleanup(func() { m.Close(); mockSrv.Close() })
	e := openGreeter(t, mockSrv.URL)

	// The host page's server first: its origin is what Parley allows.
	var parleyURL string
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, widgetHostPage, parleyURL)
	}))
	t.Cleanup(host.Close)
	_, parleyURL = startServer(t, e, server.Options{CORSOrigins: []string{host.URL}, WebchatDir: "testdata/widget"})
	if parleyURL == host.URL {
		t.Fatal("the host page and Parley must be on different origins")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 800))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// Console errors of the pages and uncaught exceptions fail the test.
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(bctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg, err := range messages {
			if err != nil {
				return
			}
			if msg.IsException() || (msg.Type == chromedp.ConsoleError && msg.Source == "") {
				mu.Lock()
				problems = append(problems, msg.String())
				mu.Unlock()
			}
		}
	}()
	defer func() { cancelBrowser(); <-done }()
	state := func() widgetState {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[*widgetState](`window.widget`))
		if err != nil {
			t.Fatalf("reading the widget's state: %v", err)
		}
		if s == nil {
			return widgetState{}
		}
		return *s
	}
	// wait polls the widget's state until ok holds (bounded by the test's context).
	wait := func(what string, ok func(widgetState) bool) widgetState {
		t.Helper()
		for {
			s := state()
			if ok(s) {
				return s
			}
			select {
			case <-bctx.Done():
				mu.Lock()
				p := strings.Join(problems, "; ")
				mu.Unlock()
				t.Fatalf("waiting for %s: %v (state %+v, page problems %s)", what, bctx.Err(), s, p)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(host.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`iframe#opendialog-chatwindow`))); err != nil {
		t.Fatalf("opening the host page: %v", err)
	}
	frame := func() (float64, float64) {
		t.Helper()
		xy, err := chromedp.Run(bctx, chromedp.Evaluate[[]float64](`(function () { var r = document.querySelector('iframe').getBoundingClientRect(); return [r.left, r.top]; })()`))
		if err != nil || len(xy) != 2 {
			t.Fatalf("locating the frame: %v", err)
		}
		return xy[0], xy[1]
	}
	iframeX, iframeY := frame()
	s := wait("the welcome and its OK button", func(s widgetState) bool { return len(s.Buttons) == 1 })
	if !s.HistoryLoaded || len(s.History) != 0 {
		t.Fatalf("a new user has history: %+v", s)
	}
	if len(s.Messages) != 1 || s.Messages[0].Text != "Hi! Press OK." || s.Messages[0].Type != "button" {
		t.Fatalf("the chat opening showed %+v", s.Messages)
	}
	ok := s.Buttons[0]
	if ok.Text != "OK" || !ok.Visible {
		t.Fatalf("the OK button is not visible: %+v", ok)
	}
	// Two real clicks where the button is: the second does nothing.
	x, y := iframeX+ok.X, iframeY+ok.Y
	if err := chromedp.Do(bctx, chromedp.MouseClickXY(x, y), chromedp.MouseClickXY(x, y)); err != nil {
		t.Fatal(err)
	}
	s = wait("the greeting", func(s widgetState) bool { return len(s.Messages) >= 3 })
	time.Sleep(300 * time.Millisecond) // room for a second request, if the button fired twice
	s = state()
	var texts []string
	for _, m := range s.Messages {
		texts = append(texts, m.Author+": "+m.Text)
	}
	if strings.Join(texts, "|") != "them: Hi! Press OK.|me: OK|them: Hello John Smith!" || s.Requests != 2 || len(s.Buttons) != 0 {
		t.Fatalf("after pressing OK twice: %v, %d requests, buttons %+v", texts, s.Requests, s.Buttons)
	}
	if reqs := m.Requests(); len(reqs) != 1 {
		t.Fatalf("the webhook was called %d times", len(reqs))
	}
	if s.InputDisabled {
		t.Fatal("the text input stays disabled")
	}

	// The transcript downloads: a real click on the widget's download button.
	d := s.Download
	if !d.Visible {
		t.Fatalf("the download button is not visible: %+v", d)
	}
	if err := chromedp.Do(bctx, chromedp.MouseClickXY(iframeX+d.X, iframeY+d.Y)); err != nil {
		t.Fatal(err)
	}
	s = wait("the transcript", func(s widgetState) bool { return s.Transcript != "" })
	if !strings.Contains(s.Transcript, " - Bot: Hi! Press OK.\n") || !strings.Contains(s.Transcript, " - You: OK\n") ||
		!strings.Contains(s.Transcript, " - Bot: Hello John Smith!\n") || !strings.HasPrefix(s.Filename, "Chat Transcript ") {
		t.Fatalf("transcript %q (file %q)", s.Transcript, s.Filename)
	}

	// A reload: the settings say returning, the history shows the conversation
	// before the chat opens again.
	if err := chromedp.Do(bctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`iframe#opendialog-chatwindow`))); err != nil {
		t.Fatal(err)
	}
	s = wait("the history and the new welcome", func(s widgetState) bool { return s.HistoryLoaded && len(s.Messages) == 1 })
	var hist []string
	for _, h := range s.History {
		hist = append(hist, h.Author+": "+h.Text)
	}
	if strings.Join(hist, "|") != "them: Hi! Press OK.|me: OK|them: Hello John Smith!" {
		t.Fatalf("history after the reload: %v", hist)
	}
	if ut, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.getAttribute('data-config')`)); err != nil || ut != "returning" {
		t.Fatalf("the user type after the reload: %q %v", ut, err)
	}
	var c contexts
	do(t, "GET", parleyURL+"/api/users/john.smith@example.com/context", "", "", "").ok(t, &c)
	if c.User["first_name"] != "John" || c.User["full_name"] != "John Smith" {
		t.Fatalf("user context: %v", c.User)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("the page logged errors: %v", problems)
	}
}
