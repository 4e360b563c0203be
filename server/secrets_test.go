package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretErrors: a secret given two ways, an empty secret file and a
// Redis URL that does not parse are errors, and none prints the secret.
func TestSecretErrors(t *testing.T) {
	dir := t.TempDir()
	empty, tok := filepath.Join(dir, "empty"), filepath.Join(dir, "tok")
	os.WriteFile(empty, []byte("\n \n"), 0o600)
	os.WriteFile(tok, []byte("file-token-9911\n"), 0o600)
	keys := filepath.Join(dir, "keys")
	os.WriteFile(keys, []byte("new-key-1234\nold-key-5678\n"), 0o600)
	for _, tc := range []struct {
		args   []string
		want   string
		secret string
	}{
		{[]string{"-admin-token", "cli-token-1", "-admin-token-file", tok}, "-admin-token is set too", "file-token-9911"},
		{[]string{"-admin-token-file", empty}, "is empty", ""},
		{[]string{"-admin-token-file", filepath.Join(dir, "missing")}, "-admin-token-file", ""},
		{[]string{"-reader-secret", "k", "-reader-secret-file", keys}, "-reader-secret-file", "new-key-1234"},
		{[]string{"-reader-secret-previous", "old"}, "set -reader-secret too", ""},
		{[]string{"-redis", "redis://:hunter2-pw@bad host:1/0"}, "-redis", "hunter2-pw"},
		{[]string{"-redis", "redis+cluster://:hunter2-pw@n1:7000,n2/3"}, "-redis", "hunter2-pw"},
	} {
		greeting := "hello"
		err := Run(context.Background(), testSite(&greeting), append([]string{"-addr", "127.0.0.1:0", "-log-level", "error"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
			continue
		}
		if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%q: the error prints the secret: %v", tc.args, err)
		}
	}
	o, err := parseFlags(Site{}, []string{"-reader-secret-file", keys})
	if err != nil || o.loadSecrets() != nil || o.readerSecret != "new-key-1234" || o.readerPrevious != "old-key-5678" {
		t.Errorf("-reader-secret-file: secret %q, previous %q (%v)", o.readerSecret, o.readerPrevious, err)
	}
}
