package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parleyhq/parley/convtest"
	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/reload"
)

// chatEnvironment returns the plugins of `parley chat`; tests replace it to add Go actions.
var chatEnvironment = plugins.Global

// chatOptions are the options of `parley chat`.
type chatOptions struct {
	dir      string
	user     string
	platform string
	trace    bool
	watch    bool
	poll     time.Duration
	store    storeFlags
}

const chatHelp = `Commands:
  /set PATH VALUE     set an attribute (user.first_name John, session.size 3, first_name John)
  /click CALLBACK [VALUE]
                      press a button: send a button_response with that callback id
  /form CALLBACK [NAME=VALUE ...]
                      submit a form: send a form_response with those fields
  /longtext [CALLBACK] TEXT
                      answer a long text message (longtext_response)
  /trigger CALLBACK [VALUE]
                      send a trigger (as the widget's restart button does)
  /context            show the user's contexts
  /trace [json]       show the trace of the last turn
  /restart            restart the conversation (intent.core.restart)
  /save FILE          save the conversation so far as a test (NAME_test.cue or NAME_test.yaml):
                      the steps, the bot's messages as expectations, the actions' answers as mocks
  /help               show this help
  /quit               leave (also Ctrl-D)
Anything else is sent as a text utterance.`

func newChatCmd(s streams) *cobra.Command {
	var o chatOptions
	cmd := &cobra.Command{
		Use:   "chat [DIR]",
		Short: "Chat with the scenarios of a directory in the terminal",
		Long: `Chat with the scenarios of DIR (default: scenarios, as validate and serve) in the terminal.

The chat opens as a webchat client does (a chat_open utterance), so the welcome
message comes first. On a terminal the chat is interactive with line editing;
when standard input is not a terminal, each line is one input and the replies
are printed, so a conversation can be scripted. The exit status is 1 when a
command of a script failed.

The scenarios are reloaded when their files change (--watch=false turns this
off): a one-line notice on standard error says which version is live, or why
a change was rejected while the previous version keeps answering.

` + chatHelp,
		Example: `  parley chat scenarios/greeter
  printf '/set first_name John\n/set last_name Smith\n/click ok\n/context\n' | parley chat scenarios/greeter`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = "scenarios"
			if len(args) == 1 {
				o.dir = args[0]
			}
			return runChat(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.user, "user", "cli-user", "user id of the conversation")
	f.StringVar(&o.platform, "platform", "cli", "platform reported in utterance.platform")
	f.BoolVar(&o.trace, "trace", false, "print the trace of every turn")
	f.BoolVar(&o.watch, "watch", true, "reload the scenarios when their files change")
	f.DurationVar(&o.poll, "poll", 0, "with --watch, reread the files at this interval instead of using filesystem notifications (network filesystems)")
	o.store.add(f, "memory:", true)
	return cmd
}

func runChat(ctx context.Context, s streams, o chatOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.poll < 0 {
		return fmt.Errorf("--poll must not be negative, got %s", o.poll)
	}
	if err := checkScenarioDir(o.dir); err != nil {
		return err
	}
	st, _, err := o.store.open(ctx, "memory:")
	if err != nil {
		return err
	}
	defer st.Close() // after the engine's Close
	var e *engine.Engine
	// The recorder's environment wraps every action so /save can keep its answers as mocks.
	rec := convtest.NewRecorder(chatEnvironment())
	if o.watch {
		e, err = engine.Open(o.dir, engine.WithEnvironment(rec.Environment()), engine.WithWatch(engine.WatchOptions{Poll: o.poll}), engine.WithStore(st))
	} else {
		var cfg *dsl.Config
		if cfg, err = dsl.LoadDir(o.dir, dsl.Options{Env: rec.Environment()}); err == nil {
			if e, err = engine.New(cfg, engine.WithEnvironment(rec.Environment()), engine.WithStore(st)); err != nil {
				cfg.Close()
				return err
			}
		}
	}
	if err != nil {
		var list diag.List
		if errors.As(err, &list) {
			for _, d := range list {
				fmt.Fprintln(s.err, d)
			}
			fmt.Fprintf(s.err, "parley chat: %s has %d problem(s)\n", o.dir, len(list))
			return exitError{1}
		}
		return fmt.Errorf("loading %s: %w", o.dir, err)
	}
	if webhook.DevMode() {
		fmt.Fprintf(s.err, "parley chat: development mode (%s=%s): webhooks may call private and loopback addresses\n", webhook.EnvDev, os.Getenv(webhook.EnvDev))
	}
	c := &chatSession{ctx: ctx, e: e, user: o.user, platform: o.platform, trace: o.trace, rec: rec}
	defer func() {
		e.Close() // ends the reload notices
		if c.noticesDone != nil {
			<-c.noticesDone
		}
	}()
	if f, ok := s.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return c.interactive(f, s)
	}
	c.out, c.errOut, c.echo = s.out, &lockedWriter{w: s.err}, true
	c.notices()
	return c.script(s.in)
}

// notices prints a line on errOut for each reload until the engine is
// closed, then closes c.noticesDone.
func (c *chatSession) notices() {
	w := c.e.Watcher()
	if w == nil {
		return
	}
	events, _ := w.Subscribe()
	c.noticesDone = make(chan struct{})
	go func() {
		defer close(c.noticesDone)
		for ev := range events {
			switch ev.Outcome {
			case reload.Applied:
				n := len(ev.Added) + len(ev.Removed) + len(ev.Modified)
				fmt.Fprintf(c.errOut, "reloaded %s: version %s is live (%d file(s) changed)\n", w.Dir(), ev.Version, n)
			case reload.Rejected:
				list := engine.Diagnostics(ev.Err)
				if list == nil {
					fmt.Fprintf(c.errOut, "reload of %s rejected, version %s keeps answering: %v\n", w.Dir(), ev.Previous, ev.Err)
					continue
				}
				fmt.Fprintf(c.errOut, "reload of %s rejected, version %s keeps answering: %d problem(s)\n", w.Dir(), ev.Previous, len(list))
				for _, d := range list {
					fmt.Fprintf(c.errOut, "  %s\n", d)
				}
			}
		}
	}()
}

// lockedWriter serialises writes from the chat and from reload notices.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// chatSession is one conversation in the terminal.
type chatSession struct {
	ctx      context.Context
	e        *engine.Engine
	user     string
	platform string
	trace    bool
	echo     bool // print each input line (scripts), so the output reads as a transcript
	out      io.Writer
	errOut   io.Writer
	last     *engine.Trace
	failed   bool
	rec      *convtest.Recorder
	// longText is the callback of the last long text message, for /longtext.
	longText string
	// noticesDone is closed when the reload notices end (nil without --watch).
	noticesDone chan struct{}
}

// interactive runs the chat on a terminal in raw mode with line editing.
func (c *chatSession) interactive(f *os.File, s streams) error {
	fd := int(f.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return fmt.Errorf("setting up the terminal: %w", err)
	}
	defer term.Restore(fd, state)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{f, s.out}, "> ")
	c.out, c.errOut = t, t
	c.notices()
	fmt.Fprintf(t, "Chatting as %s. Type /help for commands, Ctrl-D to leave.\r\n", c.user)
	c.send(plugins.Utterance{Type: plugins.ChatOpen})
	for {
		line, err := t.ReadLine()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, term.ErrPasteIndicator) {
			return fmt.Errorf("reading the terminal: %w", err)
		}
		if c.handle(line) {
			return nil
		}
	}
}

// script runs the chat over lines of input.
func (c *chatSession) script(in io.Reader) error {
	c.send(plugins.Utterance{Type: plugins.ChatOpen})
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if c.handle(sc.Text()) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	if c.failed {
		return exitError{1}
	}
	return nil
}

func (c *chatSession) errorf(format string, args ...any) {
	c.failed = true
	fmt.Fprintf(c.errOut, "error: "+format+"\n", args...)
}

// handle runs one input line and reports whether the chat is over.
func (c *chatSession) handle(line string) (quit bool) {
	line = strings.TrimSpace(line)
	if line == "" {
		return false
	}
	if c.echo {
		fmt.Fprintf(c.out, "> %s\n", line)
	}
	if !strings.HasPrefix(line, "/") {
		c.send(plugins.Utterance{Type: plugins.Text, Text: line})
		return false
	}
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch cmd {
	case "/quit", "/exit":
		return true
	case "/help":
		fmt.Fprintln(c.out, chatHelp)
	case "/set":
		path, value, ok := strings.Cut(rest, " ")
		if !ok || path == "" {
			c.errorf("usage: /set PATH VALUE (for example /set user.first_name John)")
			return false
		}
		if err := c.e.SetAttributeText(c.ctx, c.user, path, strings.TrimSpace(value)); err != nil {
			c.errorf("%v", err)
			return false
		}
		c.recordSet(path)
		fmt.Fprintf(c.out, "set %s\n", path)
	case "/click":
		callback, value, _ := strings.Cut(rest, " ")
		if callback == "" {
			c.errorf("usage: /click CALLBACK [VALUE]")
			return false
		}
		c.send(plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: callback, Value: strings.TrimSpace(value)})
	case "/save":
		if rest == "" {
			c.errorf("usage: /save FILE (for example /save scenarios/greeter/walkthrough_test.cue)")
			return false
		}
		if err := c.rec.WriteFile(rest); err != nil {
			c.errorf("%v", err)
			return false
		}
		fmt.Fprintf(c.out, "saved %d steps as a test in %s\n", c.rec.Steps(), rest)
	case "/form":
		f := strings.Fields(rest)
		if len(f) == 0 {
			c.errorf("usage: /form CALLBACK [NAME=VALUE ...]")
			return false
		}
		data := map[string]any{}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				c.errorf("form field %q: want NAME=VALUE", kv)
				return false
			}
			data[k] = v
		}
		c.send(plugins.Utterance{Type: plugins.FormResponse, CallbackID: f[0], Data: data})
	case "/longtext":
		callback, text := "", rest
		if c.longText != "" {
			callback = c.longText
		}
		if first, more, ok := strings.Cut(rest, " "); ok && c.isCallback(first) {
			callback, text = first, strings.TrimSpace(more)
		}
		c.send(plugins.Utterance{Type: plugins.LongTextResponse, CallbackID: callback, Text: text})
	case "/trigger":
		callback, value, _ := strings.Cut(rest, " ")
		if callback == "" {
			c.errorf("usage: /trigger CALLBACK [VALUE]")
			return false
		}
		c.send(plugins.Utterance{Type: plugins.Trigger, CallbackID: callback, Value: strings.TrimSpace(value)})
	case "/restart":
		c.send(plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: dsl.IntentRestart})
	case "/context":
		ctxs, err := c.e.Context(c.ctx, c.user)
		if err != nil {
			c.errorf("%v", err)
			return false
		}
		c.printJSON(ctxs)
	case "/trace":
		if c.last == nil {
			c.errorf("no turn yet")
			return false
		}
		if rest == "json" {
			c.printJSON(c.last)
		} else {
			writeTrace(c.out, c.last)
		}
	default:
		c.errorf("unknown command %s (type /help for the commands)", cmd)
	}
	return false
}

func (c *chatSession) printJSON(v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		c.errorf("encoding JSON: %v", err)
		return
	}
	fmt.Fprintln(c.out, string(b))
}

// send handles an utterance and prints the reply.
func (c *chatSession) send(u plugins.Utterance) {
	u.Platform = c.platform
	r, err := c.e.Handle(c.ctx, c.user, u)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	c.last = r.Trace
	c.rec.Turn(u, r)
	if len(r.Messages) == 0 {
		fmt.Fprintln(c.out, "(no reply)")
	}
	c.longText = ""
	for i := range r.Messages {
		c.writeMessage(&r.Messages[i], "bot: ")
	}
	if c.trace {
		writeTrace(c.out, r.Trace)
	} else {
		writeActionFailures(c.errOut, r.Trace)
	}
}

// writeActionFailures prints one line per failed action of a turn with its
// cause, so a scenario's apology is not all there is to read (the full
// trace is one /trace away).
func writeActionFailures(w io.Writer, tr *engine.Trace) {
	for _, a := range tr.Actions {
		if a.Success || a.Skipped {
			continue
		}
		cause := a.Error
		for i := len(a.Calls) - 1; cause == "" && i >= 0; i-- {
			if cause = a.Calls[i].Error; cause == "" && a.Calls[i].Outcome != "" {
				cause = a.Calls[i].Outcome
			}
		}
		if cause == "" {
			cause = "no cause given"
		}
		fmt.Fprintf(w, "action %s failed: %s (/trace shows the details)\n", a.Action, cause)
	}
}

// writeMessage prints one message of any webchat type for a terminal:
// text, then what the user can do with it (buttons as /click commands, links
// as addresses, a form's fields as a /form command, a long text as /longtext).
func (c *chatSession) writeMessage(m *engine.Message, prefix string) {
	pad := strings.Repeat(" ", len(prefix))
	say := func(s string) {
		for i, l := range strings.Split(s, "\n") {
			if i == 0 {
				fmt.Fprintf(c.out, "%s%s\n", prefix, l)
				prefix = pad
			} else {
				fmt.Fprintf(c.out, "%s%s\n", pad, l)
			}
		}
	}
	switch m.Kind() {
	case dsl.MessageEmpty:
		say("(empty message)")
		return
	case dsl.MessageImage:
		if m.Image != nil {
			say("[image " + m.Image.Src + "]")
			if m.Image.Link != "" {
				say("  -> " + m.Image.Link)
			}
		}
		return
	case dsl.MessageList:
		if m.Title != "" {
			say(m.Title)
		}
		for i := range m.Items {
			c.writeMessage(&m.Items[i], pad+fmt.Sprintf("%d. ", i+1))
		}
		return
	}
	if m.Title != "" {
		say("** " + m.Title + " **")
	}
	if m.Subtitle != "" {
		say(m.Subtitle)
	}
	if m.Text != "" || (m.Title == "" && m.Subtitle == "") {
		say(m.Text)
	}
	if m.Image != nil && m.Image.Src != "" {
		say("[image " + m.Image.Src + "]")
	}
	for _, b := range m.Buttons {
		switch {
		case b.Hidden:
		case b.Link != "":
			fmt.Fprintf(c.out, "%s[%s] %s\n", pad, b.Text, b.Link)
		case b.Download:
			fmt.Fprintf(c.out, "%s[%s] (transcript download in the widget)\n", pad, b.Text)
		case b.Value != "":
			fmt.Fprintf(c.out, "%s[%s] /click %s %s\n", pad, b.Text, b.Callback, b.Value)
		default:
			fmt.Fprintf(c.out, "%s[%s] /click %s\n", pad, b.Text, b.Callback)
		}
	}
	if f := m.Form; f != nil {
		var fields []string
		for _, ff := range f.Fields {
			desc := ff.Name + "=" + strings.ToUpper(ff.Type)
			if len(ff.Options) > 0 {
				var opts []string
				for _, o := range ff.Options {
					opts = append(opts, o.Value)
				}
				desc = ff.Name + "=" + strings.Join(opts, "|")
			}
			if !ff.Required {
				desc = "[" + desc + "]"
			}
			fields = append(fields, desc)
		}
		fmt.Fprintf(c.out, "%sform: /form %s %s\n", pad, f.Callback, strings.Join(fields, " "))
		if f.CancelCallback != "" {
			fmt.Fprintf(c.out, "%scancel: /form %s\n", pad, f.CancelCallback)
		}
	}
	if lt := m.LongText; lt != nil {
		c.longText = lt.Callback
		hint := "/longtext TEXT"
		if lt.CharacterLimit > 0 {
			hint += fmt.Sprintf(" (at most %d characters)", lt.CharacterLimit)
		}
		fmt.Fprintf(c.out, "%sanswer: %s\n", pad, hint)
	}
}

// isCallback reports whether s names an intent of the configuration.
func (c *chatSession) isCallback(s string) bool {
	for _, sc := range c.e.Config().Scenarios {
		if len(sc.Intents(s)) > 0 {
			return true
		}
	}
	return false
}

// writeTrace prints a trace for people.
func writeTrace(w io.Writer, tr *engine.Trace) {
	u := tr.Utterance
	what := u.Type
	switch {
	case u.Text != "":
		what += fmt.Sprintf(" %q", u.Text)
	case u.CallbackID != "":
		what += " " + u.CallbackID
	}
	fmt.Fprintf(w, "trace: %s (config %s, %s)\n", what, tr.ConfigVersion, tr.Duration)
	for _, sel := range tr.Selections {
		fmt.Fprintf(w, "  %s intent, from %s:\n", sel.Speaker, sel.From)
		if len(sel.Candidates) == 0 {
			fmt.Fprintln(w, "    (no candidates)")
		}
		for _, c := range sel.Candidates {
			fmt.Fprintf(w, "    %-10s %s (%s/%s/%s)", c.Outcome, c.Intent, c.Conversation, c.Scene, c.Turn)
			if c.Interpreter != "" {
				fmt.Fprintf(w, " by %s", c.Interpreter)
				if c.Confidence > 0 {
					fmt.Fprintf(w, " %.2g", c.Confidence)
				}
			}
			if len(c.Attributes) > 0 {
				b, _ := json.Marshal(c.Attributes)
				fmt.Fprintf(w, " %s", b)
			}
			if c.Reason != "" {
				fmt.Fprintf(w, ": %s", c.Reason)
			}
			if c.Condition != nil {
				fmt.Fprintf(w, " [%s at %s]", c.Condition.Source, c.Condition.Pos)
				if c.Condition.Error != "" {
					fmt.Fprintf(w, " error: %s", c.Condition.Error)
				}
			}
			fmt.Fprintln(w)
		}
	}
	for _, a := range tr.Actions {
		status := "failed"
		switch {
		case a.Skipped:
			status = "skipped"
		case a.Success:
			status = "succeeded"
		}
		fmt.Fprintf(w, "  action %s (%s) of %s %s in %s", a.Action, a.Kind, a.Intent, status, a.Duration)
		if a.Error != "" {
			fmt.Fprintf(w, ": %s", a.Error)
		}
		fmt.Fprintln(w)
		writeMap(w, "inputs", a.Inputs)
		writeMap(w, "outputs", a.Outputs)
		for _, call := range a.Calls {
			fmt.Fprintf(w, "    call %s %s: %s", call.Method, call.URL, call.Outcome)
			if call.Status != 0 {
				fmt.Fprintf(w, " %d", call.Status)
			}
			fmt.Fprintf(w, " (%d attempt(s), %s)", call.Attempts, call.Duration)
			if call.Error != "" {
				fmt.Fprintf(w, ": %s", call.Error)
			}
			fmt.Fprintln(w)
		}
	}
	for _, ev := range tr.Events {
		fmt.Fprintf(w, "  event: %s\n", ev)
	}
	for _, e := range tr.Errors {
		fmt.Fprintf(w, "  problem: %s\n", e)
	}
}

func writeMap(w io.Writer, label string, m map[string]any) {
	if len(m) == 0 {
		return
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		b, _ := json.Marshal(m[k])
		parts[i] = k + "=" + string(b)
	}
	fmt.Fprintf(w, "    %s: %s\n", label, strings.Join(parts, " "))
}
