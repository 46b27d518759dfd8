package pipelines

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tweetsentiment/medallion/transforms"
)

// monitored are the tables the monitoring follows, as the course's three
// streams (Table.Stream): rows per batch, and processing time under the
// table's name.
func monitored() []transforms.Table {
	var out []transforms.Table
	for _, t := range transforms.Tables {
		if t.Stream != "" {
			out = append(out, t)
		}
	}
	return out
}

// monitoringDir is the monitoring's default folder, in the lake (or in
// the working folder for a lake on an object store).
const monitoringDir = "_monitoring"

// point is one batch of one stream.
type point struct {
	At           time.Time
	Batch        int64
	Rows         int64
	ProcessingMs float64
}

// monitor keeps rows and processing time per stream, prints them every
// interval, appends them to LAKE/_monitoring/series.csv and draws charts.
type monitor struct {
	mu       sync.Mutex
	dir      string
	out      io.Writer
	series   map[string][]point
	total    map[string]int64
	interval map[string]point // since the last print
}

func newMonitor(dir string, out io.Writer) (*monitor, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &monitor{dir: dir, out: out, series: map[string][]point{}, total: map[string]int64{}, interval: map[string]point{}}, nil
}

// record adds a batch's numbers.
func (m *monitor) record(s *Summary) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	f, err := os.OpenFile(filepath.Join(m.dir, "series.csv"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, _ := f.Stat(); st != nil && st.Size() == 0 {
		fmt.Fprintln(f, "time,batch,stream,rows,processing_ms")
	}
	for _, ms := range monitored() {
		p := point{At: now, Batch: s.Batch, Rows: s.table(ms.Name).Rows, ProcessingMs: float64(s.ProcessingMicros[ms.Name]) / 1000}
		m.series[ms.Stream] = append(m.series[ms.Stream], p)
		m.total[ms.Stream] += p.Rows
		iv := m.interval[ms.Stream]
		iv.Rows += p.Rows
		iv.ProcessingMs += p.ProcessingMs
		m.interval[ms.Stream] = iv
		fmt.Fprintf(f, "%s,%d,%s,%d,%.3f\n", now.UTC().Format(time.RFC3339Nano), p.Batch, ms.Stream, p.Rows, p.ProcessingMs)
	}
	return nil
}

// print writes the numbers since the last print, like the notebook's loop.
func (m *monitor) print() {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.out, "=== metrics at %s ===\n", time.Now().Format("2006-01-02 15:04:05"))
	for _, ms := range monitored() {
		iv := m.interval[ms.Stream]
		fmt.Fprintf(m.out, "  %-14s rows last interval %8s   total %10s   processing time %8.1f ms\n",
			ms.Stream, group(iv.Rows), group(m.total[ms.Stream]), iv.ProcessingMs)
	}
	m.interval = map[string]point{}
}

var streamColors = []color.Color{color.RGBA{176, 120, 50, 255}, color.RGBA{120, 130, 150, 255}, color.RGBA{210, 170, 40, 255}}

// charts draws rows processed over time and processing time per batch over
// time, per stream, as PNG and SVG in LAKE/_monitoring, from the whole
// series kept there (every run on this lake). No series, no charts.
func (m *monitor) charts() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	series, err := readSeries(filepath.Join(m.dir, "series.csv"))
	if err != nil || len(series) == 0 {
		return nil, err
	}
	var first time.Time
	for _, ms := range monitored() {
		if ps := series[ms.Stream]; len(ps) > 0 && (first.IsZero() || ps[0].At.Before(first)) {
			first = ps[0].At
		}
	}
	var written []string
	for _, chart := range []struct {
		name, title, y string
		value          func(cum int64, p point) float64
	}{
		{"rows", "Rows processed over time", "rows (cumulative)", func(cum int64, _ point) float64 { return float64(cum) }},
		{"processing_time", "Processing time per batch", "processing time (ms)", func(_ int64, p point) float64 { return p.ProcessingMs }},
	} {
		p := plot.New()
		p.Title.Text = chart.title
		p.X.Label.Text = "seconds since the first batch"
		p.Y.Label.Text = chart.y
		p.Add(plotter.NewGrid())
		for i, ms := range monitored() {
			var xys plotter.XYs
			var cum int64
			for _, pt := range series[ms.Stream] {
				cum += pt.Rows
				xys = append(xys, plotter.XY{X: pt.At.Sub(first).Seconds(), Y: chart.value(cum, pt)})
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			line.Color, points.Color = streamColors[i], streamColors[i]
			line.Width = vg.Points(1.5)
			if ms.Name == transforms.GoldTable.Name { // gold equals silver row for row: dashes keep both visible
				line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
			}
			p.Add(line, points)
			p.Legend.Add(ms.Stream, line, points)
		}
		p.Legend.Top = false
		p.Legend.Left = false
		p.Y.Min = 0
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(m.dir, chart.name+ext)
			if err := p.Save(7*vg.Inch, 4*vg.Inch, path); err != nil {
				return nil, err
			}
			written = append(written, path)
		}
	}
	return written, nil
}

// readSeries loads LAKE/_monitoring/series.csv.
func readSeries(path string) (map[string][]point, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string][]point{}
	for _, r := range recs[min(1, len(recs)):] {
		if len(r) != 5 {
			continue
		}
		at, err1 := time.Parse(time.RFC3339Nano, r[0])
		batch, err2 := strconv.ParseInt(r[1], 10, 64)
		rows, err3 := strconv.ParseInt(r[3], 10, 64)
		ms, err4 := strconv.ParseFloat(r[4], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("%s: bad line %v", path, r)
		}
		out[r[2]] = append(out[r[2]], point{At: at, Batch: batch, Rows: rows, ProcessingMs: ms})
	}
	return out, nil
}

// MonitorBatch adds a batch run's numbers to the monitoring series in dir,
// prints them to out and redraws the charts: what a batch command shows
// after its summary.
func MonitorBatch(dir string, s *Summary, out io.Writer) error {
	m, err := newMonitor(dir, out)
	if err != nil {
		return err
	}
	if err := m.record(s); err != nil {
		return err
	}
	m.print()
	_, err = m.charts()
	return err
}
