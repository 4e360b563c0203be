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
		b := []byte{magic0, magic1, formatVersion, 1, 'k', 0}
		b = appendVarintForTest(b, created, fresh, stale)
		return append(b, 0, 0) // no assets, no HTML
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"magic", append([]byte{0, 0}, valid[2:]...)},
		{"version", append([]byte{magic0, magic1, 2}, valid[3:]...)},
		{"header only", valid[:3]},
		{"truncated", valid[:len(valid)-1]},
		{"trailing", append(bytes.Clone(valid), 0)},
		{"key over limit", append([]byte{magic0, magic1, formatVersion}, 0x81, 0x20)}, // 4097
		{"padded varint", append([]byte{magic0, magic1, formatVersion, 0x80, 0x00}, valid[4:]...)},
		{"time overflow", withTime(math.MaxInt64-10, 5, 6)},
		{"huge offset", withTime(0, math.MaxUint64, 0)},
		{"too many assets", append([]byte{magic0, magic1, formatVersion, 0, 0, 0, 0, 0}, MaxAssets+1)},
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
