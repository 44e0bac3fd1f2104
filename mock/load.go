// Package mock is Parley's local mock webhook service, the built-in answer to
// webhook.site: routes declared in CUE or YAML files answer with static or
// computed (expr-lang) responses, delays and failure modes, and every request
// received is kept in a bounded log listed at GET /_requests.
//
// A Config is loaded once (Load, LoadPath or Parse) and is immutable; New
// serves it as an http.Handler, so tests run it in-process with httptest.
package mock

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/yaml"
	"github.com/expr-lang/expr/types"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/expression"
)

// Schema is the CUE schema every mock file is validated against (#File).
//
//go:embed schema.cue
var Schema string

// schemaFile is the file name of the schema in CUE positions; it cannot clash
// with a user file, whose names are paths.
const schemaFile = "<mock schema>"

// Protocols a route may answer with.
const (
	ProtocolOpenDialog = "opendialog"
	ProtocolHTTP       = "http"
)

// Failure modes of a route (besides an HTTP status such as "503").
const (
	FailTimeout = "timeout"  // never answer: hold the request until the client gives up
	FailReset   = "reset"    // drop the connection without an answer
	FailBadJSON = "bad_json" // answer 200 with a truncated JSON body
	FailEmpty   = "empty"    // answer 200 with an empty body
)

// Config is a loaded, validated set of mock routes. It is immutable and may be
// served by several Servers at once.
type Config struct {
	// Routes in declaration order (files in path order).
	Routes []*Route
	// Files are the declaration files read, as named in diagnostics.
	Files []string

	mux *http.ServeMux // routes requests to routes; handlers only record the match
}

// Route is one declared route.
type Route struct {
	Name       string                 // the declared name, or "METHOD path"
	Method     string                 // an HTTP method, or "ANY"
	Path       string                 // a net/http pattern path
	Protocol   string                 // ProtocolOpenDialog or ProtocolHTTP
	Status     int                    // the status of a successful answer
	Headers    map[string]string      // extra response headers
	Body       json.RawMessage        // the static body; nil when none is declared
	TextBody   bool                   // Body is a string to send as is (a non-JSON Content-Type)
	Outputs    []Output               // computed attributes (opendialog) or body fields (http)
	Successful *expression.Program    // opendialog: whether the answer is successful; nil means true unless Errors
	Errors     []*expression.Template // opendialog: the messages of an unsuccessful answer
	Delay      time.Duration          // waited before every answer
	Fail       string                 // a failure mode or an HTTP status; "" for none
	FailTimes  int                    // fail only the first FailTimes requests; 0 means always
	RetryAfter int                    // Retry-After seconds on status failures; -1 for none
	Pos        string                 // file:line:col of the declaration
	pattern    string                 // the net/http pattern
}

// Output is an attribute or body field computed by an expression.
type Output struct {
	Name    string              // the attribute or body field set
	Program *expression.Program // computes its value from input and request
}

// FailStatus returns the HTTP status of a status failure ("503" gives 503), or 0.
func (r *Route) FailStatus() int {
	n, err := strconv.Atoi(r.Fail)
	if err != nil {
		return 0
	}
	return n
}

// requestType is the type of the request variable of route expressions.
var requestType = types.Map{
	"method":  expression.String,
	"path":    expression.String,
	"headers": expression.Open(nil),
	"query":   expression.Open(nil),
	"params":  expression.Open(nil),
	"body":    expression.Any,
}

// envs of route expressions: opendialog input is the attribute map; http input is the whole body.
var (
	openDialogEnv = expression.Env{"input": expression.Open(nil), "request": requestType}
	httpEnv       = expression.Env{"input": expression.Any, "request": requestType}
)

// LoadPath loads one mock file, or every mock file under a directory
// (recursively, hidden entries skipped). On failure the error is a diag.List.
func LoadPath(p string) (*Config, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, diag.List{{File: p, Code: diag.CodeIO, Message: fmt.Sprintf("reading mock declarations: %v", unwrapPathError(err))}}
	}
	if st.IsDir() {
		return Load(os.DirFS(p), filepath.ToSlash(filepath.Clean(p)))
	}
	if !dsl.IsSourceFile(filepath.Base(p)) {
		return nil, diag.List{{File: p, Code: diag.CodeIO, Message: "a mock file must end in .cue, .yaml or .yml"}}
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, diag.List{{File: p, Code: diag.CodeIO, Message: fmt.Sprintf("reading mock file: %v", unwrapPathError(err))}}
	}
	return Parse(filepath.ToSlash(p), data)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// Load loads every mock file under the root of fsys, in path order. File names
// in diagnostics are prefixed with display. A tree without mock files is an
// error. On failure the error is a diag.List holding every problem found.
func Load(fsys fs.FS, display string) (*Config, error) {
	type file struct {
		name string
		data []byte
	}
	var files []file
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !dsl.IsSourceFile(d.Name()) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := p
		if display != "" {
			name = path.Join(display, p)
		}
		files = append(files, file{name, data})
		return nil
	})
	if err != nil {
		return nil, diag.List{{File: display, Code: diag.CodeIO, Message: fmt.Sprintf("reading mock files: %v", err)}}
	}
	if len(files) == 0 {
		return nil, diag.List{{File: display, Code: diag.CodeIO, Message: "no .cue, .yaml or .yml mock files found"}}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	l := newLoader()
	for _, f := range files {
		l.file(f.name, f.data)
	}
	return l.finish()
}

// Parse loads one mock file from memory; name is used in diagnostics and its
// extension (.cue, or .yaml/.yml) selects the syntax.
func Parse(name string, data []byte) (*Config, error) {
	l := newLoader()
	l.file(name, data)
	return l.finish()
}

// loader holds the state of one load.
type loader struct {
	ctx      *cue.Context
	schema   cue.Value // #File
	cfg      *Config
	diags    diag.List
	sources  map[string][]byte
	patterns map[string]*Route
}

func newLoader() *loader {
	// A fresh context per load: CUE contexts keep memory.
	ctx := cuecontext.New()
	s := ctx.CompileString(Schema, cue.Filename(schemaFile))
	if err := s.Err(); err != nil {
		panic(fmt.Sprintf("mock: compiling the embedded schema: %v", err)) // a build defect, caught by every test
	}
	return &loader{
		ctx:      ctx,
		schema:   s.LookupPath(cue.MakePath(cue.Def("#File"))),
		cfg:      &Config{mux: http.NewServeMux()},
		sources:  map[string][]byte{},
		patterns: map[string]*Route{},
	}
}

func (l *loader) finish() (*Config, error) {
	if len(l.diags) > 0 {
		l.diags.Sort()
		return nil, l.diags
	}
	return l.cfg, nil
}

func (l *loader) errorf(pos token.Position, code, format string, args ...any) {
	l.diags = append(l.diags, diag.Diagnostic{File: pos.Filename, Line: pos.Line, Col: pos.Column, Code: code, Message: fmt.Sprintf(format, args...)})
}

// file parses, validates and decodes one file.
func (l *loader) file(name string, data []byte) {
	l.cfg.Files = append(l.cfg.Files, name)
	l.sources[name] = data
	var af *ast.File
	var err error
	if strings.HasSuffix(name, ".cue") {
		af, err = parser.ParseFile(name, data)
	} else {
		af, err = yaml.Extract(name, data)
	}
	if err != nil {
		l.diags = append(l.diags, dsl.SyntaxDiagnostic(name, data, err))
		return
	}
	user := l.ctx.BuildFile(af)
	if err := user.Err(); err != nil {
		l.cueErrors(err, user, diag.CodeSchemaConflict)
		return
	}
	full := l.schema.Unify(user)
	invalid := false
	if err := full.Validate(cue.Concrete(true)); err != nil {
		l.cueErrors(err, user, diag.CodeSchemaType)
		invalid = true
	}
	if !invalid {
		if _, err := full.LookupPath(cue.ParsePath("mock.routes")).List(); err != nil {
			l.errorf(user.Pos().Position(), diag.CodeSchemaType, "mock.routes: %v", err)
			return
		}
	}
	it, err := user.LookupPath(cue.ParsePath("mock.routes")).List()
	if err != nil {
		return // no list of routes: the schema said so
	}
	// Every route is checked, so every problem is reported at once: a route
	// the schema refused still has its expressions compiled.
	for i := 0; it.Next(); i++ {
		u := it.Value()
		rv := full.LookupPath(cue.MakePath(cue.Str("mock"), cue.Str("routes"), cue.Index(i)))
		if !invalid || rv.Validate(cue.Concrete(true)) == nil {
			l.route(rv, u)
			continue
		}
		env := openDialogEnv
		if p, _ := u.LookupPath(cue.ParsePath("protocol")).String(); p == ProtocolHTTP {
			env = httpEnv
		}
		l.expressions(u, env)
	}
}

// expressions compiles the outputs, successful and errors of the route u as
// declared, in declaration order.
func (l *loader) expressions(u cue.Value, env expression.Env) (outputs []Output, successful *expression.Program, errs []*expression.Template) {
	if outs := u.LookupPath(cue.ParsePath("outputs")); outs.Exists() {
		if fit, err := outs.Fields(); err == nil {
			for fit.Next() {
				name := fit.Selector().Unquoted()
				src, err := fit.Value().String()
				if err != nil {
					continue // not a string: the schema said so
				}
				if prog := l.compile(fit.Value(), src, env, expression.Value); prog != nil {
					outputs = append(outputs, Output{Name: name, Program: prog})
				}
			}
		}
	}
	if n := u.LookupPath(cue.ParsePath("successful")); n.Exists() {
		if src, err := n.String(); err == nil && src != "" {
			successful = l.compile(n, src, env, expression.Bool)
		}
	}
	if list, err := u.LookupPath(cue.ParsePath("errors")).List(); err == nil {
		for i := 0; list.Next(); i++ {
			n := list.Value()
			e, err := n.String()
			if err != nil {
				continue
			}
			t, terrs := expression.ParseTemplate(e, env)
			for _, err := range terrs {
				l.errorf(innerPos(n, l.sources, err.Offset), err.Code, "errors[%d]: %s", i, err.Message)
			}
			errs = append(errs, t)
		}
	}
	return outputs, successful, errs
}

// rawRoute is a route as declared, defaults applied.
type rawRoute struct {
	Name       string   `json:"name"`
	Path       string   `json:"path"`
	Method     string   `json:"method"`
	Protocol   string   `json:"protocol"`
	Successful string   `json:"successful"`
	Errors     []string `json:"errors"`
	Delay      string   `json:"delay"`
	FailTimes  int      `json:"fail_times"`
	RetryAfter *int     `json:"retry_after"`
	Response   struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	} `json:"response"`
}

// route decodes one route: v has the schema's defaults, u is as declared (for positions).
func (l *loader) route(v, u cue.Value) {
	var raw rawRoute
	if err := v.Decode(&raw); err != nil {
		l.errorf(u.Pos().Position(), diag.CodeSchemaType, "decoding route: %v", err)
		return
	}
	at := func(field ...string) cue.Value {
		sels := make([]cue.Selector, len(field))
		for i, f := range field {
			sels[i] = cue.Str(f)
		}
		return u.LookupPath(cue.MakePath(sels...))
	}
	posOf := func(field ...string) token.Position {
		if p := at(field...).Pos(); p.IsValid() {
			return p.Position()
		}
		return u.Pos().Position()
	}
	p := u.Pos().Position()
	r := &Route{
		Name:       raw.Name,
		Method:     raw.Method,
		Path:       raw.Path,
		Protocol:   raw.Protocol,
		Status:     raw.Response.Status,
		Headers:    raw.Response.Headers,
		FailTimes:  raw.FailTimes,
		RetryAfter: -1,
		Pos:        fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column),
	}
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	if r.Name == "" {
		r.Name = r.Method + " " + r.Path
	}
	env := openDialogEnv
	if r.Protocol == ProtocolHTTP {
		env = httpEnv
	}
	// A fail given as a number or a string.
	if f := v.LookupPath(cue.ParsePath("fail")); f.Exists() {
		if n, err := f.Int64(); err == nil {
			r.Fail = strconv.FormatInt(n, 10)
		} else {
			r.Fail, _ = f.String()
		}
	}
	if raw.RetryAfter != nil {
		r.RetryAfter = *raw.RetryAfter
	}
	if r.FailTimes > 0 && r.Fail == "" {
		l.errorf(posOf("fail_times"), diag.CodeSchemaRequired, "fail_times needs fail: the failure mode of the first requests")
	}
	if r.RetryAfter >= 0 && r.FailStatus() == 0 {
		l.errorf(posOf("retry_after"), diag.CodeSchemaRequired, "retry_after needs fail with an HTTP status, such as \"503\"")
	}
	if raw.Delay != "" {
		d, err := time.ParseDuration(raw.Delay)
		if err != nil {
			l.errorf(posOf("delay"), diag.CodeSchemaType, "delay: %v", err)
		}
		r.Delay = d
	}
	if b := v.LookupPath(cue.ParsePath("response.body")); b.Exists() {
		js, err := b.MarshalJSON()
		if err != nil {
			l.errorf(posOf("response", "body"), diag.CodeSchemaType, "response.body is not a JSON value: %v", err)
		}
		r.Body = js
		if ct := header(r.Headers, "Content-Type"); ct != "" && !isJSONType(ct) && b.Kind() == cue.StringKind {
			s, _ := b.String()
			r.Body, r.TextBody = json.RawMessage(s), true
		}
	}
	r.Outputs, r.Successful, r.Errors = l.expressions(u, env)
	switch r.Protocol {
	case ProtocolOpenDialog:
		if r.Body != nil && (len(raw.Errors) > 0 || raw.Successful != "" || at("outputs").Exists()) {
			l.errorf(posOf("response", "body"), diag.CodeSchemaConflict, "response.body replaces the OpenDialog answer: it cannot be used with outputs, successful or errors")
		}
	case ProtocolHTTP:
		for _, f := range []string{"successful", "errors"} {
			if at(f).Exists() {
				l.errorf(posOf(f), diag.CodeFieldNotAllowed, "%s is only for the opendialog protocol", f)
			}
		}
		if len(r.Outputs) > 0 && r.Body != nil && (r.TextBody || !bytes.HasPrefix(bytes.TrimSpace(r.Body), []byte("{"))) {
			l.errorf(posOf("outputs"), diag.CodeSchemaType, "outputs are merged into the body: response.body must be an object")
		}
	}
	l.register(r, posOf("path"))
	l.cfg.Routes = append(l.cfg.Routes, r)
}

// register adds the route's pattern to the mux; a conflict is a diagnostic.
func (l *loader) register(r *Route, pos token.Position) {
	r.pattern = r.Path
	if r.Method != "ANY" {
		r.pattern = r.Method + " " + r.Path
	}
	if prev, ok := l.patterns[r.pattern]; ok {
		l.errorf(pos, diag.CodeSchemaConflict, "route %q is already declared at %s", r.pattern, prev.Pos)
		return
	}
	defer func() {
		if e := recover(); e != nil {
			msg := registeredAt.ReplaceAllString(fmt.Sprint(e), "")
			msg = strings.Join(strings.Fields(msg), " ")
			msg = strings.TrimPrefix(msg, "http: ")
			l.errorf(pos, diag.CodeSchemaConflict, "route %q: %s", r.pattern, msg)
		}
	}()
	l.cfg.mux.HandleFunc(r.pattern, func(_ http.ResponseWriter, req *http.Request) {
		if m, ok := req.Context().Value(matchKey{}).(*match); ok {
			m.route, m.req = r, req
		}
	})
	l.patterns[r.pattern] = r
}

// registeredAt matches the Go source locations net/http puts in pattern conflict messages.
var registeredAt = regexp.MustCompile(` \(registered at [^)]*\)`)

// compile compiles an expression held by the string value n.
func (l *loader) compile(n cue.Value, src string, env expression.Env, kind expression.Kind) *expression.Program {
	p, err := expression.Compile(src, env, kind)
	if err != nil {
		e, ok := err.(*expression.Error)
		if !ok {
			e = &expression.Error{Code: diag.CodeExprSyntax, Message: err.Error()}
		}
		l.errorf(innerPos(n, l.sources, e.Offset), e.Code, "%s", e.Message)
		return nil
	}
	return p
}

// allowed describes the values of the schema's enumerated fields, for
// messages about a value that matches none of them.
var allowed = map[string]string{
	"method":   `one of "POST", "GET", "PUT", "PATCH", "DELETE", "ANY"`,
	"protocol": `"opendialog" or "http"`,
	"fail":     `"timeout", "reset", "bad_json", "empty", or an HTTP status from 400 to 599`,
	"status":   "an HTTP status from 200 to 599",
}

// cueErrors turns CUE errors into diagnostics, each at a position in the
// user's file where one is known. A value matching no alternative of a
// disjunction gives one diagnostic, not one per alternative.
func (l *loader) cueErrors(err error, user cue.Value, fallback string) {
	errs := cueerrors.Errors(err)
	type disj struct {
		pos  token.Pos
		msgs []string
	}
	disjunctions := map[string]*disj{}
	var order []string
	for _, e := range errs {
		if format, args := e.Msg(); strings.Contains(fmt.Sprintf(format, args...), "empty disjunction") {
			key := strings.Join(trimDef(e.Path()), ".")
			if _, ok := disjunctions[key]; !ok {
				disjunctions[key] = &disj{}
				order = append(order, key)
			}
		}
	}
	for _, e := range errs {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		p := trimDef(e.Path())
		pos := l.userPos(e)
		if d, ok := disjunctions[strings.Join(p, ".")]; ok {
			if !strings.Contains(msg, "empty disjunction") {
				d.msgs = append(d.msgs, msg)
				if !d.pos.IsValid() {
					d.pos = pos
				}
			}
			continue
		}
		code := dsl.ClassifyCUEError(msg, fallback)
		msg = strings.ReplaceAll(msg, "#File.", "")
		if code == diag.CodeFieldNotAllowed && len(p) > 0 {
			msg = fmt.Sprintf("field %q not allowed", p[len(p)-1])
			if len(p) > 1 {
				msg += " in " + strings.Join(p[:len(p)-1], ".")
			}
			if s := dsl.Suggest(p[len(p)-1], schemaFields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
		} else if format, args := e.Msg(); strings.HasPrefix(format, "invalid value %v (out of bound %s)") && len(args) >= 2 &&
			strings.HasPrefix(fmt.Sprint(args[1]), "=~") && len(p) > 0 && p[len(p)-1] == "delay" {
			msg = fmt.Sprintf("%s: invalid value %v: want %s", strings.Join(p, "."), args[0], dsl.DescribeConstraint(fmt.Sprint(args[1])))
		} else if code == diag.CodeSchemaRequired && strings.Contains(msg, "incomplete value") && len(p) > 0 {
			msg = strings.Join(p, ".") + " is required"
		} else if len(p) > 0 && !strings.Contains(msg, strings.Join(p, ".")) {
			msg = strings.Join(p, ".") + ": " + msg
		}
		if !pos.IsValid() {
			pos = pathPos(user, p)
		}
		l.errorf(pos.Position(), code, "%s", msg)
	}
	for _, key := range order {
		d := disjunctions[key]
		p := strings.Split(key, ".")
		pos := d.pos
		if !pos.IsValid() {
			pos = pathPos(user, p)
		}
		v := pathValue(user, p)
		want, ok := allowed[p[len(p)-1]]
		if !ok {
			want = "a value the schema allows (" + strings.Join(d.msgs, "; ") + ")"
		}
		l.errorf(pos.Position(), diag.CodeSchemaType, "%s: %v is not allowed: want %s", key, v, want)
	}
}

// userPos is the first position of e in a user file (not the schema), if any.
func (l *loader) userPos(e cueerrors.Error) token.Pos {
	for _, q := range cueerrors.Positions(e) {
		if _, ok := l.sources[q.Filename()]; ok {
			return q
		}
	}
	return token.NoPos
}

// trimDef drops the #File definition from an error path.
func trimDef(p []string) []string {
	if len(p) > 0 && p[0] == "#File" {
		return p[1:]
	}
	return p
}

// pathValue looks a dotted error path up in the user value.
func pathValue(user cue.Value, p []string) cue.Value {
	sels := make([]cue.Selector, 0, len(p))
	for _, s := range p {
		if i, err := strconv.Atoi(s); err == nil && strconv.Itoa(i) == s {
			sels = append(sels, cue.Index(i))
		} else {
			sels = append(sels, cue.Str(s))
		}
	}
	return user.LookupPath(cue.MakePath(sels...))
}

// pathPos finds the position of the deepest existing value along path in the user value.
func pathPos(user cue.Value, p []string) token.Pos {
	for n := len(p); n >= 0; n-- {
		var sels []cue.Selector
		for _, s := range p[:n] {
			if strings.HasPrefix(s, "#") {
				continue
			}
			if i, err := strconv.Atoi(s); err == nil && strconv.Itoa(i) == s {
				sels = append(sels, cue.Index(i))
			} else {
				sels = append(sels, cue.Str(s))
			}
		}
		if q := user.LookupPath(cue.MakePath(sels...)).Pos(); q.IsValid() {
			return q
		}
	}
	return token.NoPos
}

// innerPos maps a byte offset inside the string value n to a file position,
// as package dsl does.
func innerPos(n cue.Value, sources map[string][]byte, offset int) token.Position {
	vp := n.Pos()
	if f, ok := n.Source().(*ast.Field); ok && f.Value != nil && f.Value.Pos().IsValid() {
		vp = f.Value.Pos()
	}
	content, _ := n.String()
	return dsl.StringPosition(sources[vp.Position().Filename], vp.Position(), content, offset)
}

// header looks a header up in a declared header map, case-insensitively.
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func isJSONType(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// schemaFields lists the field names the mock schema declares, for "did you mean".
var schemaFields = func() []string {
	f, err := parser.ParseFile(schemaFile, Schema)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	ast.Walk(f, func(n ast.Node) bool {
		if fd, ok := n.(*ast.Field); ok {
			if id, ok := fd.Label.(*ast.Ident); ok && !strings.HasPrefix(id.Name, "#") && !seen[id.Name] {
				seen[id.Name] = true
				out = append(out, id.Name)
			}
		}
		return true
	}, nil)
	return out
}()
