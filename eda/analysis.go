package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// Count is a name and how often it occurs.
type Count struct {
	Name string
	N    int64
}

// ColumnNulls is one bronze column's missing values, and what silver does
// about them.
type ColumnNulls struct {
	Column      string
	Null, Empty int64
	Silver      string
}

// SourceEDA describes the raw folder and bronze.
type SourceEDA struct {
	RawFolder     string
	RawFiles      int
	RawBytes      int64
	SampleFile    string
	SampleContent string
	BronzeVersion int64
	Tweets        int64
	Nulls         []ColumnNulls
	Users         []Count // tweets per user, descending
	WithMention   int64
	NoMention     int64
}

// AppEDA describes the application table.
type AppEDA struct {
	Version          int64
	DistinctMentions int64
	MentionRows      int64
	Mentions         []transforms.ApplicationRow // by total, descending
}

// Evaluation compares gold's predictions with the given sentiment: as the
// course does (Precision, Recall, F1 over every row's ids), and over the
// Rows whose given sentiment is positive or negative.
type Evaluation struct {
	GoldVersion, SilverVersion int64
	Rows                       int64
	// Precision, Recall and F1 are the course's (its MLflow run's
	// precision, recall, f1_score): scikit-learn's average='weighted' over
	// every gold row's sentiment_id and predicted_sentiment_id, labels the
	// values that occur, weights their support among sentiment_id.
	Precision, Recall, F1 float64
	CourseRows            int64
	// PositivePrecision, PositiveRecall and PositiveF1 are the positive
	// class's on the Rows with a given positive or negative sentiment, a
	// neutral prediction counting as not positive.
	PositivePrecision, PositiveRecall, PositiveF1 float64
	Accuracy                                      float64
	WeightedPrecision, WeightedRecall             float64
	WeightedF1                                    float64
	NeutralRate                                   float64
	Confusion                                     [2][3]int64 // given {negative, positive} × predicted {negative, neutral, positive}
	ModelURI, ModelName, ModelVersion             string
}

// silverAction says what silver does with a missing value in each column.
var silverAction = map[string]string{
	"date":      "quarantined by silver (missing_date): without a timestamp the row cannot be placed in time",
	"text":      "quarantined by silver (missing_text): there is nothing to find mentions in or classify",
	"user":      "kept: silver does not use the author",
	"sentiment": "kept: gold's sentiment_id is -1 and evaluation leaves the row out",
}

// tableRows reads a table's latest snapshot as plain rows.
func tableRows(ctx context.Context, dir string) ([]map[string]any, int64, error) {
	t := lake.Open(dir)
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, -1, err
	}
	rows, err := t.Rows(ctx, snap)
	return rows, snap.Version, err
}

func str(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

func analyzeSource(ctx context.Context, lakeDir, rawFolder string) (SourceEDA, error) {
	rows, version, err := tableRows(ctx, transforms.BronzeTable.Location(lakeDir))
	if err != nil {
		return SourceEDA{}, err
	}
	e := SourceEDA{BronzeVersion: version, Tweets: int64(len(rows))}
	columns := []string{"date", "user", "text", "sentiment"}
	t := lake.Open(transforms.BronzeTable.Location(lakeDir))
	if snap, err := t.Snapshot(ctx, -1); err == nil {
		for _, f := range snap.Schema.Fields {
			if f.Type == lake.TypeString && f.Name != "source_file" && !contains(columns, f.Name) {
				columns = append(columns, f.Name) // extra columns from schema growth
			}
		}
	}
	nulls := map[string]*ColumnNulls{}
	for _, c := range columns {
		action := silverAction[c]
		if action == "" {
			action = "kept in bronze only: an unknown field the source added (schema growth)"
		}
		nulls[c] = &ColumnNulls{Column: c, Silver: action}
	}
	users := map[string]int64{}
	folders := map[string]int{}
	for _, r := range rows {
		for _, c := range columns {
			s, ok := str(r[c])
			switch {
			case !ok:
				nulls[c].Null++
			case strings.TrimSpace(s) == "":
				nulls[c].Empty++
			}
		}
		if u, ok := str(r["user"]); ok {
			users[u]++
		}
		if text, ok := str(r["text"]); ok {
			if m, _ := transforms.MentionsAndCleanText(text); len(m) > 0 {
				e.WithMention++
			} else {
				e.NoMention++
			}
		} else {
			e.NoMention++
		}
		if sf, ok := str(r["source_file"]); ok {
			folders[sf[:max(strings.LastIndex(sf, "/"), 0)]]++
		}
	}
	for _, c := range columns {
		e.Nulls = append(e.Nulls, *nulls[c])
	}
	e.Users = sortCounts(users)
	if rawFolder == "" { // the folder most bronze rows came from
		best := 0
		for f, n := range folders {
			if n > best || n == best && f < rawFolder {
				rawFolder, best = f, n
			}
		}
	}
	e.RawFolder = rawFolder
	if rawFolder != "" {
		// A folder or an s3:// / gs:// prefix alike.
		files, err := lake.Glob(ctx, lake.Join(rawFolder, "*"), nil)
		if err == nil && len(files) == 0 && !lake.IsDir(ctx, rawFolder) {
			err = fs.ErrNotExist
		}
		if err != nil {
			return e, fmt.Errorf("raw folder %s: %w (give it with --input)", rawFolder, err)
		}
		for _, f := range files {
			if transforms.IsHidden(f.Path) {
				continue
			}
			e.RawFiles++
			e.RawBytes += f.Size
			if e.SampleFile == "" { // Glob sorts by path
				e.SampleFile = f.Path
			}
		}
		if e.SampleFile != "" {
			if r, err := lake.OpenStream(ctx, e.SampleFile); err == nil {
				data, _ := io.ReadAll(io.LimitReader(r, 1<<20))
				r.Close()
				e.SampleContent = transforms.Truncate(strings.ToValidUTF8(string(data), "\uFFFD"), 2000)
			}
		}
	}
	return e, nil
}

func sortCounts(m map[string]int64) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || out[i].N == out[j].N && out[i].Name < out[j].Name })
	return out
}

func analyzeApplication(ctx context.Context, lakeDir string) (AppEDA, error) {
	t := lake.Open(transforms.ApplicationTable.Location(lakeDir))
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return AppEDA{}, err
	}
	rows, err := transforms.ReadApplication(ctx, t)
	if err != nil {
		return AppEDA{}, err
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].Total > rows[j].Total || rows[i].Total == rows[j].Total && rows[i].Mention < rows[j].Mention
	})
	e := AppEDA{Version: snap.Version, DistinctMentions: int64(len(rows)), Mentions: rows}
	for _, r := range rows {
		e.MentionRows += r.Total
	}
	return e, nil
}

var sentimentIndex = map[string]int{"negative": 0, "neutral": 1, "positive": 2}

// evaluate scores gold; the same definitions as scikit-learn's
// precision_recall_fscore_support (zero_division=0), with the labels
// negative/neutral/positive.
func evaluate(ctx context.Context, lakeDir string) (Evaluation, error) {
	rows, version, err := tableRows(ctx, transforms.GoldTable.Location(lakeDir))
	if err != nil {
		return Evaluation{}, err
	}
	ev := Evaluation{GoldVersion: version}
	if _, sv, err := tableRows(ctx, transforms.SilverTable.Location(lakeDir)); err == nil {
		ev.SilverVersion = sv
	} else {
		return ev, err
	}
	var trueLabels, predLabels []int
	for _, r := range rows {
		given, _ := str(r["sentiment"])
		pred, _ := str(r["predicted_sentiment"])
		gi, ok1 := map[string]int{"negative": 0, "positive": 1}[given]
		pi, ok2 := sentimentIndex[pred]
		if !ok1 || !ok2 {
			continue
		}
		ev.Confusion[gi][pi]++
		trueLabels = append(trueLabels, []int{0, 2}[gi])
		predLabels = append(predLabels, pi)
	}
	ev.Rows = int64(len(trueLabels))
	if ev.Rows == 0 {
		return ev, nil
	}
	ev.PositivePrecision, ev.PositiveRecall, ev.PositiveF1 = Scores(trueLabels, predLabels, 2)
	ev.Precision, ev.Recall, ev.F1, ev.CourseRows = courseScores(rows)
	var correct, neutral int64
	for i := range trueLabels {
		if trueLabels[i] == predLabels[i] {
			correct++
		}
		if predLabels[i] == 1 {
			neutral++
		}
	}
	ev.Accuracy = float64(correct) / float64(ev.Rows)
	ev.NeutralRate = float64(neutral) / float64(ev.Rows)
	for c := 0; c < 3; c++ {
		var support float64
		for _, y := range trueLabels {
			if y == c {
				support++
			}
		}
		p, r, f := Scores(trueLabels, predLabels, c)
		ev.WeightedPrecision += support * p
		ev.WeightedRecall += support * r
		ev.WeightedF1 += support * f
	}
	n := float64(ev.Rows)
	ev.WeightedPrecision /= n
	ev.WeightedRecall /= n
	ev.WeightedF1 /= n
	// Which model produced gold: recorded in gold's newest commit that wrote rows.
	if h, err := lake.Open(transforms.GoldTable.Location(lakeDir)).History(ctx, 0); err == nil {
		for _, c := range h {
			if uri, ok := c.Info.OperationParameters["model_uri"].(string); ok {
				ev.ModelURI = uri
				ev.ModelName, _ = c.Info.OperationParameters["model_name"].(string)
				ev.ModelVersion, _ = c.Info.OperationParameters["model_version"].(string)
			}
		}
	}
	return ev, nil
}

// courseScores is the course's evaluation: scikit-learn's
// precision_score, recall_score and f1_score with average='weighted' over
// gold's sentiment_id and predicted_sentiment_id, every row (zero_division
// 0, as scikit-learn's default warns and gives).
func courseScores(rows []map[string]any) (p, r, f float64, n int64) {
	var truth, pred []int
	labels := map[int]bool{}
	for _, row := range rows {
		t, ok1 := integer(row["sentiment_id"])
		y, ok2 := integer(row["predicted_sentiment_id"])
		if !ok1 || !ok2 {
			continue
		}
		truth, pred = append(truth, t), append(pred, y)
		labels[t], labels[y] = true, true
	}
	if len(truth) == 0 {
		return 0, 0, 0, 0
	}
	for c := range labels {
		var support float64
		for _, t := range truth {
			if t == c {
				support++
			}
		}
		cp, cr, cf := Scores(truth, pred, c)
		p, r, f = p+support*cp, r+support*cr, f+support*cf
	}
	total := float64(len(truth))
	return p / total, r / total, f / total, int64(len(truth))
}

// integer reads an integer column's value (false for null).
func integer(v any) (int, bool) {
	switch n := v.(type) {
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case int:
		return n, true
	}
	return 0, false
}

// Scores is precision, recall and F1 of one class (0 where undefined).
func Scores(truth, pred []int, class int) (p, r, f float64) {
	var tp, fp, fn float64
	for i := range truth {
		switch {
		case pred[i] == class && truth[i] == class:
			tp++
		case pred[i] == class:
			fp++
		case truth[i] == class:
			fn++
		}
	}
	if tp+fp > 0 {
		p = tp / (tp + fp)
	}
	if tp+fn > 0 {
		r = tp / (tp + fn)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return p, r, f
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// LineageRow is one table commit and what it was computed from (its
// commitInfo lineage), for the report's lineage table.
type LineageRow struct {
	Table     string
	Version   int64
	Operation string
	Source    string // the lineage as one line; empty for a commit without one (another writer)
}

// lineageCommits is how many of each table's newest commits the report shows.
const lineageCommits = 3

// analyzeLineage reads each table's newest commits and their lineage, so
// the report says where every layer's current rows came from: the raw
// plans, the upstream table versions, and the model that scored gold.
func analyzeLineage(ctx context.Context, lakeDir string) ([]LineageRow, error) {
	var out []LineageRow
	for _, name := range transforms.TableNames() {
		t := lake.Open(lake.Join(lakeDir, name))
		if ok, err := t.Exists(ctx); err != nil || !ok {
			continue
		}
		snap, err := t.Snapshot(ctx, -1)
		if err != nil {
			return nil, err
		}
		h, err := t.History(ctx, max(snap.Version-lineageCommits+1, 0))
		if err != nil {
			return nil, err
		}
		for i := len(h) - 1; i >= 0; i-- {
			row := LineageRow{Table: name, Version: h[i].Version, Operation: h[i].Info.Operation}
			l, ok, err := transforms.ParseLineage(h[i].Info.OperationParameters)
			if err != nil {
				return nil, fmt.Errorf("%s v%d: %w", name, h[i].Version, err)
			}
			if ok {
				row.Source = l.String()
			}
			out = append(out, row)
		}
	}
	return out, nil
}
