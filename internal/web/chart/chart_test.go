package chart

import (
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// node is a generic XML element for walking the SVG.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Content  string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) walk(fn func(node)) {
	fn(n)
	for _, c := range n.Children {
		c.walk(fn)
	}
}

func parse(t *testing.T, svg string) node {
	t.Helper()
	var root node
	if err := xml.Unmarshal([]byte(svg), &root); err != nil {
		t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg)
	}
	return root
}

func TestSVG(t *testing.T) {
	c := Chart{ID: "lpd", Title: "Писем в день", Desc: "По маршрутам, 3 дня", LabelHeader: "День",
		Labels: []string{"1 нояб.", "2 нояб.", "<3>"},
		Series: []Series{{Name: "электронно", Values: []float64{4, 8, 0}}, {Name: "печать & <b>", Values: []float64{1, 2, 3}}}}
	root := parse(t, string(c.SVG()))
	if root.XMLName.Local != "svg" || root.attr("role") != "img" || root.attr("aria-labelledby") != "lpd-t lpd-d" {
		t.Fatalf("svg element: %+v", root.Attrs)
	}
	var title, desc string
	var bars []node
	var texts []string
	patterns := map[string]bool{}
	root.walk(func(n node) {
		switch n.XMLName.Local {
		case "title":
			title = n.Content
		case "desc":
			desc = n.Content
		case "pattern":
			patterns[n.attr("id")] = true
		case "rect":
			if strings.HasPrefix(n.attr("fill"), "url(#lpd-p") && n.attr("width") != "22" {
				bars = append(bars, n)
			}
		case "text":
			texts = append(texts, n.Content)
		}
	})
	if title != c.Title || desc != c.Desc {
		t.Fatalf("title %q desc %q", title, desc)
	}
	if len(patterns) != 2 || !patterns["lpd-p0"] || !patterns["lpd-p1"] {
		t.Fatalf("patterns %v", patterns)
	}
	if len(bars) != 6 {
		t.Fatalf("%d bars, want 6", len(bars))
	}
	// Heights are proportional: the scale tops at 8 (steps of 2).
	h := func(i int) float64 { v, _ := strconv.ParseFloat(bars[i].attr("height"), 64); return v }
	plot := height - padTop - padBottom
	for i, want := range []float64{4, 1, 8, 2, 0, 3} {
		if got := h(i) / plot * 8; got < want-0.01 || got > want+0.01 {
			t.Errorf("bar %d: value %.2f, want %v", i, got, want)
		}
	}
	// Each series has its own pattern; direct labels, axis labels (escaped
	// text survives as text) and the legend are there.
	if bars[0].attr("fill") == bars[1].attr("fill") {
		t.Error("two series share a fill")
	}
	for _, want := range []string{"4", "8", "3", "1 нояб.", "<3>", "электронно", "печать & <b>", "6"} {
		if !slices.Contains(texts, want) {
			t.Errorf("no text %q in %q", want, texts)
		}
	}
}

func TestEmptyAndTable(t *testing.T) {
	c := Chart{ID: "e", Title: "t", Empty: "Нет данных", Series: []Series{{Name: "a"}}}
	if !strings.Contains(string(c.SVG()), "Нет данных") {
		t.Fatal("empty chart says nothing")
	}
	parse(t, string(c.SVG()))
	c = Chart{ID: "r", LabelHeader: "Регион", Labels: []string{"220", "246"}, Format: func(v float64) string { return Number(v) + " %" },
		Series: []Series{{Name: "доля", Values: []float64{50, 12.5}}}, Max: 100}
	tab := c.Table()
	if !slices.Equal(tab.Header, []string{"Регион", "доля"}) || len(tab.Rows) != 2 || !slices.Equal(tab.Rows[1], []string{"246", "12.5 %"}) {
		t.Fatalf("table %+v", tab)
	}
	// A fixed maximum caps the scale: 100 % is the top grid line.
	if !strings.Contains(string(c.SVG()), ">100 %<") {
		t.Fatal("fixed maximum not on the scale")
	}
}

func TestScale(t *testing.T) {
	for _, tc := range []struct {
		max       float64
		whole     bool
		top, step float64
	}{
		{0, true, 1, 1}, {1, true, 1, 1}, {3, true, 3, 1}, {7, true, 8, 2}, {8, true, 8, 2}, {11, true, 15, 5},
		{28, true, 30, 10}, {180, true, 200, 50}, {100, false, 100, 20}, {0.3, false, 0.3, 0.1},
	} {
		top, step := scale(tc.max, tc.whole)
		if math.Abs(top-tc.top) > 1e-9 || math.Abs(step-tc.step) > 1e-9 {
			t.Errorf("scale(%v, %v) = %v, %v; want %v, %v", tc.max, tc.whole, top, step, tc.top, tc.step)
		}
	}
}

// TestThinLabels: fourteen day labels do not all fit a phone-sized chart:
// every other one is drawn, and the table keeps all of them.
func TestThinLabels(t *testing.T) {
	c := Chart{ID: "d", Series: []Series{{Name: "a", Values: make([]float64, 14)}, {Name: "b", Values: make([]float64, 14)}}}
	for i := range 14 {
		c.Labels = append(c.Labels, fmt.Sprintf("%02d.11", i+1))
	}
	svg := string(c.SVG())
	if !strings.Contains(svg, ">01.11<") || strings.Contains(svg, ">02.11<") || !strings.Contains(svg, ">03.11<") {
		t.Errorf("labels not thinned to every other one")
	}
	if len(c.Table().Rows) != 14 {
		t.Error("the table lost rows")
	}
}
