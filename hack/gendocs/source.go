package main

import (
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// goPackage is the parsed, non-test source of one package: what gendocs
// reads besides the values the code exports (doc comments, settings
// structs). Parsing the source is the only way to get at doc comments.
type goPackage struct {
	dir    string
	doc    string // the package doc comment
	funcs  map[string]*ast.FuncDecl
	types  map[string]*ast.TypeSpec
	tdocs  map[string]string // doc comment of each type
	consts map[string]string // string constants by name
}

func parsePackage(dir string) (*goPackage, error) {
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	p := &goPackage{
		dir: dir, funcs: map[string]*ast.FuncDecl{}, types: map[string]*ast.TypeSpec{},
		tdocs: map[string]string{}, consts: map[string]string{},
	}
	sort.Strings(matches)
	for _, path := range matches {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if f.Doc != nil && p.doc == "" {
			p.doc = f.Doc.Text()
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					p.funcs[d.Name.Name] = d
				}
			case *ast.GenDecl:
				p.addGenDecl(d)
			}
		}
	}
	if len(p.funcs) == 0 && len(p.types) == 0 {
		return nil, fmt.Errorf("no Go source in %s: %w", dir, fs.ErrNotExist)
	}
	return p, nil
}

func (p *goPackage) addGenDecl(d *ast.GenDecl) {
	for _, spec := range d.Specs {
		switch s := spec.(type) {
		case *ast.TypeSpec:
			p.types[s.Name.Name] = s
			doc := s.Doc
			if doc == nil && len(d.Specs) == 1 {
				doc = d.Doc
			}
			if doc != nil {
				p.tdocs[s.Name.Name] = doc.Text()
			}
		case *ast.ValueSpec:
			if d.Tok != token.CONST {
				continue
			}
			for i, name := range s.Names {
				if i < len(s.Values) {
					if lit, ok := s.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if v, err := strconv.Unquote(lit.Value); err == nil {
							p.consts[name.Name] = v
						}
					}
				}
			}
		}
	}
}

// stringValue resolves a string literal or a constant of the package.
func (p *goPackage) stringValue(e ast.Expr) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind == token.STRING {
			s, err := strconv.Unquote(v.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := p.consts[v.Name]
		return s, ok
	}
	return "", false
}

// specDocs maps each check name to the doc comment of the function that
// builds its probes.Spec (a function returning probes.Spec whose composite
// literal sets Name).
func (p *goPackage) specDocs() map[string]string {
	docs := map[string]string{}
	for _, fn := range p.funcs {
		if fn.Type.Results == nil || len(fn.Type.Results.List) != 1 || exprString(fn.Type.Results.List[0].Type) != "probes.Spec" || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || exprString(lit.Type) != "probes.Spec" {
				return true
			}
			for _, elt := range lit.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if !ok || exprString(kv.Key) != "Name" {
					continue
				}
				if name, ok := p.stringValue(kv.Value); ok && fn.Doc != nil {
					docs[name] = fn.Doc.Text()
				}
			}
			return false
		})
	}
	return docs
}

// settingsField is one field of a settings struct.
type settingsField struct {
	JSON, Type, Doc string
}

// settingsStruct finds the struct whose doc comment names the config
// section (e.g. "checks.log-filesystem.settings") and returns its fields.
func (p *goPackage) settingsStruct(section string) (string, []settingsField) {
	var names []string
	for name, doc := range p.tdocs {
		if strings.Contains(strings.Join(strings.Fields(doc), " "), section) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if st, ok := p.types[name].Type.(*ast.StructType); ok {
			return name, p.fields(st)
		}
	}
	return "", nil
}

// structFields returns the JSON fields of a named struct type.
func (p *goPackage) structFields(name string) []settingsField {
	ts, ok := p.types[name]
	if !ok {
		return nil
	}
	st, ok := ts.Type.(*ast.StructType)
	if !ok {
		return nil
	}
	return p.fields(st)
}

func (p *goPackage) fields(st *ast.StructType) []settingsField {
	var out []settingsField
	for _, f := range st.Fields.List {
		if f.Tag == nil || len(f.Names) == 0 {
			continue
		}
		tag, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			continue
		}
		jsonName, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		if jsonName == "" || jsonName == "-" {
			continue
		}
		doc := ""
		if f.Doc != nil {
			doc = f.Doc.Text()
		} else if f.Comment != nil {
			doc = f.Comment.Text()
		}
		out = append(out, settingsField{JSON: jsonName, Type: friendlyType(exprString(f.Type)), Doc: oneLine(doc)})
	}
	return out
}

// friendlyType names a Go type the way a YAML author thinks of it.
func friendlyType(goType string) string {
	switch {
	case strings.HasSuffix(goType, "Duration") || goType == "logDuration":
		return "duration"
	case strings.HasPrefix(goType, "[]"):
		return "list of " + friendlyType(strings.TrimPrefix(goType, "[]"))
	case strings.HasPrefix(goType, "map["):
		return "mapping"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "integer"
	case strings.HasPrefix(goType, "float"):
		return "number"
	case goType == "bool":
		return "boolean"
	case goType == "string" || strings.HasSuffix(goType, "Source") || strings.HasSuffix(goType, "Severity") || goType == "Kind":
		return "string"
	}
	return "object (" + goType + ")"
}

func exprString(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name
	case *ast.SelectorExpr:
		return exprString(v.X) + "." + v.Sel.Name
	case *ast.StarExpr:
		return exprString(v.X)
	case *ast.ArrayType:
		return "[]" + exprString(v.Elt)
	case *ast.MapType:
		return "map[" + exprString(v.Key) + "]" + exprString(v.Value)
	}
	return fmt.Sprintf("%T", e)
}

// packFuncs maps each rule pack name to its function's doc comment, from
// DefaultRules' table of {pack constant, function} pairs.
func (p *goPackage) packDocs() map[string]string {
	docs := map[string]string{}
	fn, ok := p.funcs["DefaultRules"]
	if !ok || fn.Body == nil {
		return docs
	}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || len(lit.Elts) != 2 {
			return true
		}
		pack, ok := p.stringValue(lit.Elts[0])
		ident, isIdent := lit.Elts[1].(*ast.Ident)
		if !ok || !isIdent {
			return true
		}
		if f, ok := p.funcs[ident.Name]; ok && f.Doc != nil {
			docs[pack] = f.Doc.Text()
		}
		return false
	})
	return docs
}

// markdown renders a Go doc comment as Markdown with headings at level.
func markdown(doc string, level int) string {
	var parser comment.Parser
	printer := comment.Printer{HeadingLevel: level, HeadingID: func(*comment.Heading) string { return "" }}
	return strings.TrimSpace(string(printer.Markdown(parser.Parse(doc))))
}

// oneLine joins a text into one line for a table cell.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cell escapes a table cell.
func cell(s string) string {
	s = oneLine(s)
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}
