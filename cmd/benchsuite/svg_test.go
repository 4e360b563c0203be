package main

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// wellFormed fails t unless svg is one well-formed XML document whose root
// is an svg element.
func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
}

// points are the coordinates of the circles drawn, by their title.
func points(t *testing.T, svg []byte) map[string][2]float64 {
	t.Helper()
	re := regexp.MustCompile(`<circle cx="([0-9.]+)" cy="([0-9.]+)" r="3" fill="[^"]+"><title>([^<]*)</title>`)
	out := map[string][2]float64{}
	for _, m := range re.FindAllSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(string(m[1]), 64)
		y, _ := strconv.ParseFloat(string(m[2]), 64)
		out[string(m[3])] = [2]float64{x, y}
	}
	return out
}

func render(t *testing.T, c *lineChart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.writeSVG(&b); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b.Bytes())
	return b.Bytes()
}

// TestLineChartPlacesPoints: a value is drawn at its place on the axis
// (linear and logarithmic), points that cannot be drawn are left out and
// break the line, and text is escaped.
func TestLineChartPlacesPoints(t *testing.T) {
	lin := render(t, &lineChart{
		Title: "a <b> & c", X: []string{"1", "2", "3"},
		Series: []series{{Name: "s", Y: []float64{0, 50, 100}}, {Name: "gap", Y: []float64{10, math.NaN(), 30}}},
		Rules:  []rule{{Y: 100, Label: "limit"}},
	})
	if !bytes.Contains(lin, []byte("a &lt;b&gt; &amp; c")) {
		t.Errorf("title not escaped:\n%s", lin)
	}
	p := points(t, lin)
	bottom, top, mid := p["s, 1: 0"][1], p["s, 3: 100"][1], p["s, 2: 50"][1]
	if bottom != marginT+plotH || top != marginT || mid != marginT+plotH/2 {
		t.Errorf("linear: 0 at y=%v, 50 at %v, 100 at %v; want %v, %v, %v", bottom, mid, top, marginT+plotH, marginT+plotH/2, marginT)
	}
	if !(p["s, 1: 0"][0] < p["s, 2: 50"][0] && p["s, 2: 50"][0] < p["s, 3: 100"][0]) {
		t.Errorf("categories not left to right: %v", p)
	}
	if _, ok := p["gap, 2: NaN"]; ok || len(p) != 5 {
		t.Errorf("points %v: want 5, the NaN left out", p)
	}
	if n := bytes.Count(lin, []byte("<polyline")); n != 1 {
		t.Errorf("%d polylines, want 1 (the series with a gap has no two adjacent points)", n)
	}

	log := render(t, &lineChart{
		X: []string{"a", "b", "c", "d"}, LogY: true,
		Series: []series{{Name: "s", Y: []float64{1, 10, 100, 0}}},
	})
	p = points(t, log)
	y1, y10, y100 := p["s, a: 1"][1], p["s, b: 10"][1], p["s, c: 100"][1]
	if y1 != marginT+plotH || y100 != marginT || math.Abs((y1-y10)-(y10-y100)) > 0.11 {
		t.Errorf("log: 1 at y=%v, 10 at %v, 100 at %v; want decades evenly spaced over the plot", y1, y10, y100)
	}
	if len(p) != 3 {
		t.Errorf("log points %v: want 3, the 0 left out", p)
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		raw, want float64
	}{{0.07, 0.1}, {0.3, 0.5}, {1, 1}, {1.2, 2}, {18, 20}, {4000, 5000}} {
		if got := niceStep(c.raw); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("niceStep(%v) = %v, want %v", c.raw, got, c.want)
		}
	}
	for v, want := range map[float64]string{0.25: "0.25", 2: "2", 10.14: "10.1", 400: "400", 2000: "2,000", 1106.4: "1,106", 10000: "10,000"} {
		if got := tickLabel(v); got != want {
			t.Errorf("tickLabel(%v) = %q, want %q", v, got, want)
		}
	}
	c := &lineChart{LogY: true, Series: []series{{Y: []float64{0.6, 410}}}}
	lo, hi := c.yRange()
	if lo != 0.1 || hi != 1000 {
		t.Errorf("log range %v–%v, want 0.1–1000", lo, hi)
	}
	if got := len(c.yTicks(lo, hi)); got != 5 {
		t.Errorf("%d ticks over four decades, want the decades alone (5)", got)
	}
}

// TestPlotsFromResults: -from reports a results file again, as the run
// wrote it, and -plots writes the plots beside it.
func TestPlotsFromResults(t *testing.T) {
	dir := t.TempDir()
	res := &results{
		Machine:  machine{CPUs: 2, CPUModel: "Test CPU", Started: "2026-12-06T08:47:05Z", LoadStart: "1.00 2.00 3.00"},
		Finished: "2026-12-06T09:01:40Z", LoadEnd: "2.00 2.00 3.00",
	}
	o, err := parseFlags([]string{"-sizes", "100,2000", "-states", "l1,cold", "-runs", "1", "-c", "4", "-only", "scores"})
	if err != nil {
		t.Fatal(err)
	}
	res.Options = recordOptions(o)
	res.Medians = []summary{
		{State: "l1", Size: 100, Runs: 1, Throughput: 900, FloorThroughput: 1000, Ratio: 0.9},
		{State: "l1", Size: 2000, Runs: 1, Throughput: 400, FloorThroughput: 500, Ratio: 0.8},
		{State: "cold", Size: 100, Runs: 1, Throughput: 50, FloorThroughput: 1000, Ratio: 0.05},
		{State: "cold", Size: 2000, Runs: 0, Failed: 1},
	}
	for i := range res.Medians {
		s := &res.Medians[i]
		s.TTLB.P50, s.TTLB.P99 = time.Duration(i+1)*time.Millisecond, time.Duration(10*(i+1))*time.Millisecond
	}
	var want bytes.Buffer
	writeMarkdown(&want, res, o)

	resPath := filepath.Join(dir, "latest.json")
	if err := report(io.Discard, io.Discard, res, &options{jsonPath: resPath}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	plots := filepath.Join(dir, "plots")
	if err := run(t.Context(), []string{"-from", resPath, "-plots", plots}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Errorf("-from wrote\n%s\nwant what the run wrote\n%s", out.String(), want.String())
	}
	if !strings.Contains(out.String(), "load average 1.00 2.00 3.00 at the start, 2.00 2.00 3.00 at the end") {
		t.Errorf("no load average in\n%s", out.String())
	}
	for _, name := range []string{"scores-latency.svg", "scores-throughput.svg"} {
		svg, err := os.ReadFile(filepath.Join(plots, name))
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, svg)
		p := points(t, svg)
		if name == "scores-throughput.svg" {
			if _, ok := p["l1, 2,000: 0.8"]; !ok || len(p) != 3 {
				t.Errorf("%s: points %v, want l1 at 100 and 2,000 and cold at 100", name, p)
			}
		}
		golden := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(golden, svg, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		g, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(svg, g) {
			t.Errorf("%s differs from %s (go test -run TestPlotsFromResults -update ./cmd/benchsuite rewrites it)", name, golden)
		}
	}
}
