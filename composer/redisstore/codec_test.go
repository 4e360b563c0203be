package redisstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet/broadsheet/composer"
)

func testEntry(key string, html string) *composer.Entry {
	created := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)
	return &composer.Entry{
		Key:        key,
		Version:    "v3",
		HTML:       []byte(html),
		Assets:     []string{"/static/weather.css", "/static/weather.js"},
		Created:    created,
		FreshUntil: created.Add(time.Minute),
		StaleUntil: created.Add(time.Hour),
	}
}

func sameEntry(t *testing.T, got, want *composer.Entry) {
	t.Helper()
	if got.Key != want.Key || got.Version != want.Version ||
		!bytes.Equal(got.HTML, want.HTML) || !slices.Equal(got.Assets, want.Assets) ||
		!got.Created.Equal(want.Created) || !got.FreshUntil.Equal(want.FreshUntil) ||
		!got.StaleUntil.Equal(want.StaleUntil) {
		t.Fatalf("entry mismatch\n got %+v\nwant %+v", got, want)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		e    *composer.Entry
	}{
		{"typical", testEntry("weather?city=london", "<p>Rain</p>")},
		{"empty", &composer.Entry{Created: now, FreshUntil: now, StaleUntil: now}},
		{"no assets", &composer.Entry{Key: "k", Version: "1", HTML: []byte("x"), Created: now, FreshUntil: now.Add(time.Second), StaleUntil: now.Add(2 * time.Second)}},
		{"before 1970", &composer.Entry{Key: "old", Created: time.Unix(-1e9, 5), FreshUntil: time.Unix(1e9, 0), StaleUntil: time.Unix(2e9, 0)}},
		{"at limits", &composer.Entry{
			Key:     strings.Repeat("k", MaxKeyLen),
			Version: strings.Repeat("v", MaxVersionLen),
			Assets:  slices.Repeat([]string{strings.Repeat("a", MaxAssetLen)}, MaxAssets),
			HTML:    bytes.Repeat([]byte("<b>"), 1000),
			Created: now, FreshUntil: now, StaleUntil: now.Add(time.Nanosecond),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Encode(tt.e)
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			sameEntry(t, got, tt.e)
			if again := Encode(got); !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
			}
			owned, err := decodeOwned(bytes.Clone(b))
			if err != nil {
				t.Fatalf("decodeOwned: %v", err)
			}
			sameEntry(t, owned, tt.e)
		})
	}
}

func TestAppendEntryAppends(t *testing.T) {
	e := testEntry("k", "html")
	prefix := []byte("prefix")
	b := AppendEntry(prefix, e)
	if !bytes.HasPrefix(b, prefix) || !bytes.Equal(b[len(prefix):], Encode(e)) {
		t.Fatalf("AppendEntry did not append the encoding")
	}
}

func TestEncodeClampsTimes(t *testing.T) {
	now := time.Now()
	e := &composer.Entry{Key: "k", Created: now, FreshUntil: now.Add(-time.Hour), StaleUntil: now.Add(-2 * time.Hour)}
	got, err := Decode(Encode(e))
	if err != nil {
		t.Fatal(err)
	}
	if !got.FreshUntil.Equal(now) || !got.StaleUntil.Equal(now) {
		t.Fatalf("times not clamped to Created: fresh %v stale %v", got.FreshUntil, got.StaleUntil)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := Encode(testEntry("k", "<p>x</p>"))
	withTime := func(created int64, fresh, stale uint64) []byte {
		b := []byte{magic0, magic1, formatVersion, flagLeaf, 1, 'k', 0}
		b = appendVarintForTest(b, created, fresh, stale)
		return append(b, 0, 0) // no assets, no HTML
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"magic", append([]byte{0, 0}, valid[2:]...)},
		{"version", append([]byte{magic0, magic1, 3}, valid[3:]...)},
		{"version 0", append([]byte{magic0, magic1, 0}, valid[3:]...)},
		{"no flags", valid[:3]},
		{"header only", valid[:4]},
		{"unknown flag", append([]byte{magic0, magic1, formatVersion, flagLeaf | 2}, valid[4:]...)},
		{"leaf flag clear on a leaf", append([]byte{magic0, magic1, formatVersion, 0}, valid[4:]...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing", append(bytes.Clone(valid), 0)},
		{"key over limit", append([]byte{magic0, magic1, formatVersion, flagLeaf}, 0x81, 0x20)}, // 4097
		{"padded varint", append([]byte{magic0, magic1, formatVersion, flagLeaf, 0x80, 0x00}, valid[5:]...)},
		{"version 1, padded varint", append([]byte{magic0, magic1, 1, 0x80, 0x00}, valid[5:]...)},
		{"time overflow", withTime(math.MaxInt64-10, 5, 6)},
		{"huge offset", withTime(0, math.MaxUint64, 0)},
		{"too many assets", append([]byte{magic0, magic1, formatVersion, flagLeaf, 0, 0, 0, 0, 0}, MaxAssets+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode(tt.data)
			if err == nil {
				t.Fatalf("Decode accepted %x as %+v", tt.data, e)
			}
			if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "redisstore: ") {
				t.Fatalf("error %q: want ErrCorrupt with the package prefix", err)
			}
		})
	}
	// The boundary itself is fine.
	if _, err := Decode(withTime(math.MaxInt64-11, 5, 6)); err != nil {
		t.Fatalf("Decode at the time limit: %v", err)
	}
}

// TestLeafFlag checks that the flags byte records whether the HTML may hold
// an include tag, that Decode hands it over as Entry.Leaf, and that the
// entries the composer parses anyway (with includes) are not marked.
func TestLeafFlag(t *testing.T) {
	tests := []struct {
		html string
		leaf bool
	}{
		{"<p>Rain</p>", true},
		{"", true},
		{`<ul><bs-include fragment="score" match="m1"></bs-include></ul>`, false},
		{"<bs-includes>not ours, but scanned to find that out</bs-includes>", false},
	}
	for _, tt := range tests {
		b := Encode(testEntry("k", tt.html))
		if got := b[3]&flagLeaf != 0; got != tt.leaf {
			t.Errorf("%q: leaf flag %v, want %v", tt.html, got, tt.leaf)
		}
		e, err := decodeString(string(b))
		if err != nil {
			t.Fatalf("%q: %v", tt.html, err)
		}
		if e.Leaf != tt.leaf {
			t.Errorf("%q: Entry.Leaf %v, want %v", tt.html, e.Leaf, tt.leaf)
		}
	}
	// An entry already known to be a leaf keeps its mark.
	e := testEntry("k", "<p>x</p>")
	e.Leaf = true
	if b := Encode(e); b[3] != flagLeaf {
		t.Fatalf("flags %#x, want leaf", b[3])
	}
}

// TestDecodeVersion1 checks that values written before the flags byte
// still decode (as not known to be leaves) and are written back as
// version 2.
func TestDecodeVersion1(t *testing.T) {
	want := testEntry("weather?city=london", "<p>Rain</p>")
	v2 := Encode(want)
	v1 := append([]byte{magic0, magic1, 1}, v2[headerLen:]...)
	got, err := Decode(v1)
	if err != nil {
		t.Fatalf("Decode(version 1): %v", err)
	}
	sameEntry(t, got, want)
	if got.Leaf {
		t.Fatalf("a version 1 value is not known to be a leaf")
	}
	if again := Encode(got); !bytes.Equal(again, v2) {
		t.Fatalf("version 1 re-encoded as\n%x\nwant\n%x", again, v2)
	}
}

func appendVarintForTest(b []byte, created int64, fresh, stale uint64) []byte {
	b = binary.AppendVarint(b, created)
	b = binary.AppendUvarint(b, fresh)
	return binary.AppendUvarint(b, stale)
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to the very same bytes (the encoding is canonical). Seeds live
// in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	valid := Encode(testEntry("weather?city=london", "<p>Rain</p>"))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			if e != nil {
				t.Fatalf("Decode returned an entry with error %v", err)
			}
			return
		}
		if data[2] == 1 {
			// Version 1 is read and written back as version 2: the same
			// bytes with the flags byte, which records whether it is a leaf.
			var flags byte
			if !composer.MayInclude(e.HTML) {
				flags = flagLeaf
			}
			data = append([]byte{magic0, magic1, formatVersion, flags}, data[3:]...)
			if _, err := Decode(data); err != nil {
				t.Fatalf("the version 2 form of an accepted version 1 value fails: %v", err)
			}
		}
		if got := Encode(e); !bytes.Equal(got, data) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", data, got)
		}
		owned, err := decodeOwned(bytes.Clone(data))
		if err != nil {
			t.Fatalf("decodeOwned rejected what Decode accepted: %v", err)
		}
		if got := Encode(owned); !bytes.Equal(got, data) {
			t.Fatalf("decodeOwned re-encoding differs")
		}
		fromString, err := decodeString(string(data))
		if err != nil {
			t.Fatalf("decodeString rejected what Decode accepted: %v", err)
		}
		if got := Encode(fromString); !bytes.Equal(got, data) {
			t.Fatalf("decodeString re-encoding differs")
		}
	})
}
