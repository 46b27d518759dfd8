package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// savePlot writes a plot as PNG and SVG; it returns the PNG's name.
func savePlot(p *plot.Plot, dir, name string, w, h vg.Length) (string, error) {
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(w, h, filepath.Join(dir, name+ext)); err != nil {
			return "", fmt.Errorf("plot %s: %w", name, err)
		}
	}
	return name + ".png", nil
}

// barChart draws horizontal bars, largest at the top, so long handles are
// readable as the vertical axis' labels.
func barChart(dir, name, title, xLabel string, names []string, values []float64, c color.Color) (string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	n := len(values)
	vals := make(plotter.Values, n)
	labels := make([]string, n)
	for i := range values { // bars are drawn bottom-up: reverse so the largest is on top
		vals[n-1-i] = values[i]
		labels[n-1-i] = names[i]
	}
	if n == 0 {
		vals, labels = plotter.Values{0}, []string{"(none)"}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(11))
	if err != nil {
		return "", err
	}
	bars.Horizontal = true
	bars.Color = c
	bars.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bars)
	p.NominalY(labels...)
	p.X.Min = 0
	top := 1.0
	for _, v := range vals {
		top = max(top, v)
	}
	p.X.Max = top * 1.06 // room beyond the longest bar
	p.X.Tick.Marker = countTicks{}
	return savePlot(p, dir, name, 7*vg.Inch, vg.Length(max(len(labels), 5))*0.28*vg.Inch+1.2*vg.Inch)
}

// countTicks labels a count axis with whole numbers only.
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			continue // a fraction of a tweet is no tick
		}
		if t.Label != "" {
			t.Label = group(int64(t.Value))
		}
		out = append(out, t)
	}
	return out
}

// confusionGrid is the confusion matrix as a heat map grid.
type confusionGrid struct{ cm [2][3]int64 }

func (g confusionGrid) Dims() (c, r int)   { return 3, 2 }
func (g confusionGrid) Z(c, r int) float64 { return float64(g.cm[r][c]) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }

// blues runs from near-white to dark blue.
type blues int

func (b blues) Colors() []color.Color {
	out := make([]color.Color, int(b))
	for i := range out {
		t := float64(i) / float64(len(out)-1)
		out[i] = color.RGBA{R: uint8(235 - 200*t), G: uint8(242 - 150*t), B: uint8(250 - 90*t), A: 255}
	}
	return out
}

// confusionPlot draws given {negative, positive} × predicted {negative,
// neutral, positive} with the count in every cell.
func confusionPlot(dir string, cm [2][3]int64) (string, error) {
	p := plot.New()
	p.Title.Text = "Confusion matrix (gold rows with a given sentiment)"
	p.X.Label.Text = "predicted sentiment"
	p.Y.Label.Text = "given sentiment"
	hm := plotter.NewHeatMap(confusionGrid{cm}, blues(32))
	var xys plotter.XYs
	var labels []string
	var maxN int64
	for r := 0; r < 2; r++ {
		for c := 0; c < 3; c++ {
			maxN = max(maxN, cm[r][c])
		}
	}
	for r := 0; r < 2; r++ {
		for c := 0; c < 3; c++ {
			xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
			labels = append(labels, group(cm[r][c]))
		}
	}
	lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return "", err
	}
	for i := range lbl.TextStyle {
		r, c := i/3, i%3
		lbl.TextStyle[i].Font.Size = vg.Points(16)
		lbl.TextStyle[i].XAlign = text.XCenter
		lbl.TextStyle[i].YAlign = text.YCenter
		if maxN > 0 && float64(cm[r][c]) > 0.6*float64(maxN) {
			lbl.TextStyle[i].Color = color.White
		}
	}
	p.Add(hm, lbl)
	p.NominalX("negative", "neutral", "positive")
	p.NominalY("negative", "positive")
	return savePlot(p, dir, "confusion_matrix", 6*vg.Inch, 4*vg.Inch)
}

// numbers prints counts with thousands separators (12,345).
var numbers = message.NewPrinter(language.English)

// group formats 12345 as 12,345.
func group(v int64) string { return numbers.Sprint(v) }
