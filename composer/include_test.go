package composer

import "testing"

func TestIncludeTagRoundTrip(t *testing.T) {
	tag := IncludeTag("score", "match", `m1"><script>`, "x", "a&b")
	pieces := SplitIncludes([]byte(tag))
	if len(pieces) != 2 || pieces[0].Err != nil {
		t.Fatalf("pieces = %+v", pieces)
	}
	if v, _ := pieces[0].Tag.Get("match"); v != `m1"><script>` {
		t.Fatalf("match = %q", v)
	}
}
