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

// TestReadmeSnippets compiles every Go block of the README and of docs/ as
// a program of its own (and runs the ones that are tests), inside this
// module, which requires everything they import, so that what a newcomer
// copies builds and works as it is.
func TestReadmeSnippets(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	for _, name := range append([]string{"../README.md"}, docs...) {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range goBlock.FindAllStringSubmatch(string(text), -1) {
			blocks = append(blocks, []string{filepath.Base(name), b[1]})
		}
	}
	if len(blocks) < 4 {
		t.Fatalf("%d Go blocks in README.md and docs/, want the first program, the test, the usage and the rooms programs at least", len(blocks))
	}
	for i, b := range blocks {
		file, src := b[0], b[1]
		t.Run(fmt.Sprintf("%s/block%d", file, i+1), func(t *testing.T) {
			if !strings.HasPrefix(src, "package main\n") {
				t.Fatalf("%s Go block %d is not a complete program (it must start with package main):\n%s", file, i+1, src)
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
				t.Fatalf("%s Go block %d fails go %s: %v\n%s\n%s", file, i+1, cmd, err, out, src)
			}
		})
	}
}
