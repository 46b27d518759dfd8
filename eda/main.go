// Command eda answers the course's questions about the data and the model,
// from the lake's tables, and logs the evaluation as an MLflow run:
//
//	go run ./eda --lake DIR --out DIR [--input RAW_DIR] [--registry DIR] [--tracking-uri URI]
//
// It prints the numbers, writes CSVs, PNG and SVG plots and an offline
// index.html report to --out, and logs metrics, params and every plot to
// the tracking store (./mlruns by default, or an MLflow server).
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

func main() {
	var o Options
	flag.StringVar(&o.Lake, "lake", "", "where the Delta tables live: a folder, s3://bucket/prefix or gs://bucket/prefix (required)")
	flag.StringVar(&o.Out, "out", "", "folder for the report, plots and CSVs (required)")
	flag.StringVar(&o.Input, "input", "", "raw folder (default: the folder bronze's source_file names)")
	flag.StringVar(&o.Registry, "registry", "mlruns", "model registry, to describe a models:/ URI gold names")
	flag.StringVar(&o.TrackingURI, "tracking-uri", "mlruns", "MLflow tracking store: a folder, or http(s)://server")
	flag.StringVar(&o.Experiment, "experiment", "tweet-sentiment", "MLflow experiment name")
	flag.IntVar(&o.TopN, "top", 20, "rows of each ranking to print and plot")
	flag.Parse()
	if o.Lake == "" || o.Out == "" {
		fmt.Fprintln(os.Stderr, "eda: --lake and --out are required")
		flag.Usage()
		os.Exit(2)
	}
	rep, err := Run(context.Background(), o, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "eda: %v\n", err)
		os.Exit(1)
	}
	if abs, err := filepath.Abs(rep); err == nil {
		rep = abs
	}
	fmt.Printf("\nreport: %s\n", rep)
}

// Options configure one EDA run.
type Options struct {
	Lake, Out, Input, Registry, TrackingURI, Experiment string
	TopN                                                int
}

// Run does the analysis, writes the outputs and logs the MLflow run; it
// returns the report's path.
func Run(ctx context.Context, o Options, w io.Writer) (string, error) {
	if o.TopN <= 0 {
		o.TopN = 20
	}
	for _, t := range []transforms.Table{transforms.BronzeTable, transforms.SilverTable, transforms.GoldTable, transforms.ApplicationTable} {
		ok, err := lake.Open(t.Location(o.Lake)).Exists(ctx)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("table %s/%s not found: run the pipeline first (go run ./pipelines/medallion run --input RAW --lake %s)", o.Lake, t.Name, o.Lake)
		}
	}
	plots, data := filepath.Join(o.Out, "plots"), filepath.Join(o.Out, "data")
	for _, d := range []string{plots, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	src, err := analyzeSource(ctx, o.Lake, o.Input)
	if err != nil {
		return "", err
	}
	app, err := analyzeApplication(ctx, o.Lake)
	if err != nil {
		return "", err
	}
	ev, err := evaluate(ctx, o.Lake)
	if err != nil {
		return "", err
	}
	lineage, err := analyzeLineage(ctx, o.Lake)
	if err != nil {
		return "", fmt.Errorf("lineage: %w", err)
	}
	if ev.ModelURI != "" && ev.ModelName == "" { // a plain folder, or a commit from an older writer
		if res, err := (tracking.Registry{Root: o.Registry}).Resolve(ev.ModelURI); err == nil && res.Name != "" {
			ev.ModelName, ev.ModelVersion = res.Name, strconv.Itoa(res.Version)
		}
	}
	printSummary(w, o, src, app, ev, lineage)

	// CSVs: all users and all mentions.
	var files []string
	userRows := [][]string{{"user", "tweets"}}
	for _, u := range src.Users {
		userRows = append(userRows, []string{u.Name, strconv.FormatInt(u.N, 10)})
	}
	mentionRows := [][]string{{"mention", "total", "negative", "neutral", "positive", "min_timestamp", "max_timestamp"}}
	for _, m := range app.Mentions {
		mentionRows = append(mentionRows, []string{m.Mention, itoa(m.Total), itoa(m.Negative), itoa(m.Neutral), itoa(m.Positive),
			ts(m.MinTimestamp), ts(m.MaxTimestamp)})
	}
	for name, rows := range map[string][][]string{"tweets_per_user.csv": userRows, "mentions.csv": mentionRows} {
		if err := writeCSV(filepath.Join(data, name), rows); err != nil {
			return "", err
		}
		files = append(files, filepath.Join(data, name))
	}

	// Plots.
	var pl []Plot
	addPlot := func(title, png string, err error) error {
		if err != nil {
			return err
		}
		pl = append(pl, Plot{Title: title, PNG: "plots/" + png, SVG: "plots/" + svgOf(png)})
		return nil
	}
	top := src.Users[:min(o.TopN, len(src.Users))]
	var names []string
	var vals []float64
	for _, u := range top {
		names, vals = append(names, u.Name), append(vals, float64(u.N))
	}
	png, err := barChart(plots, "top_users", fmt.Sprintf("Top %d users by tweets", len(top)), "tweets", names, vals, color.RGBA{70, 110, 180, 255})
	if err := addPlot("Top users by tweets", png, err); err != nil {
		return "", err
	}
	for _, kind := range []struct {
		key   string
		get   func(r int) int64
		color color.Color
	}{
		{"positive", func(i int) int64 { return app.Mentions[i].Positive }, color.RGBA{60, 150, 90, 255}},
		{"negative", func(i int) int64 { return app.Mentions[i].Negative }, color.RGBA{200, 80, 70, 255}},
	} {
		idx := make([]int, len(app.Mentions))
		for i := range idx {
			idx[i] = i
		}
		sortByDesc(idx, kind.get, func(i int) string { return app.Mentions[i].Mention })
		names, vals = nil, nil
		for _, i := range idx[:min(o.TopN, len(idx))] {
			names, vals = append(names, "@"+app.Mentions[i].Mention), append(vals, float64(kind.get(i)))
		}
		title := fmt.Sprintf("Top %d mentions by %s tweets", len(names), kind.key)
		png, err := barChart(plots, "top_mentions_"+kind.key, title, kind.key+" tweets (predicted)", names, vals, kind.color)
		if err := addPlot(title, png, err); err != nil {
			return "", err
		}
	}
	png, err = confusionPlot(plots, ev.Confusion)
	if err := addPlot("Confusion matrix: given sentiment × predicted sentiment", png, err); err != nil {
		return "", err
	}
	// The stream monitoring charts, when a run left them.
	// The pipeline's default monitoring folder: beside the tables, or
	// ./_monitoring for a lake on an object store.
	monitoring := filepath.Join(o.Lake, "_monitoring")
	if lake.IsRemote(o.Lake) {
		monitoring = "_monitoring"
	}
	if mon, _ := filepath.Glob(filepath.Join(monitoring, "*.png")); len(mon) > 0 {
		for _, m := range mon {
			for _, ext := range []string{".png", ".svg"} {
				b, err := os.ReadFile(m[:len(m)-4] + ext)
				if err == nil {
					os.WriteFile(filepath.Join(plots, "monitoring_"+filepath.Base(m[:len(m)-4])+ext), b, 0o644)
				}
			}
			pl = append(pl, Plot{Title: "Stream monitoring: " + filepath.Base(m), PNG: "plots/monitoring_" + filepath.Base(m),
				SVG: "plots/monitoring_" + svgOf(filepath.Base(m))})
		}
	}

	// The MLflow run.
	run, err := tracking.StartRun(o.TrackingURI, o.Experiment, "evaluation "+time.Now().Format("2006-01-02 15:04:05"))
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		run.End(tracking.StatusFailed)
		return "", err
	}
	if err := run.LogParams(map[string]string{
		"model_uri": ev.ModelURI, "model_name": ev.ModelName, "model_version": ev.ModelVersion,
		"silver_table_version": itoa(ev.SilverVersion), "gold_table_version": itoa(ev.GoldVersion),
		"tracking_format_version": tracking.FormatVersion, "evaluated_rows": itoa(ev.Rows),
		// The course's params: the silver version gold was scored from, and
		// in place of MLflow's version the format this run is written in.
		"delta_tbl_version": itoa(ev.SilverVersion),
		"mlflow_version":    tracking.FormatVersion + ", written by medallion's tracking package (no MLflow library ran)",
	}); err != nil {
		return fail(err)
	}
	if err := run.LogMetrics(map[string]float64{
		"precision": ev.Precision, "recall": ev.Recall, "f1_score": ev.F1,
		"positive_precision": ev.PositivePrecision, "positive_recall": ev.PositiveRecall, "positive_f1": ev.PositiveF1, "accuracy": ev.Accuracy,
		"weighted_precision": ev.WeightedPrecision, "weighted_recall": ev.WeightedRecall, "weighted_f1": ev.WeightedF1,
		"neutral_rate": ev.NeutralRate,
	}); err != nil {
		return fail(err)
	}
	rep := Report{Generated: time.Now(), Lake: o.Lake, RunID: run.ID(), RunWhere: run.Where(), Source: src, App: app, Eval: ev, Lineage: lineage,
		Plots: pl, TopN: o.TopN, TopUsers: top}
	for _, m := range app.Mentions[:min(o.TopN, len(app.Mentions))] {
		rep.TopMentions = append(rep.TopMentions, mentionRow{Mention: m.Mention, Total: m.Total, Negative: m.Negative,
			Neutral: m.Neutral, Positive: m.Positive, First: ts(m.MinTimestamp), Last: ts(m.MaxTimestamp)})
	}
	for _, f := range files {
		rel, _ := filepath.Rel(o.Out, f)
		rep.Downloads = append(rep.Downloads, rel)
	}
	summary, _ := json.MarshalIndent(map[string]any{"source": src, transforms.ApplicationTable.Name: map[string]any{
		"version": app.Version, "distinct_mentions": app.DistinctMentions, "mention_rows": app.MentionRows}, "evaluation": ev,
		"run_id": run.ID()}, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Out, "summary.json"), summary, 0o644); err != nil {
		return fail(err)
	}
	rep.Downloads = append(rep.Downloads, "summary.json")
	reportPath, err := writeReport(o.Out, rep)
	if err != nil {
		return fail(err)
	}
	for _, p := range pl {
		for _, f := range []string{p.PNG, p.SVG} {
			if err := run.LogArtifact(filepath.Join(o.Out, f), "plots"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fail(err)
			}
		}
	}
	for _, f := range append(files, filepath.Join(o.Out, "summary.json"), reportPath) {
		if err := run.LogArtifact(f, ""); err != nil {
			return fail(err)
		}
	}
	if err := run.End(tracking.StatusFinished); err != nil {
		return "", err
	}
	fmt.Fprintf(w, "\nMLflow run %s logged to %s\n", run.ID(), run.Where())
	return reportPath, nil
}

func printSummary(w io.Writer, o Options, src SourceEDA, app AppEDA, ev Evaluation, lineage []LineageRow) {
	fmt.Fprintf(w, "== source and bronze (bronze v%d)\n", src.BronzeVersion)
	fmt.Fprintf(w, "raw folder %s: %s files, %.1f KiB\n", src.RawFolder, group(int64(src.RawFiles)), float64(src.RawBytes)/1024)
	if src.SampleFile != "" {
		fmt.Fprintf(w, "one raw file, %s:\n%s\n", src.SampleFile, src.SampleContent)
	}
	fmt.Fprintf(w, "tweets: %s; with a mention: %s; without: %s\n", group(src.Tweets), group(src.WithMention), group(src.NoMention))
	fmt.Fprintf(w, "missing values:\n")
	for _, c := range src.Nulls {
		fmt.Fprintf(w, "  %-12s null %6s  empty %6s  → %s\n", c.Column, group(c.Null), group(c.Empty), c.Silver)
	}
	fmt.Fprintf(w, "tweets per user (top %d of %s; all in data/tweets_per_user.csv):\n", min(o.TopN, len(src.Users)), group(int64(len(src.Users))))
	for _, u := range src.Users[:min(o.TopN, len(src.Users))] {
		fmt.Fprintf(w, "  %-20s %6s\n", u.Name, group(u.N))
	}
	fmt.Fprintf(w, "\n== application (v%d)\n", app.Version)
	fmt.Fprintf(w, "distinct mentioned handles: %s; mention rows: %s\n", group(app.DistinctMentions), group(app.MentionRows))
	fmt.Fprintf(w, "  %-20s %7s %8s %7s %8s   (all in data/mentions.csv)\n", "mention", "total", "negative", "neutral", "positive")
	for _, m := range app.Mentions[:min(o.TopN, len(app.Mentions))] {
		fmt.Fprintf(w, "  @%-19s %7s %8s %7s %8s\n", m.Mention, group(m.Total), group(m.Negative), group(m.Neutral), group(m.Positive))
	}
	fmt.Fprintf(w, "\n== evaluation of gold v%d (%s rows with a given sentiment; model %s)\n", ev.GoldVersion, group(ev.Rows), ev.ModelURI)
	fmt.Fprintf(w, "  the course's (weighted over sentiment_id and predicted_sentiment_id, %s rows): precision %.4f  recall %.4f  f1_score %.4f\n",
		group(ev.CourseRows), ev.Precision, ev.Recall, ev.F1)
	fmt.Fprintf(w, "  positive class, neutral = not positive: precision %.4f  recall %.4f  f1 %.4f\n", ev.PositivePrecision, ev.PositiveRecall, ev.PositiveF1)
	fmt.Fprintf(w, "  accuracy %.4f  weighted precision %.4f  recall %.4f  f1 %.4f  neutral rate %.4f\n",
		ev.Accuracy, ev.WeightedPrecision, ev.WeightedRecall, ev.WeightedF1, ev.NeutralRate)
	fmt.Fprintf(w, "  confusion (given × predicted negative/neutral/positive): negative %v, positive %v\n", ev.Confusion[0], ev.Confusion[1])
	fmt.Fprintf(w, "\n== lineage (each table's newest %d commits: what they were computed from)\n", lineageCommits)
	for _, l := range lineage {
		src := l.Source
		if src == "" {
			src = "(no lineage recorded: another writer)"
		}
		fmt.Fprintf(w, "  %-11s v%-4d %-20s %s\n", l.Table, l.Version, l.Operation, src)
	}
}

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func ts(us int64) string { return time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05") }

func sortByDesc(idx []int, key func(int) int64, name func(int) string) {
	sort.Slice(idx, func(a, b int) bool {
		ka, kb := key(idx[a]), key(idx[b])
		return ka > kb || ka == kb && name(idx[a]) < name(idx[b])
	})
}
