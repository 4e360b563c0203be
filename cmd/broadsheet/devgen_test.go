package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	templruntime "github.com/a-h/templ/runtime"
)

// TestTemplGenWritesWhatTemplGenerateWrites: dev mode's in-process
// generation of the repository's .templ files gives the committed
// *_templ.go byte for byte (CI checks those against go tool templ
// generate), and writes every file's text for the children.
func TestTemplGenWritesWhatTemplGenerateWrites(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv("TEMPL_DEV_MODE_ROOT", dir)
	written := map[string][]byte{}
	capture := func(name string, b []byte) error { written[name] = bytes.Clone(b); return nil }
	if _, err := newTemplGen(context.Background(), root, "./cmd/composer", dir, capture, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	templs, _ := filepath.Glob(filepath.Join(root, "*", "*.templ"))
	if len(templs) < 10 || len(written) != len(templs) {
		t.Fatalf("generated %d files for %d .templ files", len(written), len(templs))
	}
	for _, f := range templs {
		goFile := strings.TrimSuffix(f, ".templ") + "_templ.go"
		want, err := os.ReadFile(goFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(written[goFile], want) {
			t.Errorf("%s: dev mode's generation differs from the committed file", goFile)
		}
		if _, err := os.Stat(templruntime.GetDevModeTextFileName(f)); err != nil {
			t.Errorf("%s: no text file for the children: %v", f, err)
		}
	}
}

// TestTemplGenTellsTextFromCode: a change of a .templ file's text alone
// needs no build (its Go code is the same, its text is written for the
// running children); a change of its Go code, a new file or a deleted one
// does; a broken one is an error.
func TestTemplGenTellsTextFromCode(t *testing.T) {
	root := t.TempDir()
	mod := "module example.com/t\n\ngo 1.26\n\nrequire github.com/a-h/templ " + templVersion(t) + "\n"
	sum, err := os.ReadFile(filepath.Join("..", "..", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	views := filepath.Join(root, "views")
	at := time.Now()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// templ regenerates a file only when its time moves on.
		at = at.Add(time.Second)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("go.mod", mod)
	write("go.sum", string(sum))
	write("views/doc.go", "package views\n")
	hello := write("views/hello.templ", "package views\n\ntempl Hello(name string) {\n\t<p class=\"greet\">Hello, { name }</p>\n}\n")

	dir := t.TempDir()
	t.Setenv("TEMPL_DEV_MODE_ROOT", dir)
	g, err := newTemplGen(context.Background(), root, "./views", dir, writeIfChanged, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	goFile := filepath.Join(views, "hello_templ.go")
	before, err := os.ReadFile(goFile)
	if err != nil {
		t.Fatalf("not generated: %v", err)
	}
	text := func() string {
		b, _ := os.ReadFile(templruntime.GetDevModeTextFileName(hello))
		return string(b)
	}

	steps := []struct {
		name    string
		file    string
		content string // "" deletes the file
		build   bool
		err     bool
	}{
		{"text", "views/hello.templ", "package views\n\ntempl Hello(name string) {\n\t<p class=\"greet\">Hi there, { name }</p>\n}\n", false, false},
		{"go code", "views/hello.templ", "package views\n\ntempl Hello(name string) {\n\t<p class=\"greet\">Hi there, { name + \"!\" }</p>\n}\n", true, false},
		{"new file", "views/bye.templ", "package views\n\ntempl Bye() {\n\t<p>Bye</p>\n}\n", true, false},
		{"broken", "views/bye.templ", "package views\n\ntempl Bye() {\n\t<p>Bye\n", false, true},
		{"mended, text only since the last good one", "views/bye.templ", "package views\n\ntempl Bye() {\n\t<p>Goodbye</p>\n}\n", true, false},
		{"deleted", "views/bye.templ", "", true, false},
	}
	for _, st := range steps {
		path := filepath.Join(root, st.file)
		if st.content == "" {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		} else {
			write(st.file, st.content)
		}
		build, err := g.update(context.Background(), []string{path})
		if (err != nil) != st.err || build != st.build {
			t.Errorf("%s: build %v, error %v; want build %v, an error %v", st.name, build, err, st.build, st.err)
		}
		if st.name == "text" {
			// The tree's generated code stays current (it holds the
			// text too, for production); the running binary reads the
			// text file instead.
			if after, _ := os.ReadFile(goFile); bytes.Equal(after, before) || !bytes.Contains(after, []byte("Hi there, ")) {
				t.Errorf("%s was not regenerated with the new text", goFile)
			}
			if !strings.Contains(text(), "Hi there, ") {
				t.Errorf("the text file was not updated: %q", text())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(views, "bye_templ.go")); err == nil {
		t.Errorf("a deleted .templ file kept its generated code")
	}
}

// templVersion is the version of templ this module requires.
func templVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "github.com/a-h/templ" {
			return f[1]
		}
	}
	t.Fatal("go.mod does not require github.com/a-h/templ")
	return ""
}
