package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock matches a Go block of a Markdown file.
var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestReadmeSnippets compiles every Go block of the README as a program of
// its own (and runs the one that is a test), inside this module, which
// requires everything they import, so that what a newcomer copies builds
// and works as it is.
func TestReadmeSnippets(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("%d Go blocks in README.md, want the usage and the rooms programs at least", len(blocks))
	}
	for i, b := range blocks {
		src := b[1]
		t.Run(fmt.Sprintf("block%d", i+1), func(t *testing.T) {
			if !strings.HasPrefix(src, "package main\n") {
				t.Fatalf("README Go block %d is not a complete program (it must start with package main):\n%s", i+1, src)
			}
			dir, err := os.MkdirTemp(".", "readmesnippet")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			// A block with a test is a test file, and is run.
			name, cmd := "main.go", "vet"
			if strings.Contains(src, "\nfunc Test") {
				name, cmd = "snippet_test.go", "test"
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("go", cmd, "./"+filepath.Base(dir)).CombinedOutput(); err != nil {
				t.Fatalf("README Go block %d fails go %s: %v\n%s\n%s", i+1, cmd, err, out, src)
			}
		})
	}
}
