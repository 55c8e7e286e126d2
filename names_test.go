package sockets_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"slices"
	"strings"
	"testing"

	. "github.com/go-macaron/sockets"
)

// Message is the type the original's own test file and real programs
// declare beside a dot import of the package; this file compiles only
// while the package exports no name Message.
type Message struct {
	From, Text string
}

// TestDotImportWithMessageType builds a JSON handler for that type.
func TestDotImportWithMessageType(t *testing.T) {
	if JSON(Message{}) == nil {
		t.Fatal("JSON(Message{}) returned nil")
	}
}

// originalNames are every exported name of the original package, and the
// names its README used (LEVEL_*): the root package exports these and no
// others, so that a file that dot-imports it declares any other name
// without a clash.
var originalNames = []string{
	"Binding", "ByteSliceConnection", "ByteSliceMessages", "Connection", "JSON", "JSONConnection",
	"LEVEL_DEBUG", "LEVEL_ERROR", "LEVEL_INFO", "LEVEL_WARNING",
	"LogLevelDebug", "LogLevelError", "LogLevelInfo", "LogLevelStrings", "LogLevelWarning",
	"MessageConnection", "Messages", "Options",
}

// TestRootExportsOnlyOriginalNames reads the root package's source: every
// exported top-level name is one of the original's.
func TestRootExportsOnlyOriginalNames(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range pkgs["sockets"].Files {
		for name, obj := range f.Scope.Objects {
			if ast.IsExported(name) && obj.Kind != ast.Bad {
				got = append(got, name)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, originalNames) {
		t.Fatalf("the root package exports %v, want exactly the original's names %v", got, originalNames)
	}
}

// TestCoreWithoutMacaron: the packages a net/http program imports (the
// core, the test kit, the hub) do not link Macaron or its dependencies.
func TestCoreWithoutMacaron(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./wschan", "./sockettest", "./hub").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"macaron", "go-macaron/inject", "gopkg.in/ini", "unknwon/com", "golang.org/x/crypto"} {
			// The standard library vendors its own x/crypto.
			if strings.Contains(dep, bad) && !strings.HasPrefix(dep, "github.com/go-macaron/sockets") && !strings.HasPrefix(dep, "vendor/") {
				t.Errorf("a net/http program links %s", dep)
			}
		}
	}
	if !strings.Contains(string(out), "github.com/coder/websocket") {
		t.Fatalf("go list printed no transport: %s", out)
	}
}
