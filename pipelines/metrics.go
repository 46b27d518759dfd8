package pipelines

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// Metrics are a run's Prometheus metrics and what its live page shows.
// Rows, versions, quarantine and latencies come from the batches' commits
// and the tables' logs, so they are the same on every runner and agree with
// the lake; the inference metrics are kept by the model's session runs in
// this process (see inference.Collectors). A run updates them when it
// commits a batch (Config.Metrics); nothing they do fails a run. The
// methods of nil Metrics do nothing.
type Metrics struct {
	reg           *prometheus.Registry
	rowsCommitted *prometheus.CounterVec
	tableVersion  *prometheus.GaugeVec
	tableRows     *prometheus.GaugeVec
	quarantined   *prometheus.CounterVec
	batches       prometheus.Counter
	batchSeconds  prometheus.Histogram
	landingToGold prometheus.Histogram
	pending       prometheus.Gauge
	modelInfo     *prometheus.GaugeVec

	mu   sync.Mutex
	live Live
}

// latencyBuckets span a trigger's fraction of a second to an hour.
var latencyBuckets = prometheus.ExponentialBuckets(0.25, 2, 15)

// NewMetrics returns a run's metrics, registered with the Go and process
// collectors in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rowsCommitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medallion_rows_committed_total",
			Help: "Rows the batches this process completed added to each table (for application: rows rewritten), from their commits.",
		}, []string{"table"}),
		tableVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medallion_table_version",
			Help: "Each table's latest Delta version (-1: no table yet).",
		}, []string{"table"}),
		tableRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medallion_table_rows",
			Help: "Rows each table holds at its latest version, from its log's file statistics.",
		}, []string{"table"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medallion_quarantined_total",
			Help: "Quarantine rows the batches this process completed committed, by stage and reason category.",
		}, []string{"stage", "reason"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medallion_batches_committed_total",
			Help: "Batches (or table offsets) this process saw committed to every table.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "medallion_batch_duration_seconds",
			Help:    "From a batch's plan to its last table commit.",
			Buckets: latencyBuckets,
		}),
		landingToGold: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "medallion_landing_to_gold_seconds",
			Help:    "From a file's landing (its modification time) to its batch's gold commit.",
			Buckets: latencyBuckets,
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medallion_pending_inputs",
			Help: "Input files (a Kafka input: offsets) seen and not yet committed: unplanned ones and those of batches in flight.",
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "medallion_model_info",
			Help: "The model the run scores with (1), by registered name, version and URI.",
		}, []string{"name", "version", "uri"}),
	}
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "medallion_up", Help: "1 while the run serves its metrics."})
	up.Set(1)
	m.reg.MustRegister(m.rowsCommitted, m.tableVersion, m.tableRows, m.quarantined, m.batches, m.batchSeconds,
		m.landingToGold, m.pending, m.modelInfo, up,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(inference.Collectors()...)
	for _, t := range transforms.TableNames() {
		m.rowsCommitted.WithLabelValues(t)
	}
	m.live = Live{State: "starting", Since: time.Now().UTC(), Pending: -1}
	return m
}

// Registry is what /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Live is what the live page shows, as /api/live serves it.
type Live struct {
	State   string      `json:"state"` // starting, running, idle, stopping, stopped, done, failed
	Since   time.Time   `json:"since"`
	Reason  string      `json:"reason,omitempty"`
	Input   string      `json:"input"`
	Lake    string      `json:"lake"`
	Trigger string      `json:"trigger,omitempty"`
	Model   LiveModel   `json:"model"`
	Tables  []LiveTable `json:"tables"`
	Batches int64       `json:"batches"`
	// LastBatch is the last batch committed (-1: none yet in this run).
	LastBatch   int64            `json:"last_batch"`
	Quarantined map[string]int64 `json:"quarantined"` // "stage/reason" → rows, this run
	Pending     int              `json:"pending"`     // -1: not counted
	// Series are the batches of the last LiveWindow, oldest first.
	Series      []LivePoint   `json:"series"`
	TopPositive []LiveMention `json:"top_positive"`
	TopNegative []LiveMention `json:"top_negative"`
	Updated     time.Time     `json:"updated"`
}

// LiveModel is the model in use.
type LiveModel struct {
	URI     string `json:"uri"`
	Name    string `json:"name,omitempty"`
	Version int    `json:"version,omitempty"`
	Dir     string `json:"dir,omitempty"`
}

// LiveTable is one table as its log has it.
type LiveTable struct {
	Name    string `json:"name"`
	Version int64  `json:"version"` // -1: no table
	Rows    int64  `json:"rows"`
}

// LivePoint is one committed batch: rows and latency (plan to commit) per
// monitored stream (the course's bronze_stream, silver_stream, gold_stream).
type LivePoint struct {
	At        time.Time          `json:"at"`
	Batch     int64              `json:"batch"`
	Rows      map[string]int64   `json:"rows"`
	LatencyMs map[string]float64 `json:"latency_ms"`
}

// LiveMention is one mention's counts in the application table.
type LiveMention struct {
	Mention  string `json:"mention"`
	Negative int64  `json:"negative"`
	Neutral  int64  `json:"neutral"`
	Positive int64  `json:"positive"`
	Total    int64  `json:"total"`
}

// LiveWindow is how far back the live page's charts go.
const LiveWindow = 10 * time.Minute

// Snapshot returns what the live page shows now.
func (m *Metrics) Snapshot() Live {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.live
	l.Tables = slices.Clone(l.Tables)
	l.Series = slices.Clone(l.Series)
	l.Quarantined = make(map[string]int64, len(m.live.Quarantined))
	for k, v := range m.live.Quarantined {
		l.Quarantined[k] = v
	}
	return l
}

// start records what the run reads and writes, and the tables as they are.
func (m *Metrics) start(ctx context.Context, c Config, trigger time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.live.Input, m.live.Lake, m.live.LastBatch = c.Input, c.Lake, -1
	if trigger > 0 {
		m.live.Trigger = trigger.String()
	}
	m.mu.Unlock()
	m.readLake(ctx, c)
}

// setModel records the model a run resolved.
func (m *Metrics) setModel(uri string, res tracking.Resolved) {
	if m == nil {
		return
	}
	version := ""
	if res.Version > 0 {
		version = strconv.Itoa(res.Version)
	}
	m.modelInfo.Reset()
	m.modelInfo.WithLabelValues(res.Name, version, uri).Set(1)
	m.mu.Lock()
	m.live.Model = LiveModel{URI: uri, Name: res.Name, Version: res.Version, Dir: res.Dir}
	m.mu.Unlock()
}

// setState records the run's state; the time since it holds changes only
// with the state.
func (m *Metrics) setState(state, reason string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live.State != state {
		m.live.State, m.live.Since = state, time.Now().UTC()
	}
	m.live.Reason = reason
	m.live.Updated = time.Now().UTC()
}

// setPending records the backlog.
func (m *Metrics) setPending(n int) {
	if m == nil {
		return
	}
	m.pending.Set(float64(n))
	m.mu.Lock()
	m.live.Pending = n
	m.mu.Unlock()
}

// countBacklog sets the pending inputs to what b counts now; a count that
// fails is logged and leaves the gauge as it was.
func (m *Metrics) countBacklog(ctx context.Context, b *backlog) {
	if m == nil || b == nil {
		return
	}
	n, err := b.count(ctx)
	if err != nil {
		slog.Warn("metrics: count pending inputs", "err", err)
		return
	}
	m.setPending(n)
}

// batch records a batch every table committed.
func (m *Metrics) batch(ctx context.Context, c Config, s *Summary) {
	if m == nil {
		return
	}
	m.batches.Inc()
	for _, t := range s.Tables {
		m.rowsCommitted.WithLabelValues(t.Name).Add(float64(t.Rows))
	}
	for k, n := range s.QuarantineByReason {
		stage, reason, _ := strings.Cut(k, "/")
		m.quarantined.WithLabelValues(stage, reason).Add(float64(n))
	}
	var last time.Time
	for _, t := range s.Tables {
		if t.Committed.After(last) {
			last = t.Committed
		}
	}
	if !s.Planned.IsZero() && !last.IsZero() {
		m.batchSeconds.Observe(max(last.Sub(s.Planned).Seconds(), 0))
	}
	if gold := s.table(transforms.GoldTable.Name).Committed; !gold.IsZero() {
		for _, at := range s.Landed {
			m.landingToGold.Observe(max(gold.Sub(at).Seconds(), 0))
		}
	}
	p := LivePoint{At: time.Now().UTC(), Batch: s.Batch, Rows: map[string]int64{}, LatencyMs: map[string]float64{}}
	for _, t := range monitored() {
		p.Rows[t.Stream] = s.table(t.Name).Rows
		if at := s.table(t.Name).Committed; !s.Planned.IsZero() && !at.IsZero() {
			p.LatencyMs[t.Stream] = max(float64(at.Sub(s.Planned).Microseconds())/1000, 0)
		} else {
			p.LatencyMs[t.Stream] = float64(s.ProcessingMicros[t.Name]) / 1000
		}
	}
	m.mu.Lock()
	m.live.Batches++
	m.live.LastBatch = s.Batch
	if m.live.Quarantined == nil {
		m.live.Quarantined = map[string]int64{}
	}
	for k, n := range s.QuarantineByReason {
		m.live.Quarantined[k] += n
	}
	m.live.Series = append(m.live.Series, p)
	for len(m.live.Series) > 0 && p.At.Sub(m.live.Series[0].At) > LiveWindow {
		m.live.Series = m.live.Series[1:]
	}
	if s.Stages.has(transforms.GoldApplication) {
		m.live.TopPositive, m.live.TopNegative = liveMentions(s.TopPositive), liveMentions(s.TopNegative)
	}
	m.mu.Unlock()
	m.readLake(ctx, c)
}

func liveMentions(rows []transforms.ApplicationRow) []LiveMention {
	out := make([]LiveMention, len(rows))
	for i, r := range rows {
		out[i] = LiveMention{Mention: r.Mention, Negative: r.Negative, Neutral: r.Neutral, Positive: r.Positive, Total: r.Total}
	}
	return out
}

// readLake sets each table's version and rows from its log.
func (m *Metrics) readLake(ctx context.Context, c Config) {
	var tables []LiveTable
	for _, name := range transforms.TableNames() {
		lt := LiveTable{Name: name, Version: -1}
		t := lake.Open(c.table(name))
		if ok, err := t.Exists(ctx); err != nil {
			slog.Warn("metrics: read table", "table", name, "err", err)
		} else if ok {
			snap, err := t.Snapshot(ctx, -1)
			if err != nil {
				slog.Warn("metrics: read table", "table", name, "err", err)
				continue
			}
			lt.Version = snap.Version
			lt.Rows, _ = snap.NumRecords()
		}
		m.tableVersion.WithLabelValues(name).Set(float64(lt.Version))
		m.tableRows.WithLabelValues(name).Set(float64(lt.Rows))
		tables = append(tables, lt)
	}
	m.mu.Lock()
	m.live.Tables = tables
	m.live.Updated = time.Now().UTC()
	m.mu.Unlock()
}
