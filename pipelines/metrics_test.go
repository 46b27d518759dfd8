package pipelines

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// The metrics of a batch run, as /metrics serves them (parsed with
// Prometheus' own text parser), and /api/live, against the lake the run
// wrote (read with our reader) and its plans. Wiring: the expected values
// come from our own lake reader; the Prometheus-server test
// (TestMetricsScrapedByPrometheus) is the reference check.
func TestMetricsFollowCommits(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	in, lk := t.TempDir(), t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 300, PerFile: 1, Format: "object", Seed: 31, Bad: 0.05}); err != nil {
		t.Fatal(err)
	}
	// The inference metrics are the process's: count this run's share.
	textsBefore := value(t, gatherText(t, NewMetrics()), "medallion_inference_texts_total", nil)
	m := NewMetrics()
	cfg := Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1,
		MaxBatchBytes: 16 << 10, Metrics: m}
	if _, err := Run(ctx, cfg, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	families := scrape(t, srv.URL+"/metrics")

	cp, err := openCheckpoint(ctx, lk)
	if err != nil || cp.last == nil || cp.last.Batch < 1 {
		t.Fatalf("want several batches (last plan %v): %v", cp.last != nil && cp.last.Batch > 0, err)
	}
	if got := value(t, families, "medallion_batches_committed_total", nil); got != float64(cp.last.Batch+1) {
		t.Errorf("batches committed = %v, want %d", got, cp.last.Batch+1)
	}
	for _, name := range []string{transforms.BronzeTable.Name, transforms.SilverTable.Name, transforms.QuarantineTable.Name, transforms.GoldTable.Name} {
		rows := float64(len(readTable(t, cfg.table(name))))
		if got := value(t, families, "medallion_rows_committed_total", map[string]string{"table": name}); got != rows {
			t.Errorf("rows committed to %s = %v, the table has %v", name, got, rows)
		}
		if got := value(t, families, "medallion_table_rows", map[string]string{"table": name}); got != rows {
			t.Errorf("table rows of %s = %v, the table has %v", name, got, rows)
		}
	}
	for _, name := range transforms.TableNames() {
		snap, err := lake.Open(cfg.table(name)).Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		if got := value(t, families, "medallion_table_version", map[string]string{"table": name}); got != float64(snap.Version) {
			t.Errorf("version of %s = %v, want %d", name, got, snap.Version)
		}
	}
	// Quarantine by stage and reason category, recounted from the table.
	want := map[string]float64{}
	for _, r := range readTable(t, cfg.table(transforms.QuarantineTable.Name)) {
		cat, _, _ := strings.Cut(r["reason"].(string), ":")
		want[r["stage"].(string)+"/"+cat]++
	}
	got := map[string]float64{}
	for _, mt := range families["medallion_quarantined_total"].GetMetric() {
		l := labels(mt)
		got[l["stage"]+"/"+l["reason"]] = mt.GetCounter().GetValue()
	}
	if len(want) == 0 || !equalMaps(got, want) {
		t.Errorf("quarantined = %v, the table has %v", got, want)
	}
	files := 0
	for b := int64(0); b <= cp.last.Batch; b++ {
		files += len(cp.byBatch[b].Files)
	}
	if h := families["medallion_landing_to_gold_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != uint64(files) {
		t.Errorf("landing → gold observed %d files, the plans hold %d", h.GetSampleCount(), files)
	}
	if h := families["medallion_batch_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != uint64(cp.last.Batch+1) || h.GetSampleSum() <= 0 {
		t.Errorf("batch durations: %d observed, sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	if got := value(t, families, "medallion_pending_inputs", nil); got != 0 {
		t.Errorf("pending inputs after the run = %v, want 0", got)
	}
	gold := float64(len(readTable(t, cfg.table(transforms.GoldTable.Name))))
	if got := value(t, families, "medallion_inference_texts_total", nil) - textsBefore; got <= 0 || got > gold {
		t.Errorf("texts inferred = %v, want 1..%v (gold rows; repeated texts are cached)", got, gold)
	}
	if info := families["medallion_model_info"].GetMetric(); len(info) != 1 || labels(info[0])["uri"] != demoModel {
		t.Errorf("model info %v", info)
	}
	for _, name := range []string{"medallion_up", "go_goroutines", "process_resident_memory_bytes"} {
		if families[name] == nil {
			t.Errorf("%s is not served", name)
		}
	}

	var live Live
	getJSON(t, srv.URL+"/api/live", &live)
	if live.State != "done" || live.Batches != cp.last.Batch+1 || live.Pending != 0 {
		t.Errorf("live state %q, batches %d, pending %d", live.State, live.Batches, live.Pending)
	}
	for _, lt := range live.Tables {
		if n := int64(len(readTable(t, cfg.table(lt.Name)))); lt.Rows != n {
			t.Errorf("live page: %s has %d rows, the table %d", lt.Name, lt.Rows, n)
		}
	}
	checkTopMentions(t, cfg, live.TopPositive, live.TopNegative)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	offline := strings.ReplaceAll(string(page), "http://www.w3.org/2000/svg", "") // a namespace, not a fetch
	if !strings.Contains(string(page), `fetch("api/live"`) || strings.Contains(offline, "http://") || strings.Contains(offline, "https://") {
		t.Error("the live page should poll api/live and load nothing from elsewhere")
	}
}

// A metrics address in use is one line naming it, before anything runs.
func TestMetricsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, _, err = NewMetrics().Serve(ln.Addr().String())
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "cannot listen on "+ln.Addr().String()) ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
}

// checkTopMentions checks lists of most positive and most negative mentions
// against the application table: each count is the table's, the lists run
// from the most down, and no mention left out has more than the last shown.
func checkTopMentions(t *testing.T, cfg Config, positive, negative []LiveMention) {
	t.Helper()
	app := map[string]map[string]any{}
	for _, r := range readTable(t, cfg.table(transforms.ApplicationTable.Name)) {
		app[r["mention"].(string)] = r
	}
	for _, list := range []struct {
		col   string
		shown []LiveMention
		count func(LiveMention) int64
	}{
		{"positive", positive, func(m LiveMention) int64 { return m.Positive }},
		{"negative", negative, func(m LiveMention) int64 { return m.Negative }},
	} {
		if len(list.shown) == 0 {
			t.Errorf("no %s mention shown", list.col)
			continue
		}
		in := map[string]bool{}
		for i, m := range list.shown {
			in[m.Mention] = true
			r := app[m.Mention]
			if r == nil || r[list.col].(int64) != list.count(m) {
				t.Errorf("%s mention %s shows %d, the table has %v", list.col, m.Mention, list.count(m), r)
			}
			if i > 0 && list.count(m) > list.count(list.shown[i-1]) {
				t.Errorf("%s mentions out of order at %s", list.col, m.Mention)
			}
		}
		last := list.count(list.shown[len(list.shown)-1])
		for name, r := range app {
			if !in[name] && r[list.col].(int64) > last {
				t.Errorf("%s mention %s (%v) has more than the last shown (%d)", list.col, name, r[list.col], last)
			}
		}
	}
}

// gatherText is m's exposition, parsed.
func gatherText(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return scrape(t, srv.URL+"/metrics")
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value is the value of the sample of family name with these labels.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	for _, m := range families[name].GetMetric() {
		l := labels(m)
		match := true
		for k, v := range want {
			match = match && l[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no sample %s%v", name, want)
	return 0
}

func equalMaps(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
