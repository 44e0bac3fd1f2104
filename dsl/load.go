package dsl

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/yaml"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/schema"
)

// Options configure Load.
type Options struct {
	// Env provides the action kinds and interpreters; nil means plugins.Global().
	Env *plugins.Environment
	// Display is prefixed to file names in diagnostics (LoadDir sets it to the directory).
	Display string
}

func (o Options) env() *plugins.Environment {
	if o.Env == nil {
		return plugins.Global()
	}
	return o.Env
}

// LoadDir loads the scenario directory dir. File names in diagnostics start with dir.
func LoadDir(dir string, opts Options) (*Config, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, diag.List{{File: dir, Code: diag.CodeIO, Message: fmt.Sprintf("reading scenario directory: %v", unwrapPathError(err))}}
	}
	if !st.IsDir() {
		return nil, diag.List{{File: dir, Code: diag.CodeIO, Message: "not a directory"}}
	}
	if opts.Display == "" {
		opts.Display = filepath.ToSlash(filepath.Clean(dir))
	}
	return Load(os.DirFS(dir), opts)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// Load loads every scenario file of fsys as one configuration. On failure the
// error is a diag.List holding every problem found.
//
// Files are parsed in parallel. When every file only declares scenarios (no
// global values, imports or references across scenarios), files that touch
// the same scenarios are grouped and the groups are evaluated, decoded and
// compiled in parallel batches, each in its own fresh CUE context; otherwise
// the whole directory is one batch. Both ways give the same result.
func Load(fsys fs.FS, opts Options) (*Config, error) {
	files, err := readFiles(fsys, opts.Display)
	if err != nil {
		return nil, diag.List{{File: opts.Display, Code: diag.CodeIO, Message: fmt.Sprintf("reading scenario files: %v", err)}}
	}
	return loadFiles(files, opts)
}

// loadFiles is Load after reading the files.
func loadFiles(files []sourceFile, opts Options) (*Config, error) {
	sources := make(map[string][]byte, len(files))
	for _, f := range files {
		sources[f.name] = f.data
	}
	env := opts.env()
	parsed, diags := parseAll(files)
	if len(diags) > 0 {
		diags.Sort()
		return nil, diags
	}
	batches := partition(parsed, runtime.GOMAXPROCS(0))
	loaders := make([]*loader, len(batches))
	cfgs := make([]*Config, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		loaders[i] = &loader{env: env, files: b, sources: sources}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfgs[i] = loaders[i].load()
		}()
	}
	wg.Wait()
	cfg := &Config{Version: hashFiles(files), Global: map[string]any{}, scenarioByName: map[string]*Scenario{}}
	for _, f := range files {
		cfg.Files = append(cfg.Files, f.rel)
	}
	for i, c := range cfgs {
		diags = append(diags, loaders[i].diags...)
		if c == nil {
			continue
		}
		if len(batches) == 1 {
			cfg.Global = c.Global
		}
		for _, s := range c.Scenarios {
			cfg.Scenarios = append(cfg.Scenarios, s)
			cfg.scenarioByName[s.Name] = s
		}
	}
	sort.Slice(cfg.Scenarios, func(i, j int) bool { return cfg.Scenarios[i].Name < cfg.Scenarios[j].Name })
	if len(diags) > 0 {
		diags.Sort()
		cfg.Close()
		return nil, diags
	}
	return cfg, nil
}

// parsedFile is a scenario file and its syntax tree.
type parsedFile struct {
	sourceFile
	ast *ast.File
}

// parseAll parses every file, in parallel.
func parseAll(files []sourceFile) ([]parsedFile, diag.List) {
	out := make([]parsedFile, len(files))
	errs := make([]diag.List, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(files))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				af, err := parseFile(files[i])
				if err != nil {
					errs[i] = syntaxErrors(files[i], err)
				}
				out[i] = parsedFile{sourceFile: files[i], ast: af}
			}
		}()
	}
	wg.Wait()
	var all diag.List
	for _, e := range errs {
		all = append(all, e...)
	}
	return out, all
}

// partition splits the files into at most n batches that can be evaluated
// independently: files sharing a scenario name stay together. If any file
// declares more than plain scenarios, everything is one batch.
func partition(files []parsedFile, n int) [][]parsedFile {
	if n < 2 || len(files) < 2 {
		return [][]parsedFile{files}
	}
	groups, ok := groupFiles(files, func(f parsedFile) ([]string, bool) { return scenarioNames(f.ast) })
	if !ok || len(groups) < 2 {
		return [][]parsedFile{files}
	}
	n = min(n, len(groups))
	// Largest groups first, each to the lightest batch.
	size := func(g []parsedFile) int {
		s := 0
		for _, f := range g {
			s += len(f.data)
		}
		return s
	}
	sort.SliceStable(groups, func(a, b int) bool { return size(groups[a]) > size(groups[b]) })
	batches := make([][]parsedFile, n)
	weights := make([]int, n)
	for _, g := range groups {
		k := 0
		for j := range weights {
			if weights[j] < weights[k] {
				k = j
			}
		}
		batches[k] = append(batches[k], g...)
		weights[k] += size(g)
	}
	for _, b := range batches {
		sort.Slice(b, func(i, j int) bool { return b[i].rel < b[j].rel })
	}
	return batches
}

// scenarioNames returns the scenario names a file declares, or false if the
// file declares anything but plain scenarios (other top-level fields,
// imports, aliases, comprehensions, pattern constraints) or refers to the
// top-level scenarios field, which could tie it to files in other batches.
func scenarioNames(f *ast.File) ([]string, bool) {
	var names []string
	for _, d := range f.Decls {
		switch x := d.(type) {
		case *ast.Package, *ast.CommentGroup, *ast.Attribute:
			continue
		case *ast.Field:
			if plainLabel(x.Label) != "scenarios" || x.Constraint != token.ILLEGAL {
				return nil, false
			}
			st, ok := x.Value.(*ast.StructLit)
			if !ok {
				return nil, false
			}
			for _, e := range st.Elts {
				switch y := e.(type) {
				case *ast.CommentGroup, *ast.Attribute:
					continue
				case *ast.Field:
					name := plainLabel(y.Label)
					if name == "" || y.Constraint != token.ILLEGAL {
						return nil, false
					}
					names = append(names, name)
				default:
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	ok := true
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		if !ok {
			return false
		}
		switch x := n.(type) {
		case *ast.Package:
			return false // its name is not a reference
		case *ast.Alias, *ast.LetClause, *ast.ImportDecl:
			ok = false
		case *ast.Field:
			if _, isAlias := x.Label.(*ast.Alias); isAlias {
				ok = false
				return false
			}
			if x.Value != nil {
				ast.Walk(x.Value, visit, nil) // a label is not a reference
			}
			return false
		case *ast.Ident:
			if x.Name == "scenarios" || strings.HasPrefix(x.Name, "#") {
				ok = false
			}
		}
		return ok
	}
	ast.Walk(f, visit, nil)
	return names, ok
}

// plainLabel returns the name of an identifier or string label, or "".
func plainLabel(l ast.Label) string {
	switch x := l.(type) {
	case *ast.Ident:
		if strings.HasPrefix(x.Name, "#") || strings.HasPrefix(x.Name, "_") {
			return ""
		}
		return x.Name
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return ""
		}
		s, err := literal.Unquote(x.Value)
		if err != nil {
			return ""
		}
		return s
	}
	return ""
}

// loader holds the state of one Load.
type loader struct {
	env       *plugins.Environment
	files     []parsedFile
	sources   map[string][]byte // by display name, to map positions inside strings
	diags     diag.List
	ctx       *cue.Context
	user      cue.Value // the files unified, without the schema (see userValue)
	userBuilt bool
	full      cue.Value // user unified with #Config: values and defaults come from here
	tree      *tree     // the user files as Go values, when they are plain data
	// schemaFields are the field names the schema declares, for suggestions.
	schemaFields []string
	// programs and templates memoise compilations by environment and source.
	programs  map[string]compiled
	templates map[string]compiledTemplate
}

func (l *loader) errorf(pos token.Pos, code, format string, args ...any) {
	p := pos.Position()
	l.diags = append(l.diags, diag.Diagnostic{File: p.Filename, Line: p.Line, Col: p.Column, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (l *loader) load() *Config {
	// A fresh context per load: CUE contexts keep memory.
	l.ctx = cuecontext.New()
	schemaFile, ok := l.parseSchema()
	if !ok {
		return nil
	}
	if t, ok := plainTree(l.files); ok {
		// Plain data has no references, so the user files and the schema
		// can be evaluated together in one file whose top level embeds
		// #Config & {files}: one evaluation instead of evaluating the user
		// files and then their unification with the schema.
		l.tree = t
		var decls []ast.Decl
		for _, f := range l.files {
			for _, d := range f.ast.Decls {
				if _, ok := d.(*ast.Package); !ok {
					decls = append(decls, d)
				}
			}
		}
		all := make([]ast.Decl, 0, len(schemaFile.Decls)+1)
		for _, d := range schemaFile.Decls {
			if _, ok := d.(*ast.Package); !ok {
				all = append(all, d)
			}
		}
		all = append(all, &ast.EmbedDecl{Expr: &ast.BinaryExpr{Op: token.AND, X: ast.NewIdent("#Config"), Y: &ast.StructLit{Elts: decls}}})
		l.full = l.ctx.BuildFile(&ast.File{Filename: "parley", Decls: all})
	} else {
		// References in the files resolve against the files' own top level.
		schemaV := l.ctx.BuildFile(schemaFile)
		l.full = schemaV.LookupPath(cue.ParsePath("#Config")).Unify(l.userValue())
	}
	if err := l.full.Validate(cue.Concrete(true)); err != nil {
		l.cueErrors(err, diag.CodeSchemaType)
		l.strayFields()
	}
	return l.decode()
}

// userValue is the user files evaluated without the schema, for field order
// and positions where the files are not plain data. It is built on first use,
// as one CUE package instance, so that references resolve across files.
func (l *loader) userValue() cue.Value {
	if !l.userBuilt {
		l.userBuilt = true
		inst := build.NewContext().NewInstance("", nil)
		inst.User = true // files may name different packages, or none
		for _, f := range l.files {
			inst.AddSyntax(f.ast)
		}
		l.user = l.ctx.BuildInstance(inst)
	}
	return l.user
}

// parseSchema parses the whole schema for the loader's environment.
func (l *loader) parseSchema() (*ast.File, bool) {
	src := SchemaSource(l.env)
	f, err := parser.ParseFile("schema.cue", src)
	if err == nil {
		if v := l.ctx.BuildFile(f); v.Err() != nil {
			err = v.Err()
		}
	}
	if err != nil {
		l.diags = append(l.diags, diag.Diagnostic{File: "schema", Code: diag.CodePluginConfig,
			Message: fmt.Sprintf("compiling the schema with the registered action kinds: %s", cueerrors.Details(err, nil))})
		return nil, false
	}
	l.schemaFields = fieldNames(f)
	// The file was just compiled on its own; parse again so the combined
	// build gets syntax that no compilation has seen.
	f, _ = parser.ParseFile("schema.cue", src)
	return f, true
}

// SchemaSource returns the CUE source of the whole schema for env: the base
// schema and every action kind's definition, with #ActionKinds composed.
func SchemaSource(env *plugins.Environment) string {
	var b strings.Builder
	b.WriteString(schema.Source)
	b.WriteString("\n// #ActionKinds holds one optional field per registered action kind.\n#ActionKinds: {\n")
	kinds := env.ActionKinds()
	for _, k := range kinds {
		fmt.Fprintf(&b, "\t%s?: %s\n", k.Name, k.Definition)
	}
	b.WriteString("}\n")
	for _, k := range kinds {
		b.WriteString("\n")
		b.WriteString(stripPackage(k.Schema))
	}
	return b.String()
}

// CompileSchema compiles the whole schema for env in ctx.
func CompileSchema(ctx *cue.Context, env *plugins.Environment) (cue.Value, error) {
	v := ctx.CompileString(SchemaSource(env), cue.Filename("schema.cue"))
	if err := v.Err(); err != nil {
		return v, fmt.Errorf("compiling the schema with the registered action kinds: %s", cueerrors.Details(err, nil))
	}
	return v, nil
}

func stripPackage(src string) string {
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "package ") {
			lines[i] = ""
			break
		}
	}
	return strings.Join(lines, "\n")
}

// parseFile parses one file as CUE or YAML.
func parseFile(f sourceFile) (*ast.File, error) {
	if strings.HasSuffix(f.rel, ".cue") {
		return parser.ParseFile(f.name, f.data)
	}
	return yaml.Extract(f.name, f.data)
}

// syntaxErrors reports a file's parse error.
func syntaxErrors(f sourceFile, err error) diag.List {
	return diag.List{SyntaxDiagnostic(f.name, f.data, err)}
}

// SyntaxDiagnostic turns the error of parsing file name (CUE, or YAML with
// cuelang.org/go/encoding/yaml) into one diagnostic. Only the first error is
// kept: the CUE parser's later errors are usually consequences of the first.
// YAML errors carry no position but their message starts with "file:line: ".
func SyntaxDiagnostic(name string, data []byte, err error) diag.Diagnostic {
	d := syntaxDiagnostic(name, data, err)
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		d = improveYAMLSyntax(d, data)
	}
	return d
}

func syntaxDiagnostic(name string, data []byte, err error) diag.Diagnostic {
	d := diag.Diagnostic{File: name, Line: 1, Col: 1, Code: diag.CodeSyntax}
	errs := cueerrors.Errors(err)
	if len(errs) == 0 {
		d.Message = err.Error()
		return d
	}
	e := errs[0]
	if p := e.Position().Position(); p.Line > 0 {
		format, args := e.Msg()
		d.Line, d.Col, d.Message = p.Line, p.Column, fmt.Sprintf(format, args...)
		return d
	}
	msg := e.Error()
	if rest, ok := strings.CutPrefix(msg, name+":"); ok {
		num, tail, _ := strings.Cut(rest, ":")
		if line, err := strconv.Atoi(num); err == nil {
			d.Line = line
			d.Col = firstColumn(data, line)
			msg = strings.TrimSpace(tail)
		}
	} else {
		msg = strings.TrimSpace(strings.TrimPrefix(msg, name))
		msg = strings.TrimPrefix(msg, ": ")
	}
	d.Message = msg
	return d
}

// firstColumn is the column of the first non-blank character of a line (1-based), or 1.
func firstColumn(data []byte, line int) int {
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return 1
		}
		data = data[i+1:]
	}
	for i, c := range data {
		if c != ' ' && c != '\t' {
			return i + 1
		}
		if c == '\n' {
			break
		}
	}
	return 1
}

// cueErrors turns CUE errors into diagnostics, each at a position in a
// scenario file where one is known. The errors of one failed disjunction
// (a value that matches none of the allowed alternatives) become one
// diagnostic.
func (l *loader) cueErrors(err error, fallback string) {
	type group struct {
		path []string
		errs []cueerrors.Error
	}
	var groups []*group
	byPath := map[string]*group{}
	for _, e := range cueerrors.Errors(err) {
		path := e.Path()
		if len(path) > 0 && path[0] == "#Config" {
			path = path[1:]
		}
		key := strings.Join(path, ".")
		g := byPath[key]
		if g == nil {
			g = &group{path: path}
			byPath[key] = g
			groups = append(groups, g)
		}
		g.errs = append(g.errs, e)
	}
	for _, g := range groups {
		if l.disjunction(g.path, g.errs) {
			continue
		}
		for _, e := range g.errs {
			l.cueError(g.path, e, fallback)
		}
	}
}

func errMsg(e cueerrors.Error) string {
	format, args := e.Msg()
	return strings.ReplaceAll(fmt.Sprintf(format, args...), "#Config.", "")
}

func (l *loader) cueError(path []string, e cueerrors.Error, fallback string) {
	msg := errMsg(e)
	if strings.HasSuffix(msg, "(mismatched types null and struct)") && strings.Contains(msg, "conflicting values null and {") {
		// An empty field ("message:" with nothing under it, in YAML) against
		// a struct of the schema: the struct's text says nothing useful.
		msg = "the field is empty (null) where the schema wants an object: is what belongs under it missing, or indented too little?"
	}
	if format, args := e.Msg(); strings.HasPrefix(format, "invalid value %v (out of bound %s)") && len(args) >= 2 {
		if b := fmt.Sprint(args[1]); strings.HasPrefix(b, "=~") && strings.Contains(b, durationPattern) {
			msg = fmt.Sprintf("invalid value %v: want %s", args[0], describeBound(b))
		}
	}
	code := ClassifyCUEError(msg, fallback)
	positions := cueerrors.Positions(e)
	if code == diag.CodeSchemaConflict && l.userPositions(positions) < 2 {
		code = diag.CodeSchemaType // a value against the schema, not two files against each other
	}
	joined := strings.Join(path, ".")
	switch {
	case code == diag.CodeFieldNotAllowed && len(path) > 0:
		field := path[len(path)-1]
		msg = fmt.Sprintf("field %q not allowed", field)
		if len(path) > 1 {
			msg += " in " + strings.Join(path[:len(path)-1], ".")
		}
		if s := l.suggest(field); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
	case code == diag.CodeSchemaRequired && len(path) > 0 && l.tree != nil && l.treeAt(path) == nil:
		msg = fmt.Sprintf("%s: missing required field %q", strings.Join(path[:len(path)-1], "."), path[len(path)-1])
	case code == diag.CodeSchemaConflict:
		msg = joined + ": " + strings.TrimPrefix(msg, joined+": ")
		var others []string
		first := l.userPos(positions)
		for _, p := range positions {
			if _, ok := l.sources[p.Filename()]; ok && p != first {
				others = append(others, p.Position().String())
			}
		}
		if len(others) > 0 {
			msg += " (also set at " + strings.Join(others, ", ") + ")"
		}
	case len(path) > 0 && !strings.Contains(msg, joined):
		msg = joined + ": " + msg
	}
	pos := l.userPos(positions)
	if !pos.IsValid() && len(path) > 0 {
		pos = l.pathPos(path)
	}
	l.errorf(pos, code, "%s", msg)
}

// userPositions counts the distinct positions in scenario files.
func (l *loader) userPositions(ps []token.Pos) int {
	seen := map[token.Pos]bool{}
	for _, p := range ps {
		if _, ok := l.sources[p.Filename()]; ok {
			seen[p] = true
		}
	}
	return len(seen)
}

// disjunction reports the errors of one value that matches none of a
// disjunction's alternatives as a single diagnostic, and reports whether it did.
func (l *loader) disjunction(path []string, errs []cueerrors.Error) bool {
	if len(errs) < 2 || !strings.Contains(errMsg(errs[0]), "empty disjunction") {
		return false
	}
	var value string
	var alts []string
	var pos token.Pos
	seen := map[string]bool{}
	var defaults []string // string defaults, dropped next to what they are an instance of
	for _, e := range errs[1:] {
		format, args := e.Msg()
		if strings.HasPrefix(format, "invalid value %v (out of bound %s)") && len(args) >= 2 {
			// An alternative that is a constraint (a pattern, a bound): say
			// what it allows, so a default is not taken for the only value.
			alt := describeBound(fmt.Sprint(args[1]))
			if value == "" {
				value, pos = fmt.Sprint(args[0]), l.userPos(cueerrors.Positions(e))
			}
			if !seen[alt] {
				seen[alt] = true
				alts = append(alts, alt)
			}
			seen["constraint"] = true
			continue
		}
		if !strings.HasPrefix(format, "conflicting values %s and %s") || len(args) < 2 {
			continue
		}
		a, b := fmt.Sprint(args[0]), fmt.Sprint(args[1])
		p := l.userPos(cueerrors.Positions(e))
		// The user's value is the side whose position is in a scenario file.
		v, alt := b, a
		for _, ep := range cueerrors.Positions(e) {
			if _, ok := l.sources[ep.Filename()]; !ok {
				continue
			}
			if t := l.treeAt(path); t != nil && t.literal() == a {
				v, alt = a, b
			}
		}
		if value == "" {
			value, pos = v, p
		}
		if !seen[alt] {
			seen[alt] = true
			alts = append(alts, alt)
		}
	}
	if value == "" || len(alts) == 0 {
		return false
	}
	// A default (true) next to its type (bool) says nothing more.
	if seen["bool"] {
		alts = slices.DeleteFunc(alts, func(s string) bool { return s == "true" || s == "false" })
	}
	if seen["string"] || seen["constraint"] {
		alts = slices.DeleteFunc(alts, func(s string) bool {
			if strings.HasPrefix(s, `"`) {
				defaults = append(defaults, s)
				return true
			}
			return false
		})
	}
	if !pos.IsValid() {
		pos = l.userPos(cueerrors.Positions(errs[0]))
	}
	want := strings.Join(alts, ", ")
	if len(alts) > 1 {
		want = "one of " + want
	}
	if seen["constraint"] && len(defaults) == 1 {
		want += " (the default is " + defaults[0] + ")"
	}
	l.errorf(pos, diag.CodeSchemaType, "%s: %s is not allowed here; want %s", strings.Join(path, "."), value, want)
	return true
}

// durationPattern is the pattern of Go durations in the schemas (#WebhookDuration, #Duration).
const durationPattern = `(ns|us|µs|ms|s|m|h))+$`

// describeBound says in words what a CUE constraint of the schema allows.
func describeBound(bound string) string {
	switch {
	case strings.HasPrefix(bound, "=~") && strings.Contains(bound, durationPattern):
		return `a duration such as "2s", "500ms" or "1m30s"`
	case strings.HasPrefix(bound, "=~"):
		return "a string matching " + strings.TrimPrefix(bound, "=~")
	}
	return "a value " + bound
}

// treeAt returns the tree of the user files at path, or nil.
func (l *loader) treeAt(path []string) *tree {
	t := l.tree
	for _, p := range path {
		if t == nil {
			return nil
		}
		if i, err := strconv.Atoi(p); err == nil && t.kind == cue.ListKind {
			if i < 0 || i >= len(t.list) {
				return nil
			}
			t = t.list[i]
			continue
		}
		t = t.lookup(p)
	}
	return t
}

// suggest returns the schema field name closest to a misspelled one, or "".
func (l *loader) suggest(field string) string { return Suggest(field, l.schemaFields) }

// EditDistance is the Levenshtein distance between a and b, the measure
// behind Suggest and the other "did you mean" hints.
func EditDistance(a, b string) int {
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

// fieldNames lists the regular field names declared in a schema file.
func fieldNames(f *ast.File) []string {
	seen := map[string]bool{}
	var out []string
	ast.Walk(f, func(n ast.Node) bool {
		if fd, ok := n.(*ast.Field); ok {
			if name := plainLabel(fd.Label); name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
		return true
	}, nil)
	sort.Strings(out)
	return out
}

// userPos picks the first position in a scenario file (not the schema).
func (l *loader) userPos(ps []token.Pos) token.Pos {
	for _, p := range ps {
		if _, ok := l.sources[p.Filename()]; ok {
			return p
		}
	}
	return token.NoPos
}

// pathPos finds the position of the deepest existing value along path in the user files.
func (l *loader) pathPos(path []string) token.Pos {
	for n := len(path); n > 0; n-- {
		sels := make([]cue.Selector, 0, n)
		for _, s := range path[:n] {
			if strings.HasPrefix(s, "#") {
				continue
			}
			sels = append(sels, selector(s))
		}
		if p := l.userValue().LookupPath(cue.MakePath(sels...)).Pos(); p.IsValid() {
			return p
		}
	}
	return token.NoPos
}

func selector(s string) cue.Selector {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		return cue.Index(n)
	}
	return cue.Str(s)
}

// ClassifyCUEError gives the diagnostic code of a CUE error message, or fallback.
func ClassifyCUEError(msg, fallback string) string {
	switch {
	case strings.Contains(msg, "not allowed"):
		return diag.CodeFieldNotAllowed
	case strings.Contains(msg, "incomplete value"), strings.Contains(msg, "non-concrete"),
		strings.Contains(msg, "required"), strings.Contains(msg, "cannot convert incomplete"):
		return diag.CodeSchemaRequired
	case strings.Contains(msg, "mismatched types"), strings.Contains(msg, "out of bound"),
		strings.Contains(msg, "invalid value"), strings.Contains(msg, "empty disjunction"),
		strings.Contains(msg, "does not match"):
		return diag.CodeSchemaType
	case strings.Contains(msg, "conflicting values"):
		return diag.CodeSchemaConflict
	case strings.Contains(msg, "expected"), strings.Contains(msg, "illegal"), strings.Contains(msg, "missing"):
		if fallback == diag.CodeSyntax {
			return diag.CodeSyntax
		}
	}
	return fallback
}
