package broadsheet_test

import (
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	// mdLink matches an inline link or image, [text](target) or
	// ![alt](target), with an optional "title" after the target.
	mdLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// mdFence matches a fenced code block; mdCode an inline code span.
	mdFence = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```[^\\n]*$")
	mdCode  = regexp.MustCompile("`[^`\\n]*`")
	// mdHeading matches an ATX heading's text.
	mdHeading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
)

// docLinks returns the targets of the links of a Markdown document, code
// blocks and code spans left out.
func docLinks(md string) []string {
	md = mdFence.ReplaceAllString(md, "")
	md = mdCode.ReplaceAllString(md, "")
	var out []string
	for _, m := range mdLink.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// anchors returns the fragment identifiers a renderer gives the headings
// of a Markdown document, as GitHub makes them: lower case, punctuation
// dropped, spaces as hyphens.
func anchors(md string) map[string]bool {
	md = mdFence.ReplaceAllString(md, "")
	out := map[string]bool{}
	for _, m := range mdHeading.FindAllStringSubmatch(md, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 && r != '—' && r != '–' && r != '×' && r != '→':
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// TestDocLinks: every relative link of the repository's Markdown documents
// points to a file of the repository that exists (and, with a #fragment,
// to a heading of that file), and no link points outside the repository.
func TestDocLinks(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" || d.Name() == "artifacts") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 3 {
		t.Fatalf("found %d Markdown documents, want README.md, BENCHMARKS.md, RELIABILITY.md at least", len(docs))
	}
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, doc)
		for _, target := range docLinks(string(b)) {
			if problem := checkLink(root, doc, target); problem != "" {
				t.Errorf("%s: link %q: %s", rel, target, problem)
			}
		}
		for _, outside := range []string{"../shared/", "/work/"} {
			if strings.Contains(string(b), outside) {
				t.Errorf("%s names %q, outside the repository", rel, outside)
			}
		}
	}
}

// checkLink says what is wrong with the link target in doc, or "".
func checkLink(root, doc, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return err.Error()
	}
	if u.Scheme != "" || u.Host != "" {
		return "" // a web address
	}
	file := doc
	if u.Path != "" {
		if strings.HasPrefix(u.Path, "/") {
			return "an absolute path; link relative to the document"
		}
		file = filepath.Join(filepath.Dir(doc), filepath.FromSlash(u.Path))
		if r, err := filepath.Rel(root, file); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "outside the repository"
		}
		if _, err := os.Stat(file); err != nil {
			return "no such file"
		}
	}
	if u.Fragment != "" && strings.HasSuffix(file, ".md") {
		b, err := os.ReadFile(file)
		if err != nil {
			return err.Error()
		}
		if !anchors(string(b))[u.Fragment] {
			return "no heading #" + u.Fragment
		}
	}
	return ""
}

func TestDocLinksParsing(t *testing.T) {
	md := "See [a](a.md), ![img](docs/x.svg \"t\") and [web](https://example.com).\n" +
		"`[not](code.md)`\n```sh\n[neither](block.md)\n```\n## Batching (Broadsheet's fragment server only)\n"
	got := strings.Join(docLinks(md), " ")
	if got != "a.md docs/x.svg https://example.com" {
		t.Errorf("links %q", got)
	}
	if a := anchors(md); !a["batching-broadsheets-fragment-server-only"] {
		t.Errorf("anchors %v", a)
	}
	root := t.TempDir()
	doc := filepath.Join(root, "README.md")
	if err := os.WriteFile(doc, []byte("# Title\n## Two words\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"README.md#two-words": "", "#title": "", "https://x.test/y": "",
		"missing.md": "no such file", "../outside.md": "outside the repository",
		"/etc/passwd": "an absolute path; link relative to the document", "#nowhere": "no heading #nowhere",
	} {
		if got := checkLink(root, doc, target); got != want {
			t.Errorf("checkLink(%q) = %q, want %q", target, got, want)
		}
	}
}
