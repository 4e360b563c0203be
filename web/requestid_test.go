package web_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/broadsheet/broadsheet/internal/logbuf"
)

// TestRequestIDIsShortAndSafe: a client's X-Request-Id is echoed and
// logged only when it is short and of the safe alphabet; anything else is
// replaced by an id of ours, on the public and the admin listener.
func TestRequestIDIsShortAndSafe(t *testing.T) {
	var logs logbuf.Buffer
	in := newInstance(t, instanceOpts{token: token, separate: true, log: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, tc := range []struct {
		name, id string
		kept     bool
	}{
		{"plain", "abc-123_x.y:z/1", true},
		{"64 bytes", strings.Repeat("a", 64), true},
		{"65 bytes", strings.Repeat("b", 65), false},
		{"60 KB", strings.Repeat("c", 60<<10), false},
		{"markup", "<script>x</script>", false},
		{"space and quote", `a b"c`, false},
		{"log forgery", "x level=ERROR msg=forged", false},
		{"unicode", "idé", false},
	} {
		for _, base := range []string{in.ts.URL + "/echo/hello", in.admin.URL + "/_/admin"} {
			req, _ := http.NewRequest("GET", base, nil)
			req.Header.Set("X-Request-Id", tc.id)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := res.Header.Get("X-Request-Id")
			switch {
			case tc.kept && got != tc.id:
				t.Errorf("%s on %s: echoed %q, want it kept", tc.name, base, got)
			case !tc.kept && (got == tc.id || got == "" || len(got) > 64 || strings.ContainsAny(got, "<> \"é")):
				t.Errorf("%s on %s: echoed %q, want an id of ours", tc.name, base, got)
			}
			if !tc.kept && strings.Contains(logs.String(), tc.id) {
				t.Errorf("%s on %s: logged", tc.name, base)
			}
		}
	}
}
