package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
	"github.com/tweetsentiment/medallion/transforms"
)

// writeTable commits rows as one data file of a new table.
func writeTable(t *testing.T, dir string, schema lake.Schema, rows []deltaio.Row, params map[string]string) {
	t.Helper()
	ctx := context.Background()
	as, err := schema.ArrowSchema()
	if err != nil {
		t.Fatal(err)
	}
	tbl := lake.Open(dir)
	w, err := tbl.NewDataWriter(ctx, as, lake.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	for _, r := range rows {
		r.AppendTo(b)
	}
	rec := b.NewRecordBatch()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	add, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Append(ctx, schema, []lake.AddFile{add}, lake.WriteOptions{Parameters: params}); err != nil {
		t.Fatal(err)
	}
}

func sp(s string) *string { return &s }

// A lake small enough to know every answer by hand.
func TestEDAOnAKnownLake(t *testing.T) {
	root := t.TempDir()
	raw := filepath.Join(root, "raw")
	os.MkdirAll(raw, 0o755)
	os.WriteFile(filepath.Join(raw, "0.json"), []byte(`{"text":"hi"}`), 0o644)
	os.WriteFile(filepath.Join(raw, "1.json"), []byte(`{"text":"there"}`), 0o644)
	os.WriteFile(filepath.Join(raw, ".tmp-2.json"), []byte(`ignored`), 0o644)
	lk := filepath.Join(root, "lake")
	src := filepath.Join(raw, "0.json")
	writeTable(t, transforms.BronzeTable.Location(lk), transforms.BronzeSchema, []deltaio.Row{
		transforms.BronzeRow{Date: sp("d"), User: sp("ann"), Text: sp("@bob hi"), Sentiment: sp("positive"), SourceFile: src},
		transforms.BronzeRow{Date: sp("d"), User: sp("ann"), Text: sp("no mention"), Sentiment: sp("negative"), SourceFile: src},
		transforms.BronzeRow{Date: nil, User: sp("cy"), Text: sp(" "), Sentiment: sp("negative"), SourceFile: src},
		transforms.BronzeRow{Date: sp("d"), User: nil, Text: nil, Sentiment: nil, SourceFile: src},
	}, nil)
	writeTable(t, transforms.SilverTable.Location(lk), transforms.SilverSchema, []deltaio.Row{
		transforms.SilverRow{Mention: "bob", CleanedText: "hi", Sentiment: sp("positive")},
	}, nil)
	// Given × predicted: pos→pos ×3, pos→neu ×1, pos→neg ×1, neg→neg ×2, neg→pos ×1, and a row without a given label.
	var gold []deltaio.Row
	add := func(n int, given *string, pred string) {
		for i := 0; i < n; i++ {
			g := transforms.GoldFrom(transforms.SilverRow{Mention: "bob", CleanedText: "x", Sentiment: given, Timestamp: int64(i)},
				inference.Prediction{Sentiment: pred, Score: 90})
			gold = append(gold, g)
		}
	}
	add(3, sp("positive"), "positive")
	add(1, sp("positive"), "neutral")
	add(1, sp("positive"), "negative")
	add(2, sp("negative"), "negative")
	add(1, sp("negative"), "positive")
	add(1, nil, "positive")
	writeTable(t, transforms.GoldTable.Location(lk), transforms.GoldSchema, gold,
		transforms.Lineage{Stage: transforms.SilverGold.String(), Table: transforms.SilverTable.Name, To: transforms.Int64(0), Mode: "full",
			Model: &transforms.ModelInfo{URI: "models:/m/Production", Name: "m", Version: 2}}.Params(
			map[string]string{"model_uri": "models:/m/Production", "model_name": "m", "model_version": "2"}))
	day := time.Date(2009, 4, 6, 0, 0, 0, 0, time.UTC).UnixMicro()
	writeTable(t, transforms.ApplicationTable.Location(lk), transforms.ApplicationSchema, []deltaio.Row{
		transforms.ApplicationRow{Mention: "bob", MinTimestamp: day, MaxTimestamp: day + 1e6, Negative: 3, Neutral: 1, Positive: 5, Total: 9},
		transforms.ApplicationRow{Mention: "amy", MinTimestamp: day, MaxTimestamp: day, Negative: 0, Neutral: 0, Positive: 1, Total: 1},
	}, nil)

	out, mlruns := filepath.Join(root, "out"), filepath.Join(root, "mlruns")
	var buf bytes.Buffer
	report, err := Run(context.Background(), Options{Lake: lk, Out: out, TrackingURI: mlruns, Experiment: "tweet-sentiment"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	// Evaluation: 8 rows with a given label. Positive: tp 3, fp 1, fn 2.
	var ev struct{ precision, recall, f1, accuracy, neutral, wp float64 }
	ev.precision, ev.recall = 3.0/4, 3.0/5
	ev.f1 = 2 * ev.precision * ev.recall / (ev.precision + ev.recall)
	ev.accuracy = 5.0 / 8
	ev.neutral = 1.0 / 8
	// negative: precision 2/3 (tp 2, fp 1), support 3; positive support 5; neutral support 0.
	ev.wp = (3*(2.0/3) + 5*(3.0/4)) / 8
	runDirs, _ := filepath.Glob(filepath.Join(mlruns, "1", "*", "meta.yaml"))
	if len(runDirs) != 1 {
		t.Fatalf("runs: %v", runDirs)
	}
	run := filepath.Dir(runDirs[0])
	// The course's scores, over all 9 gold rows' sentiment_id × predicted_sentiment_id:
	// (1,1)×3, (1,-1), (1,0), (0,0)×2, (0,1), (-1,1). Class -1: support 1, p = r = 0;
	// class 0: support 3, p = r = 2/3; class 1: support 5, p = r = 3/5. Weighted: 5/9 each.
	course := 5.0 / 9
	for key, want := range map[string]float64{"positive_precision": ev.precision, "positive_recall": ev.recall, "positive_f1": ev.f1,
		"precision": course, "recall": course, "f1_score": course,
		"accuracy": ev.accuracy, "neutral_rate": ev.neutral, "weighted_precision": ev.wp, "weighted_recall": ev.accuracy} {
		data, err := os.ReadFile(filepath.Join(run, "metrics", key))
		if err != nil {
			t.Fatal(err)
		}
		var got float64
		if _, err := fmt.Sscan(strings.Fields(string(data))[1], &got); err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("metric %s = %s, want %v", key, data, want)
		}
	}
	for p, want := range map[string]string{"params/model_uri": "models:/m/Production", "params/model_version": "2",
		"params/gold_table_version": "0", "params/evaluated_rows": "8",
		"params/model_name": "m", "params/delta_tbl_version": "0"} {
		if data, _ := os.ReadFile(filepath.Join(run, p)); string(data) != want {
			t.Errorf("%s = %q, want %q", p, data, want)
		}
	}
	for _, a := range []string{"plots/confusion_matrix.png", "plots/confusion_matrix.svg", "plots/top_users.png",
		"plots/top_mentions_positive.svg", "index.html", "mentions.csv", "tweets_per_user.csv", "summary.json"} {
		if _, err := os.Stat(filepath.Join(run, "artifacts", a)); err != nil {
			t.Errorf("artifact %s missing", a)
		}
	}
	// What was printed.
	text := buf.String()
	for _, want := range []string{
		"raw folder " + raw + ": 2 files", // the hidden file is not counted
		"tweets: 4; with a mention: 1; without: 3",
		"date         null      1  empty      0",
		"text         null      1  empty      1",
		"ann                       2",
		"distinct mentioned handles: 2; mention rows: 10",
		"confusion (given × predicted negative/neutral/positive): negative [2 0 1], positive [1 1 3]",
		"gold        v0    WRITE                silver:gold: silver v0, whole table; model models:/m/Production (m v2)",
		"silver      v0    WRITE                (no lineage recorded: another writer)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The report shows the numbers and links only files that exist.
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="positive_precision">0.7500<`, `id="positive_recall">0.6000<`, `id="precision">0.5556<`, `id="f1_score">0.5556<`, `id="tweets">4<`, "@bob",
		"<td>gold</td><td class=\"n\">0</td><td>WRITE</td><td>silver:gold: silver v0, whole table; model models:/m/Production (m v2)</td>"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %s", want)
		}
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllSubmatch(html, -1) {
		if _, err := os.Stat(filepath.Join(out, string(m[1]))); err != nil {
			t.Errorf("report links %s, which does not exist", m[1])
		}
	}
}
