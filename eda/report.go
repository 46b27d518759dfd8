package main

import (
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is everything index.html shows.
type Report struct {
	Generated   time.Time
	Lake        string
	RunID       string
	RunWhere    string
	Source      SourceEDA
	App         AppEDA
	Eval        Evaluation
	Lineage     []LineageRow
	Plots       []Plot
	TopN        int
	Downloads   []string
	TopUsers    []Count
	TopMentions []mentionRow
}

// Plot is one chart with its PNG and SVG.
type Plot struct {
	Title, PNG, SVG string
}

type mentionRow struct {
	Mention                            string
	Total, Negative, Neutral, Positive int64
	First, Last                        string
}

var funcs = template.FuncMap{
	"n":     func(v int64) string { return group(v) },
	"pct":   func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"f4":    func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"kib":   func(v int64) string { return fmt.Sprintf("%.1f KiB", float64(v)/1024) },
	"int64": func(v int) int64 { return int64(v) },
}

var page = template.Must(template.New("report").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Tweet sentiment report</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2430}
h1{font-size:1.7em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #d8dee8;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0} td,th{padding:.25em .7em;border-bottom:1px solid #e6eaf0;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} .meta{color:#5b6575}
pre{background:#f5f7fa;padding:.8em;overflow:auto;white-space:pre-wrap;word-break:break-all;max-height:18em}
figure{margin:1.2em 0} figcaption{color:#5b6575} img{max-width:100%;border:1px solid #e6eaf0}
.metrics td:first-child{font-family:ui-monospace,monospace}
</style></head><body>
<h1>Tweet sentiment report</h1>
<p class="meta">Lake <code>{{.Lake}}</code> · generated {{.Generated.Format "2006-01-02 15:04:05 MST"}}<br>
MLflow run <code id="run-id">{{.RunID}}</code> at <code>{{.RunWhere}}</code><br>
Table versions: bronze v{{.Source.BronzeVersion}}, silver v{{.Eval.SilverVersion}}, gold v{{.Eval.GoldVersion}}, application v{{.App.Version}}</p>

<h2>Source and bronze</h2>
<table>
<tr><td>raw folder</td><td><code>{{.Source.RawFolder}}</code></td></tr>
<tr><td>raw files</td><td class="n">{{n (int64 .Source.RawFiles)}}</td></tr>
<tr><td>raw size</td><td class="n">{{kib .Source.RawBytes}}</td></tr>
<tr><td>tweets in bronze</td><td class="n" id="tweets">{{n .Source.Tweets}}</td></tr>
<tr><td>tweets with at least one mention</td><td class="n">{{n .Source.WithMention}}</td></tr>
<tr><td>tweets without a mention</td><td class="n">{{n .Source.NoMention}}</td></tr>
</table>
{{if .Source.SampleFile}}<p>One raw file, <code>{{.Source.SampleFile}}</code>:</p><pre>{{.Source.SampleContent}}</pre>{{end}}
<h3>Missing values per column</h3>
<table><tr><th>column</th><th class="n">null</th><th class="n">empty</th><th>what silver does</th></tr>
{{range .Source.Nulls}}<tr><td>{{.Column}}</td><td class="n">{{n .Null}}</td><td class="n">{{n .Empty}}</td><td>{{.Silver}}</td></tr>
{{end}}</table>
<h3>Tweets per user (top {{.TopN}} of {{n (int64 (len .Source.Users))}})</h3>
<table><tr><th>user</th><th class="n">tweets</th></tr>
{{range .TopUsers}}<tr><td>{{.Name}}</td><td class="n">{{n .N}}</td></tr>
{{end}}</table>

<h2>Application</h2>
<table>
<tr><td>distinct mentioned handles</td><td class="n">{{n .App.DistinctMentions}}</td></tr>
<tr><td>mention rows (tweet × handle)</td><td class="n">{{n .App.MentionRows}}</td></tr>
</table>
<h3>Mentions by tweets (top {{.TopN}})</h3>
<table><tr><th>mention</th><th class="n">total</th><th class="n">negative</th><th class="n">neutral</th><th class="n">positive</th><th>first</th><th>last</th></tr>
{{range .TopMentions}}<tr><td>@{{.Mention}}</td><td class="n">{{n .Total}}</td><td class="n">{{n .Negative}}</td><td class="n">{{n .Neutral}}</td><td class="n">{{n .Positive}}</td><td>{{.First}}</td><td>{{.Last}}</td></tr>
{{end}}</table>

<h2>Evaluation of gold</h2>
<p>Model <code>{{.Eval.ModelURI}}</code>{{if .Eval.ModelName}} ({{.Eval.ModelName}} version {{.Eval.ModelVersion}}){{end}}, over the
{{n .Eval.Rows}} gold rows whose given sentiment is positive or negative. precision, recall and f1_score are the course's:
scikit-learn's weighted averages over all {{n .Eval.CourseRows}} gold rows' <code>sentiment_id</code> and
<code>predicted_sentiment_id</code>. The positive_ scores are the positive class's on the rows with a given sentiment, a neutral
prediction counting as not positive; the weighted_ scores average negative, neutral and positive on those rows by their support.</p>
<table class="metrics">
<tr><td>precision</td><td class="n" id="precision">{{f4 .Eval.Precision}}</td></tr>
<tr><td>recall</td><td class="n" id="recall">{{f4 .Eval.Recall}}</td></tr>
<tr><td>f1_score</td><td class="n" id="f1_score">{{f4 .Eval.F1}}</td></tr>
<tr><td>positive_precision</td><td class="n" id="positive_precision">{{f4 .Eval.PositivePrecision}}</td></tr>
<tr><td>positive_recall</td><td class="n" id="positive_recall">{{f4 .Eval.PositiveRecall}}</td></tr>
<tr><td>positive_f1</td><td class="n" id="positive_f1">{{f4 .Eval.PositiveF1}}</td></tr>
<tr><td>accuracy</td><td class="n">{{f4 .Eval.Accuracy}}</td></tr>
<tr><td>weighted_precision</td><td class="n">{{f4 .Eval.WeightedPrecision}}</td></tr>
<tr><td>weighted_recall</td><td class="n">{{f4 .Eval.WeightedRecall}}</td></tr>
<tr><td>weighted_f1</td><td class="n">{{f4 .Eval.WeightedF1}}</td></tr>
<tr><td>neutral_rate</td><td class="n">{{pct .Eval.NeutralRate}}</td></tr>
</table>

<h2>Lineage</h2>
<p>Each table's newest commits and what they were computed from (recorded in the commit's <code>commitInfo</code>).</p>
<table id="lineage"><tr><th>table</th><th class="n">version</th><th>operation</th><th>computed from</th></tr>
{{range .Lineage}}<tr><td>{{.Table}}</td><td class="n">{{.Version}}</td><td>{{.Operation}}</td><td>{{if .Source}}{{.Source}}{{else}}<em>no lineage recorded (another writer)</em>{{end}}</td></tr>
{{end}}</table>

<h2>Plots</h2>
{{range .Plots}}<figure><img src="{{.PNG}}" alt="{{.Title}}"><figcaption>{{.Title}} · <a href="{{.SVG}}">SVG</a></figcaption></figure>
{{end}}
<h2>Data</h2>
<ul>{{range .Downloads}}<li><a href="{{.}}">{{.}}</a></li>{{end}}</ul>
<script>
// Records how many images loaded, for scripts/check-report.sh (and for anyone looking).
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images", ok + "/" + imgs.length);
});
</script>
</body></html>
`))

func writeReport(out string, r Report) (string, error) {
	path := filepath.Join(out, "index.html")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := page.Execute(f, r); err != nil {
		f.Close()
		return "", fmt.Errorf("report: %w", err)
	}
	return path, f.Close()
}

func svgOf(png string) string { return strings.TrimSuffix(png, ".png") + ".svg" }
