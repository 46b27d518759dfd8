package pipelines

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// canReplay reports whether a redo whose planned files vanished or changed
// can still finish the batch exactly: bronze and quarantine hold it, so
// bronze's rows of the batch (read back by txn version) are what the files
// held when read, bronze's own quarantine rows are committed, and silver,
// gold and application follow from bronze's rows alone.
func canReplay(held []string) bool {
	var bronze, quarantine bool
	for _, t := range held {
		bronze = bronze || t == BronzeTable
		quarantine = quarantine || t == QuarantineTable
	}
	return bronze && quarantine
}

// readBatchBronze reads back the bronze rows a batch committed (its
// commits, found by txn version), unknown fields included, as the bronze
// step emitted them.
func readBatchBronze(ctx context.Context, c Config, app string, batch int64) ([]transforms.BronzeRow, error) {
	t, after, adds, err := batchDataFiles(ctx, c.table(BronzeTable), app, batch)
	if err != nil {
		return nil, err
	}
	return readRows(ctx, t, after, adds, bronzeRows)
}

// batchDataFiles returns the table, its latest version and the data files the
// batch added to it (its commits, found by txn version).
func batchDataFiles(ctx context.Context, dir, app string, batch int64) (*lake.Table, int64, []lake.AddFile, error) {
	t := lake.Open(dir)
	after, err := latestVersion(ctx, dir)
	if err != nil {
		return nil, -1, nil, err
	}
	commits, err := batchCommits(ctx, t, after, app, batch)
	if err != nil {
		return nil, -1, nil, err
	}
	var adds []lake.AddFile
	for _, cm := range commits {
		adds = append(adds, cm.Adds...)
	}
	return t, after, adds, nil
}

// readRows reads data files of a table, shaped to its schema at version,
// and decodes each file's rows with decode. It is how every stage that
// starts from a table (a replayed batch, a rescore, a stage reading
// bronze's new commits) gets its upstream rows.
func readRows[T any](ctx context.Context, t *lake.Table, version int64, adds []lake.AddFile, decode func(arrow.RecordBatch) []T) ([]T, error) {
	schema, err := tableSchema(ctx, t, version)
	if err != nil {
		return nil, err
	}
	rows := []T{}
	for _, a := range adds {
		rec, err := t.ReadFile(ctx, a, schema)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Path, err)
		}
		rows = append(rows, decode(rec)...)
		rec.Release()
	}
	return rows, nil
}

func column[A arrow.Array](rec arrow.RecordBatch, name string) A {
	return rec.Column(rec.Schema().FieldIndices(name)[0]).(A)
}

func optString(col *array.String, i int) *string {
	if col.IsNull(i) {
		return nil
	}
	v := col.Value(i)
	return &v
}

// bronzeRows decodes bronze rows, unknown fields (the columns after the
// base schema) included, as the bronze step emitted them.
func bronzeRows(rec arrow.RecordBatch) []transforms.BronzeRow {
	str := func(n string) *array.String { return column[*array.String](rec, n) }
	date, user, text, sentiment := str("date"), str("user"), str("text"), str("sentiment")
	src, pt := str("source_file"), column[*array.Timestamp](rec, "processing_time")
	rows := make([]transforms.BronzeRow, 0, rec.NumRows())
	for i := 0; i < int(rec.NumRows()); i++ {
		r := transforms.BronzeRow{Date: optString(date, i), User: optString(user, i), Text: optString(text, i), Sentiment: optString(sentiment, i),
			SourceFile: src.Value(i), ProcessingTime: int64(pt.Value(i))}
		for j := len(transforms.BronzeSchema.Fields); j < int(rec.NumCols()); j++ {
			col, ok := rec.Column(j).(*array.String)
			if !ok || col.IsNull(i) {
				continue
			}
			if r.Extra == nil {
				r.Extra = map[string]string{}
			}
			r.Extra[rec.Schema().Field(j).Name] = col.Value(i)
		}
		rows = append(rows, r)
	}
	return rows
}

// silverRows decodes silver rows, as the silver step emitted them.
func silverRows(rec arrow.RecordBatch) []transforms.SilverRow {
	ts := column[*array.Timestamp](rec, "timestamp")
	mention, cleaned, sentiment := column[*array.String](rec, "mention"), column[*array.String](rec, "cleaned_text"), column[*array.String](rec, "sentiment")
	rows := make([]transforms.SilverRow, rec.NumRows())
	for i := range rows {
		rows[i] = transforms.SilverRow{Timestamp: int64(ts.Value(i)), Mention: mention.Value(i), CleanedText: cleaned.Value(i), Sentiment: optString(sentiment, i)}
	}
	return rows
}

// goldCountRows decodes what application counts of gold rows: mention,
// timestamp and predicted sentiment id.
func goldCountRows(rec arrow.RecordBatch) []transforms.GoldRow {
	ts, mention := column[*array.Timestamp](rec, "timestamp"), column[*array.String](rec, "mention")
	pred := column[*array.Int32](rec, "predicted_sentiment_id")
	rows := make([]transforms.GoldRow, rec.NumRows())
	for i := range rows {
		rows[i] = transforms.GoldRow{Timestamp: int64(ts.Value(i)), Mention: mention.Value(i), PredictedSentimentID: int64(pred.Value(i))}
	}
	return rows
}
