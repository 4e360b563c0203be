package server

import (
	"context"
	"strings"
	"testing"
)

// TestCDNFlags: a bad -purge-url or -surrogate-keys stops the server at
// start with an error naming the flag.
func TestCDNFlags(t *testing.T) {
	var greeting string
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-purge-url", "varnish:6081"}, "-purge-url: cdn: purge URL"},
		{[]string{"-surrogate-keys", "-1"}, "-surrogate-keys: -1 is negative"},
	} {
		err := Run(context.Background(), testSite(&greeting), append(tc.args, "-addr", "127.0.0.1:0", "-log-level", "error"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
