package main

import (
	"context"
	"fmt"

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
func readBatchBronze(ctx context.Context, c Config, batch int64) ([]transforms.BronzeRow, error) {
	t := lake.Open(c.table(BronzeTable))
	after, err := latestVersion(ctx, t.Location)
	if err != nil {
		return nil, err
	}
	commits, err := batchCommits(ctx, t, after, batch)
	if err != nil {
		return nil, err
	}
	schema, err := tableSchema(ctx, t, after)
	if err != nil {
		return nil, err
	}
	rows := []transforms.BronzeRow{}
	for _, cm := range commits {
		for _, a := range cm.Adds {
			rec, err := t.ReadFile(ctx, a, schema)
			if err != nil {
				return nil, fmt.Errorf("bronze %s: %w", a.Path, err)
			}
			str := func(i int) *array.String { return rec.Column(i).(*array.String) }
			opt := func(col *array.String, i int) *string {
				if col.IsNull(i) {
					return nil
				}
				v := col.Value(i)
				return &v
			}
			idx := func(n string) int { return rec.Schema().FieldIndices(n)[0] }
			date, user, text, sentiment := str(idx("date")), str(idx("user")), str(idx("text")), str(idx("sentiment"))
			src, pt := str(idx("source_file")), rec.Column(idx("processing_time")).(*array.Timestamp)
			for i := 0; i < int(rec.NumRows()); i++ {
				r := transforms.BronzeRow{Date: opt(date, i), User: opt(user, i), Text: opt(text, i), Sentiment: opt(sentiment, i),
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
			rec.Release()
		}
	}
	return rows, nil
}
