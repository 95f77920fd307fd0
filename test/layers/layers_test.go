// Package layers keeps the project's layering honest: which packages each
// layer may import, and that only adapters and the binary start
// processes, open files or talk to Postgres or SSH. docs/architecture.md
// draws the same map; this test is its executable form.
package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "buildledger"

// layer is what the packages under prefix may import besides the
// standard library and their own layer.
type layer struct {
	prefix  string
	imports []string
}

// utilities are libraries any layer above domain may use: they decide
// nothing and reach nothing outside the process.
var utilities = []string{"golang.org/x/sync/", "github.com/cenkalti/backoff/v5"}

// layers, most specific prefix first.
var layers = []layer{
	{"buildledger/events", []string{"github.com/go-json-experiment/json"}},
	// The SQL files, embedded.
	{"buildledger/schema", nil},
	{"buildledger/domain", []string{"buildledger/events", "golang.org/x/crypto/"}},
	{"buildledger/commands/reactors", []string{"buildledger/commands", "buildledger/domain", "buildledger/events"}},
	{"buildledger/commands", []string{"buildledger/domain", "buildledger/events"}},
	{"buildledger/projections", []string{"buildledger/events", "buildledger/domain"}},
	{"buildledger/web", []string{"buildledger/commands", "buildledger/domain", "buildledger/events",
		"buildledger/projections/insights", "github.com/go-chi/chi/v5"}},
}

// forbidden are imports only adapters/, cmd/ and test/ may have: they
// start processes and reach the database or other machines.
var forbidden = []string{"os/exec", "github.com/jackc/pgx/", "golang.org/x/crypto/ssh"}

// fileCalls are the os functions that touch the file system; only
// adapters/, cmd/ and test/ call them.
var fileCalls = map[string]bool{
	"Open": true, "Create": true, "OpenFile": true, "ReadFile": true, "WriteFile": true,
	"OpenRoot": true, "OpenInRoot": true, "ReadDir": true, "DirFS": true, "Stat": true, "Lstat": true,
	"Mkdir": true, "MkdirAll": true, "MkdirTemp": true, "CreateTemp": true, "Remove": true, "RemoveAll": true,
	"Rename": true, "Symlink": true, "Readlink": true, "Chmod": true, "Chown": true, "Truncate": true,
}

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Imports    []string
	Standard   bool
}

// testSupport reports whether p only helps tests (storetest, pgtest,
// browsertest, …): it may use testify, and start the real components
// tests need.
func (p pkg) testSupport() bool { return strings.HasSuffix(p.Name, "test") }

// free reports whether the rules leave p alone: the adapters, the binary
// and the tests are where the outside world is reached.
func (p pkg) free() bool {
	for _, d := range []string{"adapters", "cmd", "test"} {
		if p.ImportPath == module+"/"+d || strings.HasPrefix(p.ImportPath, module+"/"+d+"/") {
			return true
		}
	}
	return false
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

func layerOf(path string) (layer, bool) {
	for _, l := range layers {
		if hasPrefix(path, []string{l.prefix}) {
			return l, true
		}
	}
	return layer{}, false
}

// importViolations are the imports of pkgs their layers forbid.
func importViolations(pkgs []pkg, std map[string]bool) []string {
	var out []string
	for _, p := range pkgs {
		if p.free() || !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		l, ok := layerOf(p.ImportPath)
		if !ok {
			out = append(out, fmt.Sprintf("%s belongs to no layer", p.ImportPath))
			continue
		}
		allowed := append([]string{l.prefix}, l.imports...)
		if l.prefix != "buildledger/events" && l.prefix != "buildledger/domain" {
			allowed = append(allowed, utilities...)
		}
		if p.testSupport() {
			allowed = append(allowed, "github.com/stretchr/testify/", "github.com/chromedp/")
		}
		for _, imp := range p.Imports {
			if hasPrefix(imp, forbidden) && !p.testSupport() {
				out = append(out, fmt.Sprintf("%s imports %s, which only adapters and cmd may", p.ImportPath, imp))
				continue
			}
			if std[imp] || hasPrefix(imp, allowed) {
				continue
			}
			out = append(out, fmt.Sprintf("%s imports %s: layer %s may import only %s", p.ImportPath, imp, l.prefix, strings.Join(allowed, ", ")))
		}
	}
	sort.Strings(out)
	return out
}

// fileViolations are the calls of os's file functions in the non-test
// files of pkgs outside adapters, cmd and test.
func fileViolations(pkgs []pkg) ([]string, error) {
	var out []string
	for _, p := range pkgs {
		if p.free() || p.testSupport() || !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		for _, name := range p.GoFiles {
			file := filepath.Join(p.Dir, name)
			calls, err := osFileCalls(file)
			if err != nil {
				return nil, err
			}
			for _, c := range calls {
				out = append(out, fmt.Sprintf("%s: os.%s: only adapters and cmd touch files", c.pos, c.name))
			}
		}
	}
	return out, nil
}

type call struct{ pos, name string }

// osFileCalls are the uses of os's file functions in file, under whatever
// name it imports os.
func osFileCalls(file string) ([]call, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var osName string
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path == "os" {
			osName = "os"
			if imp.Name != nil {
				osName = imp.Name.Name
			}
		}
	}
	if osName == "" {
		return nil, nil
	}
	var out []call
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == osName && fileCalls[sel.Sel.Name] {
			out = append(out, call{fset.Position(sel.Pos()).String(), sel.Sel.Name})
		}
		return true
	})
	return out, nil
}

// list runs `go list -deps -json` over the module.
func list(t *testing.T) ([]pkg, map[string]bool) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	var pkgs []pkg
	std := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if p.Standard {
			std[p.ImportPath] = true
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, std
}

// TestLayers: the tree keeps the layering.
func TestLayers(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	pkgs, std := list(t)
	for _, v := range importViolations(pkgs, std) {
		t.Error(v)
	}
	files, err := fileViolations(pkgs)
	require.NoError(t, err)
	for _, v := range files {
		t.Error(v)
	}
}

// TestLayersCatchBreakage: each rule reports a package that breaks it,
// so that TestLayers passing means something.
func TestLayersCatchBreakage(t *testing.T) {
	std := map[string]bool{"fmt": true, "os/exec": true}
	for _, tt := range []struct {
		name string
		pkg  pkg
		want string
	}{
		{"domain imports an adapter", pkg{ImportPath: "buildledger/domain/build", Name: "build",
			Imports: []string{"fmt", "buildledger/adapters/postgres"}}, "imports buildledger/adapters/postgres: layer buildledger/domain"},
		{"web imports pgx", pkg{ImportPath: "buildledger/web", Name: "web",
			Imports: []string{"github.com/jackc/pgx/v5"}}, "imports github.com/jackc/pgx/v5, which only adapters"},
		{"commands start processes", pkg{ImportPath: "buildledger/commands", Name: "commands",
			Imports: []string{"os/exec"}}, "imports os/exec, which only adapters"},
		{"projections import the web", pkg{ImportPath: "buildledger/projections/hydra", Name: "hydra",
			Imports: []string{"buildledger/web"}}, "layer buildledger/projections"},
		{"events import domain", pkg{ImportPath: "buildledger/events", Name: "events",
			Imports: []string{"buildledger/domain/streams"}}, "layer buildledger/events"},
		{"reactors import adapters", pkg{ImportPath: "buildledger/commands/reactors/scheduler", Name: "scheduler",
			Imports: []string{"buildledger/adapters/bus"}}, "layer buildledger/commands/reactors"},
		{"a package outside every layer", pkg{ImportPath: "buildledger/misc", Name: "misc"}, "belongs to no layer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := importViolations([]pkg{tt.pkg}, std)
			require.Len(t, got, 1)
			require.Contains(t, got[0], tt.want)
		})
	}
	for _, tt := range []struct {
		name, pkg string
		free      bool
	}{{"adapters", "buildledger/adapters/postgres", true}, {"cmd", "buildledger/cmd/buildledger", true},
		{"test", "buildledger/test/e2e", true}, {"web", "buildledger/web", false}} {
		t.Run("free "+tt.name, func(t *testing.T) {
			require.Equal(t, tt.free, pkg{ImportPath: tt.pkg}.free())
		})
	}
}

// TestFileCallsFound: a file in the web that opens a file, under any
// name for os, is reported.
func TestFileCallsFound(t *testing.T) {
	dir := t.TempDir()
	src := "package web\n\nimport sys \"os\"\n\nfunc f() { _, _ = sys.ReadFile(\"/etc/passwd\"); _ = sys.Getenv(\"X\") }\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f.go"), []byte(src), 0o644))
	got, err := fileViolations([]pkg{{ImportPath: "buildledger/web", Name: "web", Dir: dir, GoFiles: []string{"f.go"}}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Contains(t, got[0], "os.ReadFile")
}
