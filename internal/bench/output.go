package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// wireResult is the JSON form of a Result: durations in milliseconds,
// RSS in bytes, "ratio" only next to a baseline.
type wireResult struct {
	Scenario          string         `json:"scenario"`
	Items             int64          `json:"items"`
	Seconds           float64        `json:"seconds"`
	Throughput        float64        `json:"throughput"`
	P50ms             float64        `json:"p50_ms"`
	P95ms             float64        `json:"p95_ms"`
	P99ms             float64        `json:"p99_ms"`
	CPUSecondsPerItem float64        `json:"cpu_seconds_per_item"`
	PeakRSSBytes      int64          `json:"peak_rss_bytes"`
	Params            map[string]any `json:"params,omitempty"`
	Baseline          *Result        `json:"baseline,omitempty"`
	Ratio             *float64       `json:"ratio,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MarshalJSON writes the scenario's figures, its baseline's under
// "baseline", and "ratio" (throughput ÷ baseline throughput).
func (r *Result) MarshalJSON() ([]byte, error) {
	w := wireResult{
		Scenario: r.Scenario, Items: r.Items, Seconds: r.Seconds, Throughput: r.Throughput,
		P50ms: ms(r.P50), P95ms: ms(r.P95), P99ms: ms(r.P99),
		CPUSecondsPerItem: r.CPUSecondsPerItem, PeakRSSBytes: r.PeakRSS, Params: r.Params, Baseline: r.Baseline,
	}
	if r.Baseline != nil {
		ratio := r.Ratio
		w.Ratio = &ratio
	}
	return json.Marshal(w)
}

// WriteJSON writes r as one JSON object and a newline.
func WriteJSON(w io.Writer, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteTable prints the result and its baseline as a table, the ratio,
// then the parameters (multi-line ones, such as query plans, last).
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\titems\tseconds\titems/s\tp50 ms\tp95 ms\tp99 ms\tCPU ms/item\tpeak RSS MiB\t")
	row := func(name string, x *Result) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t%.3f\t%.0f\t\n", name, x.Items, x.Seconds, x.Throughput,
			ms(x.P50), ms(x.P95), ms(x.P99), x.CPUSecondsPerItem*1000, float64(x.PeakRSS)/(1<<20))
	}
	row(r.Scenario, r)
	if r.Baseline != nil {
		row(r.Baseline.Scenario, r.Baseline)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Baseline != nil {
		fmt.Fprintf(w, "ratio (throughput ÷ baseline throughput): %.3f\n", r.Ratio)
	} else {
		fmt.Fprintln(w, "no baseline in this run")
	}
	writeParams(w, r.Scenario, r.Params)
	if r.Baseline != nil {
		writeParams(w, r.Baseline.Scenario, r.Baseline.Params)
	}
	return nil
}

func writeParams(w io.Writer, name string, p map[string]any) {
	if len(p) == 0 {
		return
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var short, long []string
	for _, k := range keys {
		v := fmt.Sprint(p[k])
		if strings.Contains(v, "\n") {
			long = append(long, k)
			continue
		}
		short = append(short, k+"="+v)
	}
	fmt.Fprintf(w, "%s: %s\n", name, strings.Join(short, " "))
	for _, k := range long {
		fmt.Fprintf(w, "%s %s:\n", name, k)
		for _, line := range strings.Split(strings.TrimRight(fmt.Sprint(p[k]), "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}
