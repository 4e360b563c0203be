package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseFailHold: fail_hold sets a fragment's FailHold; 0s turns the
// hold off (a negative FailHold); left out, the fragment's default (0: the
// composer's DefaultFailHold) stays; negative or huge values are refused.
func TestParseFailHold(t *testing.T) {
	const base = `
site: {budget: 300ms}
fragments:
  score: {fail_hold: %s}
pages:
  - {name: p, path: /, layout: front, includes: [{fragment: nav, slot: main}]}
`
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{"250ms", 250 * time.Millisecond, ""},
		{"0s", -1, ""},
		{"-1s", 0, "must not be negative"},
		{"1h", 0, "over the maximum"},
	} {
		site, err := Parse("site.yaml", []byte(strings.Replace(base, "%s", tc.value, 1)), testRegistry())
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("fail_hold %s: err %v, want one saying %q", tc.value, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("fail_hold %s: %v", tc.value, err)
		}
		if got := site.Fragments["score"].Settings.FailHold; got != tc.want {
			t.Errorf("fail_hold %s: FailHold %v, want %v", tc.value, got, tc.want)
		}
		if got := site.Fragments["nav"].Settings.FailHold; got != 0 {
			t.Errorf("nav (no fail_hold): FailHold %v, want 0 (the default)", got)
		}
	}
}
