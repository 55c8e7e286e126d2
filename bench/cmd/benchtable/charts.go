package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// family is a benchmark without its sub-benchmarks: "BenchmarkEcho".
func family(group string) string {
	name, _, _ := strings.Cut(group, "/")
	name, _, _ = strings.Cut(name, " ")
	return name
}

// palette colours the contenders, in order of appearance.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// charts writes one SVG per benchmark family into dir: for each of its
// groups (a size, a document, a CPU count), one bar per contender with its
// median on the group's primary metric as a ratio to C (raw coder), so
// that lower is better for every chart (a rate is inverted), and the floor
// C marked by a line at 1. It returns the files' names, in order.
func charts(res results, order []string, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	type cell struct{ group, server string }
	values := map[cell]float64{}
	var families []string
	groups := map[string][]string{}
	servers := map[string][]string{}
	for _, name := range order {
		g, s := split(name)
		if s == "" {
			continue
		}
		f := family(g)
		if !slices.Contains(families, f) {
			families = append(families, f)
		}
		if !slices.Contains(groups[f], g) {
			groups[f] = append(groups[f], g)
		}
		if !slices.Contains(servers[f], s) {
			servers[f] = append(servers[f], s)
		}
		metric, _ := primary(g)
		values[cell{g, s}] = median(res[name][metric])
	}
	var files []string
	for _, f := range families {
		p := plot.New()
		metric, higher := primary(groups[f][0])
		p.Title.Text = fmt.Sprintf("%s: %s as a ratio to raw coder/websocket (C); lower is better", strings.TrimPrefix(f, "Benchmark"), metric)
		if higher {
			p.Title.Text = fmt.Sprintf("%s: C's %s over each contender's; lower is better", strings.TrimPrefix(f, "Benchmark"), metric)
		}
		p.Y.Label.Text = "x C"
		labels := make([]string, len(groups[f]))
		for i, g := range groups[f] {
			labels[i] = strings.TrimPrefix(strings.TrimPrefix(g, f), "/")
		}
		width := vg.Points(min(18, 300/float64(len(servers[f])+1)))
		drawn, top := 0, 1.0
		for i, s := range servers[f] {
			bars := make(plotter.Values, len(groups[f]))
			any := false
			for j, g := range groups[f] {
				c, v := values[cell{g, "coder"}], values[cell{g, s}]
				switch {
				case c == 0 || v == 0:
				case higher:
					bars[j], any = c/v, true
				default:
					bars[j], any = v/c, true
				}
			}
			if !any {
				continue
			}
			top = max(top, slices.Max(bars))
			b, err := plotter.NewBarChart(bars, width)
			if err != nil {
				return nil, err
			}
			b.Color = palette[i%len(palette)]
			b.LineStyle.Width = 0
			b.Offset = width * vg.Length(float64(drawn)-float64(len(servers[f]))/2)
			p.Add(b)
			p.Legend.Add(s, b)
			drawn++
		}
		floor := plotter.NewFunction(func(float64) float64 { return 1 })
		floor.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		floor.Width = vg.Points(1)
		p.Add(floor)
		p.Legend.Add("C (the floor: 1)", floor)
		p.Legend.Top = true
		p.Legend.Left = false
		p.Legend.XOffs = -vg.Points(5)
		p.NominalX(labels...)
		p.Y.Min, p.Y.Max = 0, top*1.4 // room for the legend above the bars
		name := strings.ToLower(strings.TrimPrefix(f, "Benchmark")) + ".svg"
		if err := p.Save(vg.Length(max(8, len(groups[f])*3+2))*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name)); err != nil {
			return nil, err
		}
		files = append(files, name)
	}
	return files, nil
}
