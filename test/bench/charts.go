package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chart is one SVG the bench draws from its curves.
type chart struct {
	file, title, xlabel, ylabel string
	curves                      []string // keys of Report.Curves
}

var charts = []chart{
	{"w6-cost.svg", "W6: cost per event as the thread grows", "events in the thread", "µs per event",
		[]string{"W6 append wall µs/event", "W6 A CPU µs/event (append)", "W6 B CPU µs/event (sync)"}},
	{"w6-rss.svg", "W6: daemon memory as the thread grows", "events in the thread", "RSS, MiB",
		[]string{"W6 RSS MiB, A", "W6 RSS MiB, B"}},
	{"w6-repo.svg", "W6: repo size per event", "events in the thread", "bytes per event",
		[]string{"W6 repo bytes/event, A", "W6 repo bytes/event, B"}},
	{"w7-cpu.svg", "W7: idle CPU with many threads", "threads on the node", "% of one core",
		[]string{"W7 idle CPU % of a core"}},
	{"w7-rss.svg", "W7: memory with many threads", "threads on the node", "RSS, MiB",
		[]string{"W7 RSS MiB"}},
	{"w7-restart.svg", "W7: restart until the API answers", "threads on the node", "seconds",
		[]string{"W7 restart s"}},
	{"w7-traffic.svg", "W7: idle traffic with many threads", "threads on the node", "KiB per minute (in+out)",
		[]string{"W7 sync KiB/min", "W7 pubsub KiB/min", "W7 all libp2p KiB/min"}},
}

// rangeBars is a curve with its min-max run spread as error bars.
type rangeBars struct {
	plotter.XYs
	plotter.YErrors
}

// drawCharts writes every chart that has data into dir.
func drawCharts(dir string, curves map[string][]Point) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("charts: %w", err)
	}
	var written []string
	for _, c := range charts {
		p := plot.New()
		p.Title.Text = c.title
		p.X.Label.Text = c.xlabel
		p.Y.Label.Text = c.ylabel
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min = 0
		p.Legend.Top = true
		p.Legend.Left = true
		drawn := 0
		for i, name := range c.curves {
			pts := curves[name]
			if len(pts) == 0 {
				continue
			}
			rb := rangeBars{XYs: make(plotter.XYs, len(pts)), YErrors: make(plotter.YErrors, len(pts))}
			for j, pt := range pts {
				rb.XYs[j].X, rb.XYs[j].Y = pt.X, pt.Y
				rb.YErrors[j].Low, rb.YErrors[j].High = pt.Y-pt.Min, pt.Max-pt.Y
			}
			line, points, err := plotter.NewLinePoints(rb.XYs)
			if err != nil {
				return written, fmt.Errorf("chart %s: %w", c.file, err)
			}
			line.Color = plotutil.Color(i)
			points.Color = plotutil.Color(i)
			points.Shape = plotutil.Shape(i)
			bars, err := plotter.NewYErrorBars(rb)
			if err != nil {
				return written, fmt.Errorf("chart %s: %w", c.file, err)
			}
			bars.Color = plotutil.Color(i)
			p.Add(line, points, bars)
			p.Legend.Add(name[3:], line, points)
			drawn++
		}
		if drawn == 0 {
			continue
		}
		path := filepath.Join(dir, c.file)
		if err := p.Save(6*vg.Inch, 3.6*vg.Inch, path); err != nil {
			return written, fmt.Errorf("chart %s: %w", c.file, err)
		}
		written = append(written, path)
	}
	return written, nil
}
