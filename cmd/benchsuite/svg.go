package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// lineChart is a chart of named series over evenly spaced categories (the
// page sizes), with horizontal rules for what the series are measured
// against (a budget, a target), written as a self-contained SVG by
// writeSVG. A point that is NaN, or not positive on a logarithmic axis, is
// left out and breaks its series' line.
type lineChart struct {
	Title  string
	XLabel string
	YLabel string
	// X labels the categories, left to right.
	X []string
	// LogY draws the values on a logarithmic axis.
	LogY   bool
	Series []series
	Rules  []rule
}

// series is one line of a chart: Y[i] is its value at X[i].
type series struct {
	Name string
	Y    []float64
	// Color is a CSS colour; empty picks one from the palette.
	Color  string
	Dashed bool
}

// rule is a horizontal reference line at Y, labelled above its right end.
type rule struct {
	Y     float64
	Label string
}

// palette colours series that do not name their own, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// The chart's geometry, in SVG user units.
const (
	chartW, chartH       = 720, 400
	marginL, marginR     = 64, 170
	marginT, marginB     = 40, 52
	plotW                = chartW - marginL - marginR
	plotH                = chartH - marginT - marginB
	legendX, legendLineH = chartW - marginR + 16, 18
)

// writeSVG writes the chart as an SVG document: its frame (title, grid,
// axes and labels), the rules, the series over them with their legend, and
// the rules' labels over all.
func (c *lineChart) writeSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	lo, hi := c.yRange()
	p := &canvas{c: c, w: bw, lo: lo, hi: hi}
	p.frame()
	p.rules()
	for i, s := range c.Series {
		p.series(i, s)
	}
	p.ruleLabels()
	fmt.Fprintf(bw, "</svg>\n")
	return bw.Flush()
}

// canvas is a chart being written, with its y axis's span.
type canvas struct {
	c      *lineChart
	w      io.Writer
	lo, hi float64
}

// y is the vertical position of the value v.
func (p *canvas) y(v float64) float64 {
	lo, hi := p.lo, p.hi
	if p.c.LogY {
		return marginT + plotH*(1-(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
	}
	return marginT + plotH*(1-(v-lo)/(hi-lo))
}

// x is the horizontal position of the i-th category.
func (p *canvas) x(i int) float64 {
	if len(p.c.X) <= 1 {
		return marginL + plotW/2
	}
	return marginL + plotW*(0.05+0.9*float64(i)/float64(len(p.c.X)-1))
}

// frame opens the document and writes the title, the axes, the grid and
// their labels.
func (p *canvas) frame() {
	c, bw, x, y := p.c, p.w, p.x, p.y
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(bw, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", marginL, esc(c.Title))

	fmt.Fprintf(bw, `<g stroke="#ccc" stroke-width="1">`+"\n")
	for _, t := range c.yTicks(p.lo, p.hi) {
		fmt.Fprintf(bw, `<line x1="%d" x2="%d" y1="%s" y2="%s"/>`+"\n", marginL, marginL+plotW, num(y(t)), num(y(t)))
	}
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<g text-anchor="end" fill="#333">`+"\n")
	for _, t := range c.yTicks(p.lo, p.hi) {
		fmt.Fprintf(bw, `<text x="%d" y="%s">%s</text>`+"\n", marginL-6, num(y(t)+4), esc(tickLabel(t)))
	}
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<g text-anchor="middle" fill="#333">`+"\n")
	for i, label := range c.X {
		fmt.Fprintf(bw, `<text x="%s" y="%d">%s</text>`+"\n", num(x(i)), marginT+plotH+18, esc(label))
	}
	fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", marginL+plotW/2, chartH-10, esc(c.XLabel))
	fmt.Fprintf(bw, "</g>\n")
	fmt.Fprintf(bw, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle" fill="#333">%s</text>`+"\n", marginT+plotH/2, esc(c.YLabel))
	fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", marginL, marginT, plotW, plotH)
}

// rules draws the plottable rules' lines.
func (p *canvas) rules() {
	for _, r := range p.c.Rules {
		if !p.c.plottable(r.Y) {
			continue
		}
		fmt.Fprintf(p.w, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="#555" stroke-width="1.5" stroke-dasharray="2 3"/>`+"\n",
			marginL, marginL+plotW, num(p.y(r.Y)), num(p.y(r.Y)))
	}
}

// series draws s, the i-th series: one polyline per run of plottable
// points, a circle at each of them, and its line in the legend.
func (p *canvas) series(i int, s series) {
	c, bw, x, y := p.c, p.w, p.x, p.y
	color := s.Color
	if color == "" {
		color = palette[i%len(palette)]
	}
	dash := ""
	if s.Dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	var run []string
	flush := func() {
		if len(run) > 1 {
			fmt.Fprintf(bw, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(run, " "), color, dash)
		}
		run = run[:0]
	}
	for j, v := range s.Y {
		if j >= len(c.X) || !c.plottable(v) {
			flush()
			continue
		}
		run = append(run, num(x(j))+","+num(y(v)))
	}
	flush()
	for j, v := range s.Y {
		if j < len(c.X) && c.plottable(v) {
			fmt.Fprintf(bw, `<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s, %s: %s</title></circle>`+"\n",
				num(x(j)), num(y(v)), color, esc(s.Name), esc(c.X[j]), esc(tickLabel(v)))
		}
	}
	ly := marginT + 8 + i*legendLineH
	fmt.Fprintf(bw, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendX, legendX+24, ly, ly, color, dash)
	fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", legendX+30, ly+4, esc(s.Name))
}

// ruleLabels writes the plottable rules' labels, over the series and
// haloed so that a line under one does not hide it.
func (p *canvas) ruleLabels() {
	for _, r := range p.c.Rules {
		if p.c.plottable(r.Y) {
			fmt.Fprintf(p.w, `<text x="%d" y="%s" text-anchor="end" fill="#555" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
				marginL+plotW-4, num(p.y(r.Y)-4), esc(r.Label))
		}
	}
}

// plottable reports whether v can be drawn on the chart's axis.
func (c *lineChart) plottable(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!c.LogY || v > 0)
}

// yRange is the axis's span: from 0 (linear) or the decade below the
// smallest value (logarithmic) to a round value at or above the largest,
// rules included.
func (c *lineChart) yRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if c.plottable(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	for _, s := range c.Series {
		for _, v := range s.Y {
			see(v)
		}
	}
	for _, r := range c.Rules {
		see(r.Y)
	}
	if math.IsInf(lo, 1) { // nothing to draw
		lo, hi = 1, 10
	}
	if c.LogY {
		lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		return lo, hi
	}
	lo = min(lo, 0)
	step := niceStep((hi - lo) / 5)
	hi = math.Ceil(hi/step) * step
	if hi <= lo {
		hi = lo + step
	}
	return lo, hi
}

// yTicks are the values the axis labels: 1, 2 and 5 of each decade on a
// logarithmic axis (the decades alone when it spans more than three), and
// multiples of a round step on a linear one.
func (c *lineChart) yTicks(lo, hi float64) []float64 {
	var ticks []float64
	if c.LogY {
		mults := []float64{1, 2, 5}
		if math.Log10(hi/lo) > 3 {
			mults = []float64{1}
		}
		for d := lo; d <= hi*1.0001; d *= 10 {
			for _, m := range mults {
				if t := d * m; t <= hi*1.0001 {
					ticks = append(ticks, t)
				}
			}
		}
		return ticks
	}
	step := niceStep((hi - lo) / 5)
	for t := lo; t <= hi+step/1000; t += step {
		ticks = append(ticks, math.Round(t/step)*step)
	}
	return ticks
}

// niceStep is the smallest of 1, 2 and 5 times a power of ten at or above
// raw.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// tickLabel writes v with three significant digits at most, and
// thousands as whole numbers: 0.25, 2, 10.1, 400, 2,000, 1,106.
func tickLabel(v float64) string {
	if math.Abs(v) >= 1000 {
		s := strconv.FormatFloat(math.Abs(math.Round(v)), 'f', 0, 64)
		var b strings.Builder
		if v < 0 {
			b.WriteByte('-')
		}
		for i, r := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// num writes a coordinate with one decimal.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// esc escapes s for SVG text and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
