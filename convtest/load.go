// Package convtest runs conversation tests: files named *_test.cue,
// *_test.yaml or *_test.yml beside the scenarios, validated against the
// closed #TestFile schema of package schema, and run on the real engine with
// every action answered by a mock action plugin built in a clone of the
// plugin environment (or by the real actions, with Options.Live).
//
// Load reads and checks test files (every problem is a diagnostic at
// file:line:col); Run runs them in parallel and returns the results, which
// WriteText, WriteJSON and WriteJUnit report; a Coverage built from the
// results says which intents, turns, buttons, conditions, action outcomes
// and no-match intents the tests exercised. T runs the same tests from
// `go test`.
package convtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/mock"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/schema"
)

// Diagnostic codes of test files, besides the schema's and the ref.* codes of package diag.
const (
	CodeStep             = "test.step"             // a step that does not say what the user does
	CodeMock             = "test.mock"             // a mock that mixes answers for every call with per-call answers
	CodeValue            = "test.value"            // a bad value: a check with other than one kind, a time, a duration
	CodeUnknownAttribute = "ref.unknown_attribute" // an attribute no scenario of the directory knows
	CodeUnknownRoute     = "ref.unknown_route"     // a mock route not declared in mocks_from
)

// DefaultUser is the user id of a test that declares none.
const DefaultUser = "test-user"

// DefaultClock is the time of a test's first step when it declares no clock.
var DefaultClock = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// IsTestFile reports whether base names a conversation test file.
func IsTestFile(base string) bool {
	if strings.HasPrefix(base, ".") {
		return false
	}
	for _, ext := range []string{"_test.cue", "_test.yaml", "_test.yml"} {
		if strings.HasSuffix(base, ext) && len(base) > len(ext) {
			return true
		}
	}
	return false
}

// Suite is the loaded tests of one run, grouped by scenario directory.
type Suite struct {
	Dirs []*Dir
}

// Tests returns every test of the suite, in directory, file and declaration order.
func (s *Suite) Tests() []*Test {
	var out []*Test
	for _, d := range s.Dirs {
		for _, f := range d.Files {
			out = append(out, f.Tests...)
		}
	}
	return out
}

// Close releases the scenario configurations.
func (s *Suite) Close() error {
	var first error
	for _, d := range s.Dirs {
		if err := d.Config.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Dir is a scenario directory and the test files beside its scenarios.
type Dir struct {
	// Path is the directory as displayed (the test files' directory).
	Path   string
	Config *dsl.Config
	Env    *plugins.Environment
	Files  []*File
	live   bool
}

// File is one test file.
type File struct {
	Path  string
	Tests []*Test
}

// Test is one conversation test.
type Test struct {
	Name        string
	Description string
	// File is the test file; Pos is where the test is declared.
	File, Pos      string
	User           string
	Clock          time.Time
	SessionTimeout time.Duration
	Fixtures       []Fixture
	Mocks          map[string]*Mock
	Steps          []*Step
	dir            *Dir
}

// FullName is the test's file and name, as reports show it.
func (t *Test) FullName() string { return t.File + ": " + t.Name }

// Fixture is an attribute set before the first step.
type Fixture struct {
	Path  string // user.NAME or session.NAME
	Value any
	Pos   string
}

// Mock is what one action answers in a test.
type Mock struct {
	Action string
	Pos    string
	// Answers holds one answer for every call, unless PerCall, where the
	// n-th call gets the n-th answer.
	Answers []*Answer
	PerCall bool
}

// Failure kinds of a mock answer.
const (
	FailTimeout       = "timeout"
	FailConnection    = "connection"
	FailInvalidAnswer = "invalid_answer"
	FailStatus        = "status"
)

// Answer is one answer of a mocked action.
type Answer struct {
	Pos        string
	Outputs    map[string]any
	Successful bool
	Errors     []string
	// Fail is "", or a failure kind; Status is the HTTP status of FailStatus.
	Fail   string
	Status int
	// Route answers from a route of the mock declarations; routes is its configuration.
	Route  *mock.Route
	routes *mock.Config
}

// Step kinds: what the user does.
const (
	StepAdvance   = "advance" // only time passes
	StepOpen      = "open"
	StepSay       = "say"
	StepClick     = "click"
	StepClickText = "click_text"
	StepTrigger   = "trigger"
)

// Step is what the user does and what must hold after it.
type Step struct {
	// Index counts from 1.
	Index    int
	Pos      string
	Advance  time.Duration
	Kind     string
	Text     string // say, click_text
	Callback string // click, trigger
	Value    string
	HasValue bool

	Reply     []ExpectMessage
	HasReply  bool
	ReplyPos  string
	Intents   []string
	HasIntent bool
	IntentPos string
	Context   []ExpectContext
	Actions   []ExpectAction
	HasAction bool
	ActionPos string
	NoMatch   *bool
	NoMatchAt string
	Completed *bool
	DoneAt    string
}

// Describe says what the user does in the step, for reports.
func (s *Step) Describe() string {
	switch s.Kind {
	case StepAdvance:
		return "advance " + s.Advance.String()
	case StepOpen:
		return "open"
	case StepSay:
		return "say " + strconv.Quote(s.Text)
	case StepClick:
		return "click " + strconv.Quote(s.Callback)
	case StepClickText:
		return "click_text " + strconv.Quote(s.Text)
	case StepTrigger:
		return "trigger " + strconv.Quote(s.Callback)
	}
	return s.Kind
}

// ExpectMessage is one expected bot message.
type ExpectMessage struct {
	Pos        string
	Text       *string
	Matches    *regexp.Regexp
	Intent     string
	Buttons    []ExpectButton
	HasButtons bool
}

// ExpectButton is one expected button; nil fields are not checked.
type ExpectButton struct {
	Pos                   string
	Text, Callback, Value *string
}

// Value check kinds.
const (
	CheckEquals  = "equals"
	CheckAbsent  = "absent"
	CheckType    = "type"
	CheckMatches = "matches"
)

// ExpectContext is a check of one attribute after a step.
type ExpectContext struct {
	Pos   string
	Path  string
	Check string
	Value any // equals: the value; type: the type name
	Re    *regexp.Regexp
}

// ExpectAction is one expected action call.
type ExpectAction struct {
	Pos       string
	Name      string
	Inputs    map[string]any
	HasInputs bool
	Success   *bool
}

// Options configure Load and Run.
type Options struct {
	// Env is the plugin environment of the scenarios; nil means plugins.Global().
	// Tests run with a clone whose action kinds answer from the tests' mocks.
	Env *plugins.Environment
	// Live runs the real actions instead of the mocks.
	Live bool
	// Run, when set, selects the tests whose name or file: name it matches.
	Run *regexp.Regexp
	// Parallel is how many tests run at once; 0 means GOMAXPROCS.
	Parallel int
}

func (o Options) env() *plugins.Environment {
	if o.Env == nil {
		return plugins.Global()
	}
	return o.Env
}

// Load finds the test files under paths (files or directories, searched
// recursively, hidden entries skipped), loads the scenario directory of each
// (the directory holding it) and checks every test against its scenarios.
// All problems are returned together as a diag.List.
func Load(paths []string, opts Options) (*Suite, error) {
	byDir := map[string][]string{}
	var diags diag.List
	for _, p := range paths {
		files, err := findTestFiles(p)
		if err != nil {
			diags = append(diags, diag.Diagnostic{File: filepath.ToSlash(p), Code: diag.CodeIO, Message: err.Error()})
			continue
		}
		for _, f := range files {
			d := filepath.ToSlash(filepath.Dir(f))
			if !slices.Contains(byDir[d], f) {
				byDir[d] = append(byDir[d], f)
			}
		}
	}
	if len(diags) == 0 && len(byDir) == 0 {
		diags = append(diags, diag.Diagnostic{File: strings.Join(paths, " "), Code: diag.CodeIO,
			Message: "no test files (*_test.cue, *_test.yaml, *_test.yml) found"})
	}
	if len(diags) > 0 {
		return nil, diags
	}
	sch, err := testSchema()
	if err != nil {
		return nil, err
	}
	suite := &Suite{}
	for _, d := range slices.Sorted(keys(byDir)) {
		dir := &Dir{Path: d, live: opts.Live}
		if opts.Live {
			dir.Env = opts.env()
		} else {
			dir.Env = MockEnvironment(opts.env())
		}
		cfg, err := dsl.LoadDir(d, dsl.Options{Env: dir.Env})
		if err != nil {
			diags = append(diags, asDiags(err)...)
			continue
		}
		dir.Config = cfg
		known := knownAttributes(cfg)
		files := byDir[d]
		sort.Strings(files)
		for _, f := range files {
			file, ds := loadFile(sch, f, dir, known)
			diags = append(diags, ds...)
			if file != nil {
				dir.Files = append(dir.Files, file)
			}
		}
		suite.Dirs = append(suite.Dirs, dir)
	}
	if len(diags) > 0 {
		_ = suite.Close()
		diags.Sort()
		return nil, diags
	}
	return suite, nil
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func asDiags(err error) diag.List {
	var l diag.List
	if errors.As(err, &l) {
		return l
	}
	return diag.List{{Code: diag.CodeIO, Message: err.Error()}}
}

// findTestFiles lists the test files of a path: the file itself, or those under a directory.
func findTestFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("reading tests: %w", unwrapPath(err))
	}
	if !st.IsDir() {
		if !IsTestFile(filepath.Base(p)) {
			return nil, fmt.Errorf("not a test file: its name must end in _test.cue, _test.yaml or _test.yml")
		}
		return []string{filepath.ToSlash(filepath.Clean(p))}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if q != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if IsTestFile(d.Name()) {
			out = append(out, filepath.ToSlash(filepath.Clean(q)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading tests: %w", unwrapPath(err))
	}
	return out, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// testSchema compiles the test schema (#TestFile and the definitions it refers to).
func testSchema() (cue.Value, error) {
	ctx := cuecontext.New()
	src := dsl.SchemaSource(plugins.NewEmptyEnvironment()) + "\n" + stripPackage(schema.TestSource)
	v := ctx.CompileString(src, cue.Filename("schema.cue"))
	if err := v.Err(); err != nil {
		return v, fmt.Errorf("compiling the test schema: %s", cueerrors.Details(err, nil))
	}
	return v, nil
}

func stripPackage(src string) string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "package ") {
			lines[i] = ""
			break
		}
	}
	return strings.Join(lines, "\n")
}

// fileLoader holds the state of loading one test file.
type fileLoader struct {
	name   string
	data   []byte
	dir    *Dir
	known  map[string]bool
	diags  diag.List
	routes []*mock.Config
	// mocksFailed is set when a mocks_from declaration did not load (already reported).
	mocksFailed bool
	// root is the compiled test schema; its definitions check the values #TestFile leaves open.
	root cue.Value
	// at is the path of the step being decoded, for messages.
	at []string
}

func (l *fileLoader) errorf(pos token.Pos, code, format string, args ...any) {
	p := pos.Position()
	l.diags = append(l.diags, diag.Diagnostic{File: l.name, Line: p.Line, Col: p.Column, Code: code, Message: fmt.Sprintf(format, args...)})
}

func posString(p token.Pos) string {
	q := p.Position()
	if q.Filename == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", q.Filename, q.Line, q.Column)
}

// loadFile parses, validates and decodes one test file.
func loadFile(sch cue.Value, name string, dir *Dir, known map[string]bool) (*File, diag.List) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, diag.List{{File: name, Code: diag.CodeIO, Message: fmt.Sprintf("reading test file: %v", unwrapPath(err))}}
	}
	return parseFile(sch, name, data, dir, known)
}

func parseFile(sch cue.Value, name string, data []byte, dir *Dir, known map[string]bool) (*File, diag.List) {
	l := &fileLoader{name: name, data: data, dir: dir, known: known, root: sch}
	var af *ast.File
	var err error
	if strings.HasSuffix(name, ".cue") {
		af, err = parser.ParseFile(name, data)
	} else {
		af, err = yaml.Extract(name, data)
	}
	if err != nil {
		return nil, diag.List{dsl.SyntaxDiagnostic(name, data, err)}
	}
	sch = sch.LookupPath(cue.ParsePath("#TestFile"))
	user := sch.Context().BuildFile(af)
	if err := user.Err(); err != nil {
		l.cueErrors(err, user, diag.CodeSchemaConflict)
		return nil, l.diags
	}
	// A missing required field is not an error of CUE's validation.
	tests, _ := user.LookupPath(cue.ParsePath("tests")).Fields()
	for tests.Next() {
		if _, ok := field(tests.Value(), "steps"); !ok {
			l.errorf(pos(tests.Value()), diag.CodeSchemaRequired, "tests.%s.steps is required: a test has at least one step", tests.Selector().Unquoted())
		}
	}
	full := sch.Unify(user)
	if err := full.Validate(cue.Concrete(true)); err != nil {
		l.cueErrors(err, user, diag.CodeSchemaType)
		return nil, l.diags
	}
	if len(l.diags) > 0 {
		return nil, l.diags
	}
	f := &File{Path: name}
	// Decoded from the user's value, which the schema (it has no defaults)
	// has just checked, so that every position is in the test file.
	l.mocksFrom(user)
	it, _ := user.LookupPath(cue.ParsePath("tests")).Fields()
	for it.Next() {
		if t := l.test(it.Selector().Unquoted(), it.Value()); t != nil {
			f.Tests = append(f.Tests, t)
		}
	}
	if len(l.diags) > 0 {
		return nil, l.diags
	}
	return f, nil
}

// cueErrors turns CUE errors into diagnostics at their position in the test file.
func (l *fileLoader) cueErrors(err error, user cue.Value, fallback string) {
	l.cueErrorsAt(err, user, nil, fallback)
}

// cueErrorsAt is cueErrors for a value at path prefix of the file (errors' paths are relative to it).
func (l *fileLoader) cueErrorsAt(err error, user cue.Value, prefix []string, fallback string) {
	seen := map[string]bool{}
	errs := cueerrors.Errors(err)
	// A value that matches no alternative of a disjunction gives one
	// diagnostic, not one for each alternative.
	disjunctions := map[string]bool{}
	for _, e := range errs {
		format, args := e.Msg()
		if strings.Contains(fmt.Sprintf(format, args...), "empty disjunction") {
			disjunctions[strings.Join(trimDef(e.Path()), ".")] = true
		}
	}
	for _, e := range errs {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		p := trimDef(e.Path())
		if disjunctions[strings.Join(p, ".")] && !strings.Contains(msg, "empty disjunction") {
			continue
		}
		var pos token.Pos
		for _, q := range cueerrors.Positions(e) {
			if q.Filename() == l.name {
				pos = q
				break
			}
		}
		if !pos.IsValid() {
			pos = pathPos(user, p)
		}
		code := dsl.ClassifyCUEError(msg, fallback)
		full := append(slices.Clone(prefix), p...)
		path := strings.Join(full, ".")
		switch {
		case code == diag.CodeFieldNotAllowed && len(p) > 0:
			name := p[len(p)-1]
			if u, err := strconv.Unquote(name); err == nil {
				name = u
			}
			msg = fmt.Sprintf("field %q not allowed", name)
			if len(full) > 1 {
				msg += " in " + strings.Join(full[:len(full)-1], ".")
			}
		case strings.Contains(msg, "empty disjunction") || strings.Contains(msg, "incomplete value"):
			if v := pathValue(user, p); v.Exists() {
				code = diag.CodeSchemaType
				msg = fmt.Sprintf("%s: %s is not allowed here", path, describe(v))
				if want, ok := allowed[p[len(p)-1]]; ok && len(p) > 0 {
					msg += ": want " + want
				}
			} else {
				code = diag.CodeSchemaRequired
				msg = path + " is required"
			}
		case path != "" && !strings.Contains(msg, path):
			msg = path + ": " + msg
		}
		key := posString(pos) + code + msg
		if seen[key] || (code == diag.CodeSchemaType && seen[posString(pos)+path]) {
			continue
		}
		seen[key], seen[posString(pos)+path] = true, true
		l.errorf(pos, code, "%s", msg)
	}
}

// allowed describes the values of the schema's enumerated and alternative fields.
var allowed = map[string]string{
	"fail":   `"timeout", "connection", "invalid_answer" or an HTTP status (300-599)`,
	"type":   `string, int, float, bool, timestamp, list, map or null`,
	"open":   "true",
	"absent": "true",
}

func trimDef(p []string) []string {
	if len(p) > 0 && strings.HasPrefix(p[0], "#") {
		return p[1:]
	}
	return p
}

func describe(v cue.Value) string {
	b, err := v.MarshalJSON()
	if err != nil {
		return v.Kind().String()
	}
	return string(b)
}

func selectors(p []string) []cue.Selector {
	sels := make([]cue.Selector, 0, len(p))
	for _, s := range p {
		if strings.HasPrefix(s, "#") {
			continue
		}
		if i, err := strconv.Atoi(s); err == nil && strconv.Itoa(i) == s {
			sels = append(sels, cue.Index(i))
		} else {
			sels = append(sels, cue.Str(s))
		}
	}
	return sels
}

func pathValue(user cue.Value, p []string) cue.Value {
	return user.LookupPath(cue.MakePath(selectors(p)...))
}

// pathPos is the position of the deepest value along p that the user wrote.
func pathPos(user cue.Value, p []string) token.Pos {
	sels := selectors(p)
	for n := len(sels); n >= 0; n-- {
		if q := user.LookupPath(cue.MakePath(sels[:n]...)).Pos(); q.IsValid() {
			return q
		}
	}
	return token.NoPos
}

// pos is where v is declared: its field's label.
func pos(v cue.Value) token.Pos {
	if f, ok := v.Source().(*ast.Field); ok {
		return f.Pos()
	}
	return v.Pos()
}

func jsonOf(v cue.Value) any {
	b, err := v.MarshalJSON()
	if err != nil {
		return nil
	}
	out, _ := dsl.DecodeJSON(b)
	return out
}

func str(v cue.Value, field string) (string, bool) {
	f := v.LookupPath(cue.MakePath(cue.Str(field)))
	if !f.Exists() {
		return "", false
	}
	s, err := f.String()
	return s, err == nil
}

// fieldMap holds the fields of a struct value by name: one walk of the
// struct instead of a path lookup per field.
type fieldMap map[string]cue.Value

func fieldsOf(v cue.Value) fieldMap {
	it, err := v.Fields()
	if err != nil {
		return nil
	}
	m := fieldMap{}
	for it.Next() {
		m[it.Selector().Unquoted()] = it.Value()
	}
	return m
}

func (m fieldMap) get(name string) (cue.Value, bool) {
	v, ok := m[name]
	return v, ok
}

func (m fieldMap) str(name string) (string, bool) {
	v, ok := m[name]
	if !ok {
		return "", false
	}
	s, err := v.String()
	return s, err == nil
}

func field(v cue.Value, name string) (cue.Value, bool) {
	f := v.LookupPath(cue.MakePath(cue.Str(name)))
	return f, f.Exists()
}

func each(v cue.Value, fn func(i int, e cue.Value)) {
	it, err := v.List()
	if err != nil {
		return
	}
	for i := 0; it.Next(); i++ {
		fn(i, it.Value())
	}
}

// mocksFrom loads the mock declarations a file names.
func (l *fileLoader) mocksFrom(full cue.Value) {
	v, ok := field(full, "mocks_from")
	if !ok {
		return
	}
	var cfgs []*mock.Config
	each(v, func(_ int, e cue.Value) {
		rel, _ := e.String()
		p := filepath.FromSlash(rel)
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(l.name), p)
		}
		cfg, err := mock.LoadPath(p)
		if err != nil {
			l.diags = append(l.diags, asDiags(err)...)
			l.mocksFailed = true
			return
		}
		cfgs = append(cfgs, cfg)
	})
	l.routes = cfgs
}

func (l *fileLoader) test(name string, v cue.Value) *Test {
	fm := fieldsOf(v)
	l.at = []string{"tests", name}
	t := &Test{Name: name, File: l.name, Pos: posString(pos(v)), User: DefaultUser, Clock: DefaultClock,
		Mocks: map[string]*Mock{}, dir: l.dir}
	t.Description, _ = fm.str("description")
	if u, ok := fm.str("user"); ok {
		t.User = u
	}
	if c, ok := fm.get("clock"); ok {
		s, _ := c.String()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			l.errorf(c.Pos(), CodeValue, "clock: %q is not an RFC 3339 time: %v", s, err)
		}
		t.Clock = tm
	}
	if d, ok := fm.get("session_timeout"); ok {
		t.SessionTimeout = l.duration(d)
	}
	fixtureNames := map[string]bool{}
	if fx, ok := fm.get("fixtures"); ok {
		for _, ctxName := range []string{"user", "session"} {
			c, ok := field(fx, ctxName)
			if !ok {
				continue
			}
			it, _ := c.Fields()
			for it.Next() {
				n := it.Selector().Unquoted()
				fixtureNames[n] = true
				p := ctxName + "." + n
				if !l.known[n] {
					l.errorf(pos(it.Value()), CodeUnknownAttribute, "fixture %s: no scenario of %s declares or uses attribute %q%s", p, l.dir.Path, n, l.suggestAttr(n))
				}
				t.Fixtures = append(t.Fixtures, Fixture{Path: p, Value: jsonOf(it.Value()), Pos: posString(pos(it.Value()))})
			}
		}
	}
	if ms, ok := fm.get("mocks"); ok {
		it, _ := ms.Fields()
		for it.Next() {
			n := it.Selector().Unquoted()
			if !l.actionExists(n) {
				l.errorf(pos(it.Value()), diag.CodeUnknownAction, "mock for action %q: no scenario of %s declares it%s", n, l.dir.Path, l.suggestAction(n))
				continue
			}
			t.Mocks[n] = l.mock(n, it.Value())
		}
	}
	sv, _ := fm.get("steps")
	each(sv, func(i int, e cue.Value) {
		if s := l.step(i+1, e, fixtureNames); s != nil {
			t.Steps = append(t.Steps, s)
		}
	})
	return t
}

func (l *fileLoader) duration(v cue.Value) time.Duration {
	s, _ := v.String()
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errorf(v.Pos(), CodeValue, "%q is not a duration: %v", s, err)
	}
	return d
}

func (l *fileLoader) mock(action string, v cue.Value) *Mock {
	fm := fieldsOf(v)
	m := &Mock{Action: action, Pos: posString(pos(v))}
	calls, hasCalls := fm.get("calls")
	if hasCalls {
		for _, f := range []string{"outputs", "successful", "errors", "fail", "route"} {
			if fv, ok := fm.get(f); ok {
				l.errorf(pos(fv), CodeMock, "mock for action %q: %s is given with calls; give either one answer for every call or calls", action, f)
			}
		}
		m.PerCall = true
		each(calls, func(_ int, e cue.Value) { m.Answers = append(m.Answers, l.answer(action, e)) })
		return m
	}
	m.Answers = []*Answer{l.answer(action, v)}
	return m
}

func (l *fileLoader) answer(action string, v cue.Value) *Answer {
	fm := fieldsOf(v)
	a := &Answer{Pos: posString(v.Pos()), Successful: true}
	if ov, ok := fm.get("outputs"); ok {
		if m, ok := jsonOf(ov).(map[string]any); ok {
			a.Outputs = m
		}
	}
	if s, ok := fm.get("successful"); ok {
		a.Successful, _ = s.Bool()
	}
	if ev, ok := fm.get("errors"); ok {
		each(ev, func(_ int, e cue.Value) {
			s, _ := e.String()
			a.Errors = append(a.Errors, s)
		})
		if _, set := fm.get("successful"); !set {
			a.Successful = false
		}
	}
	if fv, ok := fm.get("fail"); ok {
		if n, err := fv.Int64(); err == nil {
			a.Fail, a.Status = FailStatus, int(n)
		} else {
			a.Fail, _ = fv.String()
		}
	}
	if rv, ok := fm.get("route"); ok {
		name, _ := rv.String()
		for _, f := range []string{"outputs", "successful", "errors", "fail"} {
			if fv, ok := fm.get(f); ok {
				l.errorf(pos(fv), CodeMock, "mock for action %q: %s is given with route; the route answers", action, f)
			}
		}
		if l.routes == nil && l.mocksFailed {
			return a
		}
		if l.routes == nil {
			l.errorf(pos(rv), CodeUnknownRoute, "mock for action %q: route %q, but the file declares no mocks_from", action, name)
			return a
		}
		var names []string
		for _, c := range l.routes {
			for _, r := range c.Routes {
				names = append(names, r.Name)
				if r.Name == name && a.Route == nil {
					a.Route, a.routes = r, c
				}
			}
		}
		if a.Route == nil {
			l.errorf(pos(rv), CodeUnknownRoute, "mock for action %q: no route named %q in mocks_from (routes: %s)", action, name, strings.Join(names, ", "))
		} else if a.Route.Protocol != mock.ProtocolOpenDialog {
			l.errorf(pos(rv), CodeUnknownRoute, "mock for action %q: route %q answers with the %s protocol; a test answers an action from opendialog routes only", action, name, a.Route.Protocol)
			a.Route = nil
		}
	}
	return a
}

var stepKinds = []string{StepOpen, StepSay, StepClick, StepClickText, StepTrigger}

func (l *fileLoader) step(index int, v cue.Value, fixtures map[string]bool) *Step {
	fm := fieldsOf(v)
	s := &Step{Index: index, Pos: posString(v.Pos())}
	l.at = append(l.at[:2], "steps", strconv.Itoa(index-1))
	if d, ok := fm.get("advance"); ok {
		s.Advance = l.duration(d)
	}
	var kinds []string
	for _, k := range stepKinds {
		if _, ok := fm.get(k); ok {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) > 1:
		l.errorf(v.Pos(), CodeStep, "step %d does %s at once; give one of %s per step", index, strings.Join(kinds, " and "), strings.Join(stepKinds, ", "))
		return nil
	case len(kinds) == 0 && s.Advance == 0:
		l.errorf(v.Pos(), CodeStep, "step %d says nothing the user does; give one of %s (or advance)", index, strings.Join(stepKinds, ", "))
		return nil
	case len(kinds) == 0:
		s.Kind = StepAdvance
	default:
		s.Kind = kinds[0]
	}
	kv, _ := fm.get(s.Kind)
	switch s.Kind {
	case StepSay, StepClickText:
		s.Text, _ = kv.String()
	case StepClick, StepTrigger:
		s.Callback, _ = kv.String()
		l.checkIntent(kv, s.Callback, s.Kind)
	}
	if val, ok := fm.get("value"); ok {
		if s.Kind != StepClick && s.Kind != StepClickText {
			l.errorf(pos(val), CodeStep, "step %d: value goes with click or click_text", index)
		}
		s.Value, _ = val.String()
		s.HasValue = true
	}
	if s.Kind == StepAdvance {
		for _, f := range []string{"reply", "intents", "actions", "no_match", "completed"} {
			if fv, ok := fm.get(f); ok {
				l.errorf(pos(fv), CodeStep, "step %d only advances time: no turn runs, so it can check context only, not %s", index, f)
			}
		}
	}
	if rv, ok := fm.get("reply"); ok {
		s.HasReply, s.ReplyPos = true, posString(pos(rv))
		each(rv, func(i int, e cue.Value) {
			switch e.IncompleteKind() {
			case cue.StringKind:
			case cue.StructKind:
				if !l.check(e, "#ExpectMessage", append(slices.Clone(l.at), "reply", strconv.Itoa(i))...) {
					return
				}
			default:
				l.errorf(e.Pos(), diag.CodeSchemaType, "step %d: reply[%d]: %s is not a message: want a string (the exact text) or {text, matches, intent, buttons}", index, i, describe(e))
				return
			}
			s.Reply = append(s.Reply, l.message(e))
		})
	}
	if iv, ok := fm.get("intents"); ok {
		s.HasIntent, s.IntentPos = true, posString(pos(iv))
		each(iv, func(_ int, e cue.Value) {
			id, _ := e.String()
			l.checkIntent(e, id, "intent")
			s.Intents = append(s.Intents, id)
		})
	}
	if cv, ok := fm.get("context"); ok {
		it, _ := cv.Fields()
		for it.Next() {
			s.Context = append(s.Context, l.contextCheck(it.Selector().Unquoted(), it.Value(), fixtures))
		}
	}
	if av, ok := fm.get("actions"); ok {
		s.HasAction, s.ActionPos = true, posString(pos(av))
		each(av, func(_ int, e cue.Value) {
			a := ExpectAction{Pos: posString(e.Pos())}
			a.Name, _ = str(e, "name")
			if !l.actionExists(a.Name) {
				nv, _ := field(e, "name")
				l.errorf(nv.Pos(), diag.CodeUnknownAction, "expected action %q: no scenario of %s declares it%s", a.Name, l.dir.Path, l.suggestAction(a.Name))
			}
			if in, ok := field(e, "inputs"); ok {
				a.Inputs, _ = jsonOf(in).(map[string]any)
				a.HasInputs = true
			}
			if sv, ok := field(e, "success"); ok {
				b, _ := sv.Bool()
				a.Success = &b
			}
			s.Actions = append(s.Actions, a)
		})
	}
	if nv, ok := fm.get("no_match"); ok {
		b, _ := nv.Bool()
		s.NoMatch, s.NoMatchAt = &b, posString(pos(nv))
	}
	if dv, ok := fm.get("completed"); ok {
		b, _ := dv.Bool()
		s.Completed, s.DoneAt = &b, posString(pos(dv))
	}
	return s
}

func (l *fileLoader) message(v cue.Value) ExpectMessage {
	fm := fieldsOf(v)
	m := ExpectMessage{Pos: posString(v.Pos())}
	if v.Kind() == cue.StringKind {
		s, _ := v.String()
		m.Text = &s
		return m
	}
	if s, ok := fm.str("text"); ok {
		m.Text = &s
	}
	if s, ok := fm.str("matches"); ok {
		mv, _ := fm.get("matches")
		m.Matches = l.regexp(mv, s)
	}
	if s, ok := fm.str("intent"); ok {
		iv, _ := fm.get("intent")
		l.checkIntent(iv, s, "message intent")
		m.Intent = s
	}
	if bv, ok := fm.get("buttons"); ok {
		m.HasButtons = true
		each(bv, func(_ int, e cue.Value) {
			b := ExpectButton{Pos: posString(e.Pos())}
			if s, ok := str(e, "text"); ok {
				b.Text = &s
			}
			if s, ok := str(e, "callback"); ok {
				b.Callback = &s
				cv, _ := field(e, "callback")
				l.checkIntent(cv, s, "button callback")
			}
			if s, ok := str(e, "value"); ok {
				b.Value = &s
			}
			m.Buttons = append(m.Buttons, b)
		})
	}
	return m
}

// check validates v against a definition of the test schema, reporting
// problems at the path of v (given for messages); it reports whether v is valid.
func (l *fileLoader) check(v cue.Value, def string, path ...string) bool {
	d := l.root.LookupPath(cue.MakePath(cue.Def(def)))
	if err := d.Unify(v).Validate(cue.Concrete(true)); err != nil {
		l.cueErrorsAt(err, v, path, diag.CodeSchemaType)
		return false
	}
	return true
}

func (l *fileLoader) regexp(v cue.Value, src string) *regexp.Regexp {
	re, err := regexp.Compile(src)
	if err != nil {
		l.errorf(v.Pos(), diag.CodePattern, "regular expression %q does not compile: %v", src, err)
		return nil
	}
	return re
}

func (l *fileLoader) contextCheck(path string, v cue.Value, fixtures map[string]bool) ExpectContext {
	fm := fieldsOf(v)
	c := ExpectContext{Pos: posString(pos(v)), Path: path}
	ctxName, rest, _ := strings.Cut(path, ".")
	name, _, _ := strings.Cut(rest, ".")
	switch {
	case ctxName == "conversation":
		if !slices.Contains(dsl.ConversationKeys, name) {
			l.errorf(pos(v), CodeUnknownAttribute, "context %s: the conversation context holds %s", path, strings.Join(dsl.ConversationKeys, ", "))
		}
	case !l.known[name] && !fixtures[name]:
		l.errorf(pos(v), CodeUnknownAttribute, "context %s: no scenario of %s declares or uses attribute %q%s", path, l.dir.Path, name, l.suggestAttr(name))
	}
	if v.IncompleteKind() != cue.StructKind {
		c.Check, c.Value = CheckEquals, jsonOf(v)
		return c
	}
	if !l.check(v, "#ValueCheck", append(slices.Clone(l.at), "context", path)...) {
		return c
	}
	var kinds []string
	for _, k := range []string{CheckEquals, CheckAbsent, CheckType, CheckMatches} {
		if _, ok := fm.get(k); ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		l.errorf(pos(v), CodeValue, "context %s: give exactly one of equals, absent, type and matches (to compare a map, use equals: {...})", path)
		return c
	}
	c.Check = kinds[0]
	kv, _ := fm.get(c.Check)
	switch c.Check {
	case CheckEquals:
		c.Value = jsonOf(kv)
	case CheckType:
		c.Value, _ = kv.String()
	case CheckMatches:
		s, _ := kv.String()
		c.Re = l.regexp(kv, s)
	}
	return c
}

func (l *fileLoader) checkIntent(v cue.Value, id, what string) {
	if id == "" || strings.HasPrefix(id, "intent.core.") {
		return
	}
	for _, sc := range l.dir.Config.Scenarios {
		if len(sc.Intents(id)) > 0 {
			return
		}
	}
	var ids []string
	for _, sc := range l.dir.Config.Scenarios {
		ids = append(ids, intentIDs(sc)...)
	}
	l.errorf(v.Pos(), diag.CodeUnknownIntent, "%s %q: no scenario of %s declares it%s", what, id, l.dir.Path, suggest(id, ids))
}

func (l *fileLoader) actionExists(name string) bool {
	for _, sc := range l.dir.Config.Scenarios {
		if sc.Actions[name] != nil {
			return true
		}
	}
	return false
}

func (l *fileLoader) suggestAction(name string) string {
	var names []string
	for _, sc := range l.dir.Config.Scenarios {
		for n := range sc.Actions {
			names = append(names, n)
		}
	}
	return suggest(name, names)
}

func (l *fileLoader) suggestAttr(name string) string {
	return suggest(name, slices.Collect(func(yield func(string) bool) {
		for k := range l.known {
			if !yield(k) {
				return
			}
		}
	}))
}

// suggest names the closest of candidates to s, when one is close.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	slices.Sort(candidates)
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func intentIDs(sc *dsl.Scenario) []string {
	var out []string
	walkIntents(sc, func(in *dsl.Intent) { out = append(out, in.ID) })
	return out
}

// walkIntents calls fn for every intent of sc, in declaration order.
func walkIntents(sc *dsl.Scenario, fn func(*dsl.Intent)) {
	for _, c := range sc.Conversations {
		for _, s := range c.Scenes {
			for _, t := range s.Turns {
				for _, in := range t.Request {
					fn(in)
				}
				for _, in := range t.Response {
					fn(in)
				}
			}
		}
	}
}

// attrRef finds the user and session attributes an expression reads or writes.
var attrRef = regexp.MustCompile(`\b(?:user|session)\s*\??\.\s*([A-Za-z_][A-Za-z0-9_]*)`)

// knownAttributes lists every attribute the scenarios declare, map, interpret or name in an expression.
func knownAttributes(cfg *dsl.Config) map[string]bool {
	known := map[string]bool{"action_status": true}
	addSrc := func(src string) {
		for _, m := range attrRef.FindAllStringSubmatch(src, -1) {
			known[m[1]] = true
		}
	}
	conds := func(cs []*dsl.Condition) {
		for _, c := range cs {
			addSrc(c.Source)
		}
	}
	for _, sc := range cfg.Scenarios {
		conds(sc.Conditions)
		for n := range sc.Attributes {
			known[n] = true
		}
		for _, a := range sc.Actions {
			for _, n := range a.Inputs {
				known[n] = true
			}
			for _, n := range a.Outputs {
				known[n] = true
			}
		}
		for _, c := range sc.Conversations {
			conds(c.Conditions)
			for _, s := range c.Scenes {
				conds(s.Conditions)
				for _, t := range s.Turns {
					conds(t.Conditions)
				}
			}
		}
		walkIntents(sc, func(in *dsl.Intent) {
			conds(in.Conditions)
			for _, p := range in.ExpectedAttributes {
				known[p.Name] = true
			}
			if in.Hints != nil {
				for _, re := range in.Hints.Patterns {
					for _, n := range re.SubexpNames() {
						if n != "" {
							known[n] = true
						}
					}
				}
			}
			for _, call := range in.Actions {
				for _, m := range call.Inputs {
					if m.Prog != nil {
						addSrc(m.Prog.Source)
					} else {
						known[m.From.Name] = true
					}
				}
				for _, m := range call.Outputs {
					known[m.Target.Name] = true
					if m.Prog != nil {
						addSrc(m.Prog.Source)
					}
				}
			}
			if in.Message != nil {
				if in.Message.Text != nil {
					addSrc(in.Message.Text.Source)
				}
				for _, b := range in.Message.Buttons {
					if b.Text != nil {
						addSrc(b.Text.Source)
					}
				}
			}
		})
	}
	return known
}
