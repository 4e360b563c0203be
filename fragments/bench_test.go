package fragments

import (
	"bytes"
	"context"
	"testing"

	"github.com/broadsheet/broadsheet/composer"
)

// BenchmarkScore is one score include's own work, as the scores page makes
// it thousands of times: the feed's answer (no simulated latency here)
// and the row rendered.
func BenchmarkScore(b *testing.B) {
	p, err := composer.NewParams(registry.Lookup("score"), map[string]string{"match": "m0042"})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		c, err := Score(context.Background(), p)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if err := c.Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
}
