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
	StepForm      = "form"
	StepLongText  = "long_text"
)

// Step is what the user does and what must hold after it.
type Step struct {
	// Index counts from 1.
	Index    int
	Pos      string
	Advance  time.Duration
	Kind     string
	Text     string // say, click_text, long_text
	Callback string // click, trigger, form (an override)
	Value    string
	HasValue bool
	FormData map[string]any
	Cancel   bool // form: the cancel callback

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
	case StepForm:
		if s.Cancel {
			return "form cancel"
		}
		return "form " + jsonString(s.FormData)
	case StepLongText:
		return "long_text " + strconv.Quote(s.Text)
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
	out, err := dsl.FindFiles(p, func(d fs.DirEntry) bool { return IsTestFile(d.Name()) })
	if err != nil {
		return nil, fmt.Errorf("reading tests: %w", unwrapPath(err))
	}
	for i, q := range out {
		out[i] = filepath.ToSlash(filepath.Clean(q))
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
			l.mocksFailed = true
			for _, d := range asDiags(err) {
				if d.Code == diag.CodeIO {
					// Where the test file names it, rather than at the path.
					l.errorf(e.Pos(), diag.CodeIO, "mocks_from %q (%s): %s", rel, filepath.ToSlash(p), d.Message)
				} else {
					l.diags = append(l.diags, d)
				}
			}
			return
		}
		cfgs = append(cfgs, cfg)
	})
	l.routes = cfgs
}
