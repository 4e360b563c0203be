package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// axe-core, the accessibility engine, audits every page (see tab.audit).
// scripts/test.sh installs the version package-lock.json pins with
// `npm ci --prefix e2e/axe` (npm checks the package against the lock's
// sha512); the test checks the script's sha256 once more before injecting
// it into pages through the DevTools protocol.
const (
	axeVersion = "4.14.1"
	axePath    = "axe/node_modules/axe-core/axe.min.js"
	axeSHA256  = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
)

// axeEnforced are rules whose violations fail a page whatever impact axe
// gives them. Every serious or critical violation fails it too; these are
// the moderate ones the project holds its pages to (a page's one main
// landmark, an h1, headings in order).
var axeEnforced = []string{"landmark-one-main", "landmark-no-duplicate-main", "page-has-heading-one", "heading-order"}

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

// loadAxe reads and checks axe.min.js once.
func loadAxe() (string, error) {
	axeOnce.Do(func() {
		b, err := os.ReadFile(filepath.FromSlash(axePath))
		if err != nil {
			axeErr = fmt.Errorf("axe-core is not installed (%v): run ./scripts/test.sh, or npm ci --prefix e2e/axe", err)
			return
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != axeSHA256 {
			axeErr = fmt.Errorf("%s: sha256 %s, want %s (axe-core %s); run npm ci --prefix e2e/axe", axePath, got, axeSHA256, axeVersion)
			return
		}
		axeSource = string(b)
	})
	return axeSource, axeErr
}

// axeRunJS runs axe on the document and returns its failing violations,
// one line each: rule, impact, help and the first few elements.
var axeRunJS = `(async () => {
  const enforced = new Set(` + jsList(axeEnforced) + `);
  const r = await axe.run(document, { resultTypes: ["violations"] });
  return r.violations
    .filter(v => v.impact === "serious" || v.impact === "critical" || enforced.has(v.id))
    .map(v => v.id + " (" + v.impact + "): " + v.help + ": " +
      v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ") + (v.nodes.length > 3 ? " and " + (v.nodes.length - 3) + " more" : ""));
})()`

func jsList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// axeViolations injects axe into the tab's page (once per document) and
// returns its failing violations. Without axe installed it fails the test
// in CI and skips it elsewhere.
func (tb *tab) axeViolations() []string {
	tb.t.Helper()
	src, err := loadAxe()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.t.Fatal(err)
		}
		tb.t.Skip(err)
	}
	if !eval[bool](tb, `typeof window.axe === "object"`) {
		eval[bool](tb, src+";\ntrue")
	}
	if v := eval[string](tb, `axe.version`); v != axeVersion {
		tb.t.Fatalf("axe-core %s in the page, want %s", v, axeVersion)
	}
	return eval[[]string](tb, axeRunJS)
}

// TestAxeFindsProblems makes sure the audit is not vacuous: a page with
// known faults gets them reported by axe and by the project's own check.
func TestAxeFindsProblems(t *testing.T) {
	tb := newTab(t, desktop)
	const page = `<!DOCTYPE html><html><head><title>t</title></head><body>` +
		`<main><h1>One</h1><h3>Skipped</h3><p style="color:#bbb">faint</p>` +
		`<input id=x><div role=img></div><img src="data:,"><ul><div>not an item</div></ul>` +
		`<div style="overflow:auto;height:20px"><p>scrolls</p><p>scrolls</p><p>scrolls</p></div>` +
		`<div style="width:3000px">wide</div></main><main></main></body></html>`
	tb.do(navigateData(page))
	got := strings.Join(tb.axeViolations(), "\n")
	for _, want := range []string{"landmark-no-duplicate-main", "heading-order", "color-contrast", "label", "role-img-alt", "image-alt", "html-has-lang", "list (serious)", "scrollable-region-focusable"} {
		if !strings.Contains(got, want) {
			t.Errorf("axe missed %q; it said:\n%s", want, got)
		}
	}
	own := strings.Join(eval[[]string](tb, auditJS), "\n")
	if !strings.Contains(own, "scrolls sideways") {
		t.Errorf("the project's audit missed the sideways scroll; it said:\n%s", own)
	}
}
