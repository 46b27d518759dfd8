//go:build integration

package pipelines

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// A real Prometheus server (Debian's package) scrapes a running stream's
// /metrics every second; after the stream ends, PromQL through its HTTP API
// gives each table's rows committed equal to the rows the lake holds.
// promtool checks the exposition, and headless Chromium loads the live page
// while the stream runs: the rows per table and the top mentions in its DOM
// equal the lake's. Reference implementations: Prometheus' scraper, storage
// and query engine, promtool's linter, and a browser running the page.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	needRuntime(t)
	for _, tool := range []string{"prometheus", "promtool", "chromium"} {
		needTool(t, tool, "/usr/bin/"+tool)
	}
	ctx := context.Background()
	m := NewMetrics()
	addr, stopServing, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stopServing()
	base := strings.TrimSuffix(addr, "/")
	prom := startPrometheus(t, strings.TrimPrefix(base, "http://"))

	in, lk := t.TempDir(), t.TempDir()
	cfg := Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Metrics: m}
	opts := StreamOptions{Trigger: 500 * time.Millisecond, IdleTimeout: 8 * time.Second, Monitor: time.Hour}
	type result struct {
		reason string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		_, reason, err := stream(ctx, cfg, prismRunner(ctx), opts, io.Discard)
		done <- result{reason, err}
	}()
	for i, w := range []gen.Options{
		{Tweets: 250, PerFile: 1, Format: "object", Seed: 41, First: 0, Profile: "realistic", Vocab: filepath.Join("..", gen.DefaultVocab)},
		{Tweets: 200, PerFile: 1, Format: "object", Seed: 42, First: 1000, Bad: 0.05, Profile: "realistic", Vocab: filepath.Join("..", gen.DefaultVocab)},
	} {
		time.Sleep(time.Second)
		w.Out = in
		if _, err := gen.Generate(w); err != nil {
			t.Fatalf("wave %d: %v", i, err)
		}
	}
	// Once every file is committed and the stream idles, the page must
	// show what the lake holds.
	deadline := time.Now().Add(60 * time.Second)
	for live := m.Snapshot(); live.State != "idle" || live.Pending != 0 || live.Batches == 0; live = m.Snapshot() {
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not idle with nothing pending: %+v", live)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkLivePage(t, cfg, addr)

	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not stop after its idle timeout")
	}
	if res.err != nil || !strings.HasPrefix(res.reason, "no new file") {
		t.Fatalf("stream ended with %q, %v", res.reason, res.err)
	}
	time.Sleep(2500 * time.Millisecond) // two more scrapes, after the last commit

	for _, name := range []string{transforms.BronzeTable.Name, transforms.QuarantineTable.Name, transforms.SilverTable.Name, transforms.GoldTable.Name} {
		rows := len(readTable(t, cfg.table(name)))
		for _, q := range []string{`medallion_rows_committed_total{table="%s"}`, `medallion_table_rows{table="%s"}`} {
			q = fmt.Sprintf(q, name)
			if got := promQuery(t, prom, q); got != float64(rows) {
				t.Errorf("PromQL %s = %v, the lake's %s table has %d rows", q, got, name, rows)
			}
		}
	}
	if got := promQuery(t, prom, `medallion_up`); got != 1 {
		t.Errorf("medallion_up = %v", got)
	}
	if got := promQuery(t, prom, `sum(medallion_landing_to_gold_seconds_count)`); got != 450 {
		t.Errorf("landing → gold observed %v files, want the 450 written", got)
	}

	// The documented alerts: promtool accepts them, Prometheus evaluates
	// each, and the stuck-stream alert is quiet for a stream with nothing
	// pending.
	rules := filepath.Join("..", "docs", "prometheus", "medallion-alerts.yml")
	if out, err := exec.Command("promtool", "check", "rules", rules).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	exprs := regexp.MustCompile(`(?ms)^\s+expr: (\|\n.*?|[^\n]*)\n\s+for:`).FindAllStringSubmatch(readFile(t, rules), -1)
	if len(exprs) != 4 {
		t.Fatalf("found %d alert expressions, want 4", len(exprs))
	}
	for _, e := range exprs {
		expr := strings.TrimPrefix(e[1], "|\n")
		n := promResults(t, prom, expr)
		if strings.Contains(expr, "medallion_pending_inputs > 0") && n != 0 {
			t.Errorf("alert %q fires for a stream with nothing pending", expr)
		}
	}

	// promtool lints the exposition as served.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lint := exec.Command("promtool", "check", "metrics")
	lint.Stdin = bytes.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// checkLivePage loads the live page in headless Chromium and compares the
// numbers its DOM shows with the lake; the page's screenshot is written to
// the test's artifact folder (go test -artifacts keeps it).
func checkLivePage(t *testing.T, cfg Config, page string) {
	t.Helper()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,800", "--virtual-time-budget=3000"}
	shot := filepath.Join(t.ArtifactDir(), "live-page.png")
	if out, err := exec.Command("chromium", append(flags, "--screenshot="+shot, page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
	t.Logf("live page screenshot: %s", shot)
	dom, err := exec.Command("chromium", append(flags, "--dump-dom", page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	html := string(dom)
	if !strings.Contains(html, `data-loaded="1"`) || !strings.Contains(html, `data-state="idle"`) {
		t.Fatalf("the page did not load its state:\n%s", html)
	}
	shown := map[string]int64{}
	for _, m := range regexp.MustCompile(`data-table="(\w+)" data-rows="(\d+)"`).FindAllStringSubmatch(html, -1) {
		shown[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
	}
	for _, name := range transforms.TableNames() {
		if rows := int64(len(readTable(t, cfg.table(name)))); shown[name] != rows {
			t.Errorf("the page shows %s with %d rows, the lake has %d", name, shown[name], rows)
		}
	}
	list := func(id string) []LiveMention {
		start := strings.Index(html, `id="`+id+`"`)
		end := strings.Index(html[start:], "</ol>")
		var out []LiveMention
		for _, m := range regexp.MustCompile(`data-mention="([^"]+)" data-count="(\d+)"`).FindAllStringSubmatch(html[start:start+end], -1) {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			out = append(out, LiveMention{Mention: m[1], Positive: n, Negative: n})
		}
		return out
	}
	checkTopMentions(t, cfg, list("top-positive"), list("top-negative"))
}

// startPrometheus runs Prometheus scraping target every second, with its
// storage in a temporary folder, and returns its address once ready.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(conf, []byte(fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: medallion\n    static_configs:\n      - targets: [%q]\n", target)), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command("prometheus", "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "http://" + addr
			}
		}
		if i > 150 {
			t.Fatalf("prometheus did not become ready: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// promResults evaluates an instant PromQL query and returns how many series
// it gave.
func promResults(t *testing.T, prom, query string) int {
	t.Helper()
	var res struct {
		Status, Error string
		Data          struct{ Result []any }
	}
	getJSON(t, prom+"/api/v1/query?query="+url.QueryEscape(query), &res)
	if res.Status != "success" {
		t.Fatalf("PromQL %s: %s", query, res.Error)
	}
	return len(res.Data.Result)
}

// promQuery evaluates an instant PromQL query with one result.
func promQuery(t *testing.T, prom, query string) float64 {
	t.Helper()
	var res struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	getJSON(t, prom+"/api/v1/query?query="+url.QueryEscape(query), &res)
	if res.Status != "success" || len(res.Data.Result) != 1 {
		t.Fatalf("PromQL %s: %+v", query, res)
	}
	v, err := strconv.ParseFloat(fmt.Sprint(res.Data.Result[0].Value[1]), 64)
	if err != nil {
		t.Fatalf("PromQL %s: %v", query, err)
	}
	return v
}

// A metrics address already in use does not fail the command: one line on
// stderr names it, and the run goes on.
func TestMetricsAddressInUseRunGoesOn(t *testing.T) {
	needRuntime(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	in, lk := t.TempDir(), t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 20, PerFile: 1, Format: "object", Seed: 43}); err != nil {
		t.Fatal(err)
	}
	stderr, stdout, code := cli(t, "run", "--input", in, "--lake", lk, "--model", demoModel, "--metrics-addr", ln.Addr().String())
	want := fmt.Sprintf("medallion: metrics: cannot listen on %s: bind: address already in use; the run goes on without metrics\n", ln.Addr())
	if code != 0 || stderr != want {
		t.Fatalf("exit %d, stderr %q, want %q\n%s", code, stderr, want, stdout)
	}
	if n := len(readTable(t, filepath.Join(lk, transforms.BronzeTable.Name))); n != 20 {
		t.Errorf("bronze has %d rows, want 20", n)
	}
}

// The README's command as a user runs it: `medallion stream --metrics-addr`
// serves /metrics and the live page while the stream runs, and the gold rows
// it counts equal gold's rows in the lake once the stream has ended by
// itself. Wiring (our own lake reader; Prometheus itself reads the metrics
// in TestMetricsScrapedByPrometheus).
func TestMetricsStreamCommand(t *testing.T) {
	needRuntime(t)
	in, lk := t.TempDir(), t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 30, PerFile: 1, Format: "object", Seed: 44}); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", loopbackPort(t))
	model, _ := filepath.Abs(demoModel)
	cmd := exec.Command(medallionBin(t), "stream", "--input", in, "--lake", lk, "--model", model, "--metrics-addr", addr,
		"--trigger", "1s", "--idle-timeout", "4s", "--monitoring", t.TempDir())
	cmd.Dir = t.TempDir()
	ortLib, _ := filepath.Abs(inference.LibraryPath()) // the command looks for ONNX Runtime from its folder otherwise
	cmd.Env = append(os.Environ(), "ORT_LIB="+ortLib)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	goldLine := regexp.MustCompile(`(?m)^medallion_rows_committed_total\{table="gold"\} (\d+)$`)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var gold int64 // the last scrape's count: the stream ends 4 s after its last commit
	page := ""
	timeout := time.After(2 * time.Minute)
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("stream: %v\n%s", err, out.String())
			}
			running = false
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("the stream did not end within 2 minutes\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
			if m := goldLine.FindStringSubmatch(get("/metrics")); m != nil {
				gold, _ = strconv.ParseInt(m[1], 10, 64)
			}
			if page == "" {
				page = get("/")
			}
		}
	}
	if !strings.Contains(page, `id="state"`) {
		t.Errorf("%s/ is not the live page: %.300s", addr, page)
	}
	if rows := int64(len(readTable(t, filepath.Join(lk, transforms.GoldTable.Name)))); rows == 0 || rows != gold {
		t.Errorf("gold holds %d rows, /metrics counted %d", rows, gold)
	}
}
