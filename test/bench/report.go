package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// Result is one measured figure of a workload: every run's value, their
// median, and the run-to-run spread.
type Result struct {
	Workload string    // W1 ... W7
	Name     string    // what was measured, with its setup
	Unit     string    // e.g. "events/s", "ms"
	Runs     []float64 `json:",omitempty"`
	Median   float64
	Min      float64
	Max      float64
	// Spread is (max - min) / median, in percent: the run-to-run spread.
	Spread float64
	// Note says how it was measured, or why it is not available.
	Note      string `json:",omitempty"`
	Available bool
	// Fraction is the median as a fraction of the floor that bounds it,
	// measured in the same run (see floors.go); nil when no floor applies.
	Fraction *Fraction `json:",omitempty"`
}

// Fraction is a figure read against the machine's floor: 1 is the floor
// reached, 0.22 is 22% of it.
type Fraction struct {
	Of    string  // the floor (a key of Report.Floors), e.g. "engine, pebbleds"
	Floor float64 // the floor in the result's unit
	Ratio string  // "median / floor" for rates, "floor / median" for costs
	Value float64 // the median's fraction of the floor
}

// newResult summarises runs.
func newResult(workload, name, unit string, runs []float64, note string) Result {
	r := Result{Workload: workload, Name: name, Unit: unit, Runs: runs, Note: note, Available: len(runs) > 0}
	if len(runs) == 0 {
		return r
	}
	s := append([]float64(nil), runs...)
	sort.Float64s(s)
	r.Min, r.Max = s[0], s[len(s)-1]
	if len(s)%2 == 1 {
		r.Median = s[len(s)/2]
	} else {
		r.Median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if r.Median != 0 {
		r.Spread = 100 * (r.Max - r.Min) / math.Abs(r.Median)
	}
	return r
}

// unavailable is a figure that could not be measured, and why.
func unavailable(workload, name, why string) Result {
	return Result{Workload: workload, Name: name, Note: "not available: " + why}
}

// Report is what the bench writes as JSON.
type Report struct {
	Command string
	Binary  string
	Started string
	Seconds float64
	Quick   bool
	Runs    int
	Sizes   map[string]any
	Results []Result
	// Floors are the machine's floors measured in this run, by name: what
	// the fractions of Results are taken of.
	Floors map[string]Floor `json:",omitempty"`
	// Curves are the W6 and W7 series the charts draw.
	Curves map[string][]Point
}

// Point is one point of a curve.
type Point struct {
	X, Y, Min, Max float64
}

func (r *Report) add(res ...Result) {
	r.Results = append(r.Results, res...)
	for _, x := range res {
		printResult(os.Stderr, x)
	}
}

// printResult logs one figure as it is measured.
func printResult(w io.Writer, r Result) {
	if !r.Available {
		fmt.Fprintf(w, "  %s %s: %s\n", r.Workload, r.Name, r.Note)
		return
	}
	fmt.Fprintf(w, "  %s %s: %s %s [%s-%s] ±%.0f%% over %d runs%s\n", r.Workload, r.Name,
		num(r.Median), r.Unit, num(r.Min), num(r.Max), r.Spread/2, len(r.Runs), strings.TrimRight(" "+r.Fraction.String(), " "))
}

// String is "22% of engine, pebbleds"; empty for nil.
func (f *Fraction) String() string {
	if f == nil {
		return ""
	}
	return percent(f.Value) + " of " + f.Of
}

// percent formats a fraction with two significant digits at least.
func percent(v float64) string {
	p := 100 * v
	switch a := math.Abs(p); {
	case a >= 10 || a == 0:
		return fmt.Sprintf("%.0f%%", p)
	case a >= 1:
		return fmt.Sprintf("%.1f%%", p)
	default:
		return fmt.Sprintf("%.2g%%", p)
	}
}

// num formats a figure with three significant digits and thousands
// separators.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1000:
		s := fmt.Sprintf("%.0f", math.Round(v))
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// writeTable prints the results as an aligned text table.
func writeTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tmeasure\tmedian\tmin-max\tspread\truns\tunit\tof floor")
	for _, r := range results {
		if !r.Available {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t0\t%s\t\n", r.Workload, r.Name, r.Note)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s-%s\t%.0f%%\t%d\t%s\t%s\n", r.Workload, r.Name, num(r.Median), num(r.Min), num(r.Max), r.Spread, len(r.Runs), r.Unit, r.Fraction)
	}
	return tw.Flush()
}

// writeMarkdown writes the results as a Markdown table (for the README).
func writeMarkdown(w io.Writer, results []Result) {
	fmt.Fprintln(w, "| workload | measure | median | min–max | spread | runs | of floor |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		if !r.Available {
			fmt.Fprintf(w, "| %s | %s | %s | | | 0 | |\n", r.Workload, r.Name, r.Note)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s %s | %s–%s | %.0f%% | %d | %s |\n", r.Workload, r.Name, num(r.Median), r.Unit, num(r.Min), num(r.Max), r.Spread, len(r.Runs), r.Fraction)
	}
}

func writeJSON(path string, rep *Report) error {
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// percentile of sorted values (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
