package cachegen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"slices"
	"strings"

	"entgo.io/ent/entc/gen"
)

// imports returns the import declaration of a generated file whose
// declarations are body: every package body names, and no other. ent runs
// goimports on the files it writes, in parallel; a package left for it to
// find is not always found (a sibling package being written at that moment),
// so the file must name them all itself.
func imports(g *gen.Graph, body string) (string, error) {
	known := knownPackages(g)
	// Parameters are named clear of these packages (paramName), so every
	// selector on a package's name is a use of the package.
	file, err := parser.ParseFile(token.NewFileSet(), "cachemodel.go", "package ent\n"+body, parser.SkipObjectResolution)
	if err != nil {
		return "", fmt.Errorf("cachemodel: parsing the generated code: %w", err)
	}
	used := map[string]bool{}
	ast.Inspect(file, func(x ast.Node) bool {
		if sel, ok := x.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				if _, ok := known[id.Name]; ok {
					used[id.Name] = true
				}
			}
		}
		return true
	})
	var std, other []string
	for name := range used {
		p := known[name]
		spec := fmt.Sprintf("%q", p)
		if path.Base(p) != name {
			spec = name + " " + spec
		}
		if strings.Contains(strings.Split(p, "/")[0], ".") {
			other = append(other, spec)
		} else {
			std = append(std, spec)
		}
	}
	slices.Sort(std)
	slices.Sort(other)
	var b strings.Builder
	b.WriteString("import (\n")
	for _, s := range std {
		b.WriteString("\t" + s + "\n")
	}
	if len(std) > 0 && len(other) > 0 {
		b.WriteString("\n")
	}
	for _, s := range other {
		b.WriteString("\t" + s + "\n")
	}
	b.WriteString(")\n")
	return b.String(), nil
}

// knownPackages maps the names the generated code may qualify to their
// import paths: the standard and ent packages the template uses, the
// graph's packages, and the packages of the field types.
func knownPackages(g *gen.Graph) map[string]string {
	known := map[string]string{
		"cmp":           "cmp",
		"context":       "context",
		"driver":        "database/sql/driver",
		"errors":        "errors",
		"fmt":           "fmt",
		"reflect":       "reflect",
		"slices":        "slices",
		"strconv":       "strconv",
		"strings":       "strings",
		"time":          "time",
		"dialect":       "entgo.io/ent/dialect",
		"sql":           "entgo.io/ent/dialect/sql",
		"sqlgraph":      "entgo.io/ent/dialect/sql/sqlgraph",
		"privacy":       "entgo.io/ent/privacy",
		"entcachemodel": runtimePkg,
		"predicate":     g.Config.Package + "/predicate",
	}
	for _, n := range g.Nodes {
		known[n.Package()] = g.Config.Package + "/" + n.PackageDir()
	}
	for _, n := range g.Nodes {
		fields := n.Fields
		if n.ID != nil {
			fields = append([]*gen.Field{n.ID}, fields...)
		}
		for _, fk := range n.UnexportedForeignKeys() {
			fields = append(fields, fk.Field)
		}
		for _, f := range fields {
			if f.Type == nil || f.Type.PkgPath == "" {
				continue
			}
			name := f.Type.PkgName
			if name == "" {
				name = path.Base(f.Type.PkgPath)
			}
			if _, ok := known[name]; !ok {
				known[name] = f.Type.PkgPath
			}
		}
	}
	return known
}
