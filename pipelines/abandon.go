package pipelines

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// ReasonAbandoned is the quarantine category of the rows --abandon-batch
// writes, one per planned file of the batch it closes.
const ReasonAbandoned = "abandoned"

// Abandoned is the record an abandon leaves in its ledger (what was held,
// which files were gone), next to the plans.
type Abandoned struct {
	Batch  int64             `json:"batch"`
	Held   []string          `json:"held"`   // tables that had committed the batch
	Closed []string          `json:"closed"` // tables the abandon closed it in
	Files  map[string]string `json:"files"`  // planned file → its state (ok, vanished: …, changed_after_planning: …)
	When   time.Time         `json:"when"`
	Record string            `json:"-"` // where the record is, relative to the lake
}

// AbandonBatch closes the unfinished batch n when its redo cannot go on by
// itself (a planned file is gone for good after some tables committed the
// batch from it). Tables holding the batch keep what they hold; every other
// table records the batch's txn so the lake moves on: application gets the
// counts of the gold rows the batch committed (so it still equals a recount
// of gold), quarantine gets one row per planned file saying the batch was
// abandoned and why, the others an empty commit. Nothing committed is
// removed; rows the batch never committed (a silver row without its gold
// prediction, say) stay missing, which the quarantine rows record.
func AbandonBatch(ctx context.Context, lakeDir string, n int64) (*Abandoned, error) {
	if !lake.IsRemote(lakeDir) {
		lakeDir = absPath(lakeDir)
	}
	cp, err := openCheckpoint(ctx, lakeDir)
	if err != nil {
		return nil, err
	}
	plan, err := cp.unfinished(ctx)
	if err != nil {
		return nil, fmt.Errorf("abandon batch %d: %w", n, err)
	}
	if plan == nil || plan.Batch != n {
		if p, ok := cp.byBatch[n]; ok && (plan == nil || n < plan.Batch) {
			plan = p // complete: said below
		} else if plan == nil {
			return nil, fmt.Errorf("abandon batch %d: no batch is unfinished, and %d was never planned", n, n)
		} else {
			return nil, fmt.Errorf("abandon batch %d: only the oldest unfinished batch can be abandoned, and that is %d", n, plan.Batch)
		}
	}
	if done, err := cp.complete(ctx, plan); err != nil {
		return nil, fmt.Errorf("abandon batch %d: %w", n, err)
	} else if done {
		return nil, fmt.Errorf("abandon batch %d: every table holds batch %d already: nothing to abandon", n, n)
	}
	st := plan.stages()
	app := st.appID()
	rec := Abandoned{Batch: n, Files: map[string]string{}, When: time.Now().UTC()}
	for _, name := range st.tables() {
		_, held, err := batchHeld(ctx, lake.Join(lakeDir, name), app, n)
		if err != nil {
			return nil, fmt.Errorf("abandon batch %d: table %s: %w", n, name, err)
		}
		if held {
			rec.Held = append(rec.Held, name)
		}
	}
	for _, f := range plan.planned() {
		state := "ok"
		if _, _, err := transforms.CheckPlanned(ctx, f); err != nil {
			state = err.Error()
		}
		rec.Files[f.Path] = state
	}
	held := "no table"
	if len(rec.Held) > 0 {
		held = strings.Join(rec.Held, ", ")
	}
	now := time.Now().UnixMicro()
	for _, name := range st.tables() {
		if slices.Contains(rec.Held, name) {
			continue
		}
		loc := lake.Join(lakeDir, name)
		opts := lake.WriteOptions{Operation: "ABANDON BATCH", AppID: app, Version: n,
			Parameters: map[string]string{"abandoned_batch": fmt.Sprint(n), "held_by": held}}
		var err error
		switch name {
		case transforms.ApplicationTable.Name:
			var counts []transforms.ApplicationRow
			if slices.Contains(rec.Held, transforms.GoldTable.Name) {
				if counts, err = batchGoldCounts(ctx, lake.Join(lakeDir, transforms.GoldTable.Name), app, n); err != nil {
					return nil, fmt.Errorf("abandon batch %d: %w", n, err)
				}
			}
			_, err = transforms.CommitApplication(ctx, transforms.ApplicationConfig{Location: loc, AppID: app, Version: n,
				Lineage: transforms.Lineage{Stage: transforms.GoldApplication.String(), Table: transforms.GoldTable.Name, Txn: batchTxn(st, n)}}, counts)
		case transforms.QuarantineTable.Name:
			rows := make([]transforms.QuarantineRow, 0, len(plan.Files)+len(plan.Kafka))
			for _, f := range plan.Files {
				rows = append(rows, transforms.QuarantineRow{Stage: transforms.BronzeTable.Name, SourceFile: f, ProcessingTime: now,
					Reason: fmt.Sprintf("%s: batch %d closed by medallion abandon (file %s; held by %s)", ReasonAbandoned, n, rec.Files[f], held)})
			}
			for _, r := range plan.Kafka {
				rows = append(rows, transforms.QuarantineRow{Stage: transforms.BronzeTable.Name, SourceFile: transforms.MessageName(r.Topic, r.Partition, r.From), ProcessingTime: now,
					Reason: fmt.Sprintf("%s: batch %d closed by medallion abandon (Kafka %s; held by %s)", ReasonAbandoned, n, r, held)})
			}
			err = appendRows(ctx, loc, transforms.QuarantineSchema, rows, opts)
		default:
			_, err = lake.Open(loc).Append(ctx, baseSchema(name), nil, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("abandon batch %d: table %s: %w", n, name, err)
		}
		rec.Closed = append(rec.Closed, name)
	}
	records := abandonedLedger(lakeDir)
	err = records.claim(ctx, n, rec)
	if err != nil && !errors.Is(err, lake.ErrExist) {
		return nil, fmt.Errorf("abandon batch %d: record it: %w", n, err)
	}
	rec.Record = records.name(n)
	return &rec, nil
}

func baseSchema(table string) lake.Schema {
	switch table {
	case transforms.BronzeTable.Name:
		return transforms.BronzeSchema
	case transforms.SilverTable.Name:
		return transforms.SilverSchema
	case transforms.QuarantineTable.Name:
		return transforms.QuarantineSchema
	case transforms.GoldTable.Name:
		return transforms.GoldSchema
	}
	return transforms.ApplicationSchema
}

// appendRows writes quarantine rows as one data file and appends it.
func appendRows(ctx context.Context, loc string, schema lake.Schema, rows []transforms.QuarantineRow, opts lake.WriteOptions) error {
	t := lake.Open(loc)
	adds, err := transforms.WriteDataFile(ctx, t, schema, rows)
	if err != nil {
		return err
	}
	_, err = t.Append(ctx, schema, adds, opts)
	return err
}

// batchGoldCounts reads back the gold rows batch committed (its commits, by
// txn version) and counts them per mention.
func batchGoldCounts(ctx context.Context, goldDir, app string, batch int64) ([]transforms.ApplicationRow, error) {
	t, after, adds, err := batchDataFiles(ctx, goldDir, app, batch)
	if err != nil {
		return nil, err
	}
	rows, err := readRows(ctx, t, after, adds, transforms.DecodeGoldCounts)
	if err != nil {
		return nil, fmt.Errorf("gold: %w", err)
	}
	return transforms.CountGold(rows), nil
}

// absPath makes a local lake path absolute, as Validate does, so plans
// (which hold absolute paths) and tables are found whatever the working folder.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
