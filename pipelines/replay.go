package pipelines

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

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
		bronze = bronze || t == transforms.BronzeTable.Name
		quarantine = quarantine || t == transforms.QuarantineTable.Name
	}
	return bronze && quarantine
}

// readBatchBronze reads back the bronze rows a batch committed (its
// commits, found by txn version), unknown fields included, as the bronze
// step emitted them.
func readBatchBronze(ctx context.Context, c Config, app string, batch int64) ([]transforms.BronzeRow, error) {
	t, after, adds, err := batchDataFiles(ctx, c.table(transforms.BronzeTable.Name), app, batch)
	if err != nil {
		return nil, err
	}
	return readRows(ctx, t, after, adds, transforms.DecodeBronze)
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
