// Package e2e tests Broadsheet's pages as a person uses them: in a real
// headless Chromium (/usr/bin/chromium, which ./scripts/test.sh installs),
// driven with chromedp against the demo site served in-process.
//
// One browser serves the whole suite; each test opens its own tabs. Every
// page load is checked for console errors (CSP violations included), failed
// requests and responses of 400 or more, and for basic accessibility:
// landmarks, heading order, text alternatives, labels, visible focus and
// text contrast. Screenshots of each page at phone and desktop widths go to
// artifacts/screenshots/ (git-ignored); with -docs-screenshots a small set
// is also written to docs/screenshots/ for the README.
package e2e
