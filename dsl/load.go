package dsl

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
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
func Load(fsys fs.FS, opts Options) (*Config, error) {
	files, err := readFiles(fsys, opts.Display)
	if err != nil {
		return nil, diag.List{{File: opts.Display, Code: diag.CodeIO, Message: fmt.Sprintf("reading scenario files: %v", err)}}
	}
	l := &loader{env: opts.env(), files: files, sources: map[string][]byte{}}
	cfg := l.load()
	if len(l.diags) > 0 {
		l.diags.Sort()
		if cfg != nil {
			cfg.Close()
		}
		return nil, l.diags
	}
	return cfg, nil
}

// loader holds the state of one Load.
type loader struct {
	env     *plugins.Environment
	files   []sourceFile
	sources map[string][]byte // by display name, to map positions inside strings
	diags   diag.List
	ctx     *cue.Context
	user    cue.Value // the files unified, without the schema: positions come from here
	full    cue.Value // user unified with #Config: values and defaults come from here
}

func (l *loader) errorf(pos token.Pos, code, format string, args ...any) {
	p := pos.Position()
	l.diags = append(l.diags, diag.Diagnostic{File: p.Filename, Line: p.Line, Col: p.Column, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (l *loader) load() *Config {
	// A fresh context per load: CUE contexts keep memory.
	l.ctx = cuecontext.New()
	schemaV, ok := l.compileSchema()
	if !ok {
		return nil
	}
	merged := &ast.File{Filename: "parley"}
	var imports []ast.Decl
	seenImport := map[string]bool{}
	var decls []ast.Decl
	for _, f := range l.files {
		l.sources[f.name] = f.data
		af, ok := l.parse(f)
		if !ok {
			continue
		}
		for _, d := range af.Decls {
			switch x := d.(type) {
			case *ast.Package:
				continue
			case *ast.ImportDecl:
				for _, spec := range x.Specs {
					key := spec.Path.Value
					if spec.Name != nil {
						key = spec.Name.Name + " " + key
					}
					if !seenImport[key] {
						seenImport[key] = true
						imports = append(imports, &ast.ImportDecl{Specs: []*ast.ImportSpec{spec}})
					}
				}
				continue
			}
			decls = append(decls, d)
		}
	}
	if len(l.diags) > 0 {
		return nil
	}
	merged.Decls = append(imports, decls...)
	l.user = l.ctx.BuildFile(merged)
	if err := l.user.Err(); err != nil {
		l.cueErrors(err, diag.CodeSchemaConflict)
		return nil
	}
	l.full = schemaV.LookupPath(cue.ParsePath("#Config")).Unify(l.user)
	if err := l.full.Validate(cue.Concrete(true)); err != nil {
		l.cueErrors(err, diag.CodeSchemaType)
	}
	return l.decode()
}

// compileSchema composes the base schema with the action kinds of the environment.
func (l *loader) compileSchema() (cue.Value, bool) {
	v, err := CompileSchema(l.ctx, l.env)
	if err != nil {
		l.diags = append(l.diags, diag.Diagnostic{File: "schema", Code: diag.CodePluginConfig, Message: err.Error()})
		return v, false
	}
	return v, true
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

// parse parses one file as CUE or YAML.
func (l *loader) parse(f sourceFile) (*ast.File, bool) {
	var af *ast.File
	var err error
	if strings.HasSuffix(f.rel, ".cue") {
		af, err = parser.ParseFile(f.name, f.data, parser.ParseComments)
	} else {
		af, err = yaml.Extract(f.name, f.data)
	}
	if err != nil {
		l.cueErrors(err, diag.CodeSyntax)
		return nil, false
	}
	return af, true
}

// cueErrors turns CUE errors into diagnostics, each at a position in a
// scenario file where one is known.
func (l *loader) cueErrors(err error, fallback string) {
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		code := classify(msg, fallback)
		path := e.Path()
		if len(path) > 0 && path[0] == "#Config" {
			path = path[1:]
		}
		msg = strings.ReplaceAll(msg, "#Config.", "")
		if code == diag.CodeFieldNotAllowed && len(path) > 0 {
			field := path[len(path)-1]
			msg = fmt.Sprintf("field %q not allowed", field)
			if len(path) > 1 {
				msg += " in " + strings.Join(path[:len(path)-1], ".")
			}
		} else if len(path) > 0 && !strings.Contains(msg, strings.Join(path, ".")) {
			msg = strings.Join(path, ".") + ": " + msg
		}
		pos := l.userPos(cueerrors.Positions(e))
		if !pos.IsValid() && len(path) > 0 {
			pos = l.pathPos(path)
		}
		l.errorf(pos, code, "%s", msg)
	}
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
		if p := l.user.LookupPath(cue.MakePath(sels...)).Pos(); p.IsValid() {
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

func classify(msg, fallback string) string {
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
