package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/internal/redistest"
)

// TestMain runs the demo composer itself when asked to (by
// TestSecretsNeverPrinted, which starts this test binary as one).
func TestMain(m *testing.M) {
	if os.Getenv("BROADSHEET_TEST_AS_COMPOSER") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSecretsNeverPrinted starts a real composer with the admin token in a
// file, a reader secret on the command line and a Redis password in
// BROADSHEET_REDIS: its log (startup lines, the warning about the command
// line, the access lines) holds none of them, and the admin listener's
// pprof neither needs no token nor gives the command line to one who has
// it.
func TestSecretsNeverPrinted(t *testing.T) {
	const adminTok, readerSec, redisPass = "admin-file-secret-4821", "reader-cli-secret-7730", "redis-env-secret-5519"
	rs := redistest.Start(t)
	if err := rs.Client(t).ConfigSet(context.Background(), "requirepass", redisPass).Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(adminTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-admin-token-file", tokFile,
		"-reader-secret", readerSec, "-demo-league", "0", "-log-level", "debug")
	cmd.Env = []string{"BROADSHEET_TEST_AS_COMPOSER=1", "PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"BROADSHEET_REDIS=redis://:" + redisPass + "@" + rs.Addr() + "/0"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by its PID, if the test ends early

	var log strings.Builder
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	addr := regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)
	var public, admin string
	timeout := time.After(60 * time.Second)
	for public == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the composer exited before serving:\n%s", log.String())
			}
			log.WriteString(l + "\n")
			if m := addr.FindStringSubmatch(l); m != nil {
				switch {
				case strings.Contains(l, "admin: serving"):
					admin = m[1]
				case strings.Contains(l, "composer: serving"):
					public = m[1]
				}
			}
		case <-timeout:
			t.Fatalf("the composer did not start within a minute:\n%s", log.String())
		}
	}
	get := func(url, tok string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path, tok string
		status    int
	}{
		{"/debug/pprof/cmdline", "", 401},
		{"/debug/pprof/cmdline", adminTok, 404},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", adminTok, 200},
		{"/_/admin", adminTok, 200},
	} {
		status, body := get("http://"+admin+tc.path, tc.tok)
		if status != tc.status {
			t.Errorf("%s (token %v): %d, want %d", tc.path, tc.tok != "", status, tc.status)
		}
		if strings.Contains(body, readerSec) || strings.Contains(body, "-admin-token-file") {
			t.Errorf("%s: the body gives the command line away", tc.path)
		}
	}
	get("http://"+public+"/", "")
	cmd.Process.Signal(syscall.SIGTERM)
	for l := range lines {
		log.WriteString(l + "\n")
	}
	cmd.Wait()
	out := log.String()
	for _, s := range []string{adminTok, readerSec, redisPass} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a secret:\n%s", out)
		}
	}
	if !strings.Contains(out, "secrets on the command line") || !strings.Contains(out, "-reader-secret") {
		t.Errorf("no warning naming -reader-secret, given on the command line:\n%s", out)
	}
	if !strings.Contains(out, "then Redis") {
		t.Errorf("the composer did not use Redis:\n%s", out)
	}
}
