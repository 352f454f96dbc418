// Package chart draws small bar charts as server-rendered SVG for the
// portal's consoles: no JavaScript, no colour-only meaning. Each series has
// its own fill pattern (solid, stripes, dots, cross-hatch) as well as its
// own colour, every bar carries its value as a direct label, the legend
// repeats the patterns, and the SVG has a <title> and <desc> (role="img",
// aria-labelledby) while Table gives the same numbers as a data table for
// screen readers and for anyone who would rather read.
//
// The caller translates every text; the package only draws.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Series is one named row of values, one per label.
type Series struct {
	Name   string
	Values []float64
}

// Chart is a grouped bar chart: for each label (x axis) one bar per series.
type Chart struct {
	// ID prefixes the element ids (unique within the page).
	ID    string
	Title string
	Desc  string
	// Labels are the categories along the x axis (days, regions).
	Labels []string
	Series []Series
	// Format writes a value for labels and the table (default: an integer
	// or one decimal).
	Format func(float64) string
	// Max fixes the top of the scale (0: the largest value, rounded up).
	Max float64
	// LabelHeader heads the table's first column.
	LabelHeader string
	// Empty is shown instead of bars when there is no data.
	Empty string
}

// Geometry of the drawing (SVG user units; the SVG scales to its box).
const (
	width      = 480.0
	height     = 260.0
	padLeft    = 44.0
	padRight   = 8.0
	padTop     = 18.0
	padBottom  = 56.0
	legendRow  = 20.0
	maxSeries  = 4
	fontSize   = 14
	labelSize  = 12
	barGapFrac = 0.2
)

// colours have at least 3:1 contrast against white (WCAG 2.2 1.4.11); the
// patterns, not the colours, carry the distinction.
var colours = [maxSeries]string{"#1f4e79", "#8a4b08", "#2d6a2d", "#6b2d6b"}

func (c *Chart) format(v float64) string {
	if c.Format != nil {
		return c.Format(v)
	}
	return Number(v)
}

// Number writes an integer as is and anything else with one decimal.
func Number(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// scale returns the top of the axis and its tick step for values up to m:
// the step is 1, 2 or 5 times a power of ten, giving at most 5 steps, and
// never below 1 when the values are whole numbers (counts).
func scale(m float64, whole bool) (top, step float64) {
	if m <= 0 {
		m = 1
	}
	raw := m / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * p
	for _, f := range []float64{1, 2, 5} {
		if raw <= f*p {
			step = f * p
			break
		}
	}
	if whole && step < 1 {
		step = 1
	}
	return math.Ceil(m/step-1e-9) * step, step
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG draws the chart.
func (c *Chart) SVG() template.HTML {
	series := c.Series
	if len(series) > maxSeries {
		series = series[:maxSeries]
	}
	legendH := legendRow * float64(len(series))
	h := height + legendH
	var b strings.Builder
	id := c.ID
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" font-family="sans-serif">`,
		int(width), int(h), esc(id), esc(id))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, esc(id), esc(c.Title), esc(id), esc(c.Desc))
	b.WriteString(`<defs>`)
	for i := range series {
		b.WriteString(pattern(id, i))
	}
	b.WriteString(`</defs>`)
	b.WriteString(`<rect x="0" y="0" width="100%" height="100%" fill="#ffffff"/>`)
	plotW, plotH := width-padLeft-padRight, height-padTop-padBottom
	bottom := padTop + plotH
	peak, whole := 0.0, true
	for _, s := range series {
		for _, v := range s.Values {
			peak = math.Max(peak, v)
			whole = whole && v == math.Trunc(v)
		}
	}
	top, step := scale(peak, whole)
	if c.Max > 0 {
		top, step = scale(c.Max, whole)
	}
	// Grid and y ticks.
	for v := 0.0; v <= top+step/2; v += step {
		y := bottom - plotH*v/top
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#767676" stroke-width="0.5"/>`, num(padLeft), num(y), num(width-padRight), num(y))
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d" text-anchor="end" fill="#222222">%s</text>`, num(padLeft-4), num(y+4), labelSize, esc(c.format(v)))
	}
	if len(c.Labels) == 0 || len(series) == 0 {
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d" text-anchor="middle" fill="#222222">%s</text>`, num(width/2), num(padTop+plotH/2), fontSize+2, esc(c.Empty))
	} else {
		group := plotW / float64(len(c.Labels))
		// Axis labels that would overlap are thinned to every n-th.
		widest := 0
		for _, l := range c.Labels {
			widest = max(widest, utf8.RuneCountInString(l))
		}
		every := max(1, int(math.Ceil(float64(widest)*labelSize*0.62/group)))
		barW := group * (1 - barGapFrac) / float64(len(series))
		for li, label := range c.Labels {
			gx := padLeft + group*float64(li) + group*barGapFrac/2
			for si, s := range series {
				v := 0.0
				if li < len(s.Values) {
					v = s.Values[li]
				}
				bh := plotH * math.Min(v, top) / top
				x := gx + barW*float64(si)
				fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="url(#%s-p%d)" stroke="%s" stroke-width="1"/>`,
					num(x), num(bottom-bh), num(math.Max(barW-1, 1)), num(bh), esc(id), si, colours[si])
				// Direct label: the value above its bar (none for zero,
				// which has no bar; the table has every number).
				if v == 0 {
					continue
				}
				fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d" text-anchor="middle" fill="#222222">%s</text>`,
					num(x+barW/2), num(bottom-bh-3), labelSize, esc(c.format(v)))
			}
			if li%every != 0 {
				continue
			}
			fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d" text-anchor="middle" fill="#222222">%s</text>`,
				num(gx+group*(1-barGapFrac)/2), num(bottom+17), labelSize, esc(label))
		}
	}
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#222222" stroke-width="1"/>`, num(padLeft), num(bottom), num(width-padRight), num(bottom))
	// Legend: pattern swatch and name per series.
	for i, s := range series {
		y := height - 12 + legendRow*float64(i)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="22" height="12" fill="url(#%s-p%d)" stroke="%s" stroke-width="1"/>`, num(padLeft), num(y-10), esc(id), i, colours[i])
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="%d" fill="#222222">%s</text>`, num(padLeft+30), num(y), fontSize, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// pattern is series i's fill: a distinct texture in its colour.
func pattern(id string, i int) string {
	col := colours[i]
	open := fmt.Sprintf(`<pattern id="%s-p%d" patternUnits="userSpaceOnUse" width="8" height="8">`, esc(id), i)
	switch i {
	case 0: // solid
		return open + fmt.Sprintf(`<rect width="8" height="8" fill="%s"/></pattern>`, col)
	case 1: // diagonal stripes
		return open + fmt.Sprintf(`<rect width="8" height="8" fill="#ffffff"/><path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="%s" stroke-width="2.5"/></pattern>`, col)
	case 2: // dots
		return open + fmt.Sprintf(`<rect width="8" height="8" fill="#ffffff"/><circle cx="4" cy="4" r="2.2" fill="%s"/></pattern>`, col)
	default: // cross-hatch
		return open + fmt.Sprintf(`<rect width="8" height="8" fill="#ffffff"/><path d="M0,4 h8 M4,0 v8" stroke="%s" stroke-width="2"/></pattern>`, col)
	}
}

// Table is the chart's data as rows for an HTML table: a header row
// (LabelHeader, then the series names) and one row per label.
type Table struct {
	Header []string
	Rows   [][]string
}

// Table returns the chart's numbers.
func (c *Chart) Table() Table {
	t := Table{Header: []string{c.LabelHeader}}
	for _, s := range c.Series {
		t.Header = append(t.Header, s.Name)
	}
	for i, l := range c.Labels {
		row := []string{l}
		for _, s := range c.Series {
			v := 0.0
			if i < len(s.Values) {
				v = s.Values[i]
			}
			row = append(row, c.format(v))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
