package transforms

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
)

func init() {
	register.Function1x2[GoldRow, string, ApplicationRow](mentionCounts)
	register.Function2x1[ApplicationRow, ApplicationRow, ApplicationRow](MergeCounts)
	register.Function2x1[string, ApplicationRow, ApplicationRow](withMention)
	register.DoFn5x1[context.Context, []byte, func(*ApplicationRow) bool, func(*deltaio.Committed) bool, func(deltaio.Committed), error](&applicationCommitFn{})
	register.Iter1[ApplicationRow]()
	register.Iter1[deltaio.Committed]()
	register.Emitter1[deltaio.Committed]()
	beam.RegisterType(reflect.TypeOf((*ApplicationRow)(nil)).Elem())
}

// ApplicationConfig says where and how Application commits.
type ApplicationConfig struct {
	Location string
	// AppID and Version make the commit idempotent (a txn action).
	AppID   string
	Version int64
	// Replace makes the counts the whole table (a rebuild from all of gold,
	// after a rescore) instead of merging them into the previous version.
	Replace bool
	// Lineage is recorded in the commit; the gold version committed just
	// before is filled in when known.
	Lineage Lineage
	// RequireTxn guards a Replace (see lake.WriteOptions.RequireTxn).
	RequireTxn map[string]int64
}

// Application aggregates gold per mention (first and last timestamp,
// negative/neutral/positive counts) and commits the application table as a
// new version: this run's counts merged into the table's previous ones, or
// replacing them (cfg.Replace). It commits only after gold has
// (goldCommitted is its signal), so application never counts rows gold
// does not hold.
func Application(s beam.Scope, gold, goldCommitted beam.PCollection, cfg ApplicationConfig) beam.PCollection {
	s = s.Scope("Application")
	rows := countMentions(s, gold)
	return beam.ParDo(s, &applicationCommitFn{Cfg: cfg}, beam.Impulse(s),
		beam.SideInput{Input: rows}, beam.SideInput{Input: goldCommitted})
}

// countMentions aggregates gold rows per mention (per window, in a
// windowed collection): ApplicationRows.
func countMentions(s beam.Scope, gold beam.PCollection) beam.PCollection {
	return beam.ParDo(s, withMention, beam.CombinePerKey(s, MergeCounts, beam.ParDo(s, mentionCounts, gold)))
}

func mentionCounts(g GoldRow) (string, ApplicationRow) {
	r := ApplicationRow{Mention: g.Mention, MinTimestamp: g.Timestamp, MaxTimestamp: g.Timestamp, Total: 1}
	switch g.PredictedSentimentID {
	case 1:
		r.Positive = 1
	case 0:
		r.Negative = 1
	default:
		r.Neutral = 1
	}
	return g.Mention, r
}

// MergeCounts adds two aggregates of one mention.
func MergeCounts(a, b ApplicationRow) ApplicationRow {
	out := ApplicationRow{
		Mention:      a.Mention,
		MinTimestamp: min(a.MinTimestamp, b.MinTimestamp), MaxTimestamp: max(a.MaxTimestamp, b.MaxTimestamp),
		Negative: a.Negative + b.Negative, Neutral: a.Neutral + b.Neutral, Positive: a.Positive + b.Positive,
		Total: a.Total + b.Total,
	}
	if out.Mention == "" {
		out.Mention = b.Mention
	}
	return out
}

func withMention(m string, r ApplicationRow) ApplicationRow { r.Mention = m; return r }

type applicationCommitFn struct {
	Cfg ApplicationConfig
}

func (f *applicationCommitFn) ProcessElement(ctx context.Context, _ []byte, rows func(*ApplicationRow) bool,
	goldCommitted func(*deltaio.Committed) bool, emit func(deltaio.Committed)) error {
	cfg := f.Cfg
	var c deltaio.Committed
	for goldCommitted(&c) {
		if c.Version >= 0 {
			cfg.Lineage.To = Int64(c.Version)
		}
	}
	var batch []ApplicationRow
	var r ApplicationRow
	for rows(&r) {
		batch = append(batch, r)
	}
	committed, err := CommitApplication(ctx, cfg, batch)
	if err != nil {
		return err
	}
	emit(committed)
	return nil
}

// CountGold is a batch's per-mention counts from its gold rows' mention,
// timestamp and predicted sentiment id, as Application computes them.
func CountGold(rows []GoldRow) []ApplicationRow {
	merged := map[string]ApplicationRow{}
	for _, g := range rows {
		m, r := mentionCounts(g)
		if o, ok := merged[m]; ok {
			r = MergeCounts(o, r)
		}
		merged[m] = withMention(m, r)
	}
	out := make([]ApplicationRow, 0, len(merged))
	for _, r := range merged {
		out = append(out, r)
	}
	return out
}

// maxApplicationAttempts bounds how often an application commit merges
// again because other writers committed between its read and its commit.
const maxApplicationAttempts = 50

// beforeApplicationCommit runs between an application commit's read of the
// table and its commit. Only tests set it: to commit as another writer in
// between.
var beforeApplicationCommit = func(ctx context.Context, location string) {}

// CommitApplication merges one batch's per-mention counts into the
// application table's previous version (or, with cfg.Replace, makes them
// the table) and commits the result, once for (AppID, Version): the
// pipeline's last step, and --abandon-batch's when gold holds a batch that
// application lacks. The merge is a read-modify-write: the commit must land
// on the very version it merged into (lake.WriteOptions.BaseVersion), and
// when another writer committed first, the newer version is read and merged
// into again, so no writer's counts are ever dropped.
func CommitApplication(ctx context.Context, cfg ApplicationConfig, batch []ApplicationRow) (deltaio.Committed, error) {
	for attempt := 1; ; attempt++ {
		committed, err := commitApplicationOnce(ctx, cfg, batch)
		if !errors.Is(err, lake.ErrStale) || attempt >= maxApplicationAttempts {
			return committed, err
		}
		time.Sleep(time.Duration(attempt%10+1) * time.Millisecond) // others are committing: back off a little
	}
}

// commitApplicationOnce is one read, merge and commit; it fails with
// lake.ErrStale when another writer committed after the read.
func commitApplicationOnce(ctx context.Context, cfg ApplicationConfig, batch []ApplicationRow) (deltaio.Committed, error) {
	location, appID, version := cfg.Location, cfg.AppID, cfg.Version
	merged := map[string]ApplicationRow{}
	for _, r := range batch {
		merged[r.Mention] = r
	}
	tbl := lake.Open(location)
	exists, err := tbl.Exists(ctx)
	if err != nil {
		return deltaio.Committed{}, fmt.Errorf("application %s: %w", location, err)
	}
	base := int64(-1) // the version merged into; -1: no table yet
	if exists {
		snap, err := tbl.Snapshot(ctx, -1)
		if err != nil {
			return deltaio.Committed{}, fmt.Errorf("application %s: %w", location, err)
		}
		base = snap.Version
		if v, ok := snap.TxnVersion(appID); appID != "" && ok && v >= version {
			return deltaio.Committed{Table: location, Version: -1}, nil // this batch was merged before a restart
		}
		if len(merged) == 0 && appID == "" && !cfg.Replace {
			return deltaio.Committed{Table: location, Version: -1}, nil // nothing new: the table stays as it is
		}
		if !cfg.Replace {
			old, err := readApplication(ctx, tbl, snap)
			if err != nil {
				return deltaio.Committed{}, fmt.Errorf("application %s: %w", location, err)
			}
			for _, o := range old {
				if n, ok := merged[o.Mention]; ok {
					merged[o.Mention] = MergeCounts(o, n)
				} else {
					merged[o.Mention] = o
				}
			}
		}
	}
	all := make([]ApplicationRow, 0, len(merged))
	for _, r := range merged {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].Total > all[j].Total || all[i].Total == all[j].Total && all[i].Mention < all[j].Mention
	})
	adds, err := WriteDataFile(ctx, tbl, ApplicationSchema, all)
	if err != nil {
		return deltaio.Committed{}, err
	}
	opts := lake.WriteOptions{Operation: "APPLICATION REFRESH", AppID: appID, Version: version,
		Parameters: cfg.Lineage.Params(nil), RequireTxn: cfg.RequireTxn}
	if !cfg.Replace {
		// A Replace is the whole table from gold (RequireTxn guards it); a
		// merge holds the counts of version base and must land on it.
		opts.BaseVersion = &base
	}
	beforeApplicationCommit(ctx, location)
	v, err := tbl.Overwrite(ctx, ApplicationSchema, adds, opts)
	if errors.Is(err, lake.ErrStale) {
		for _, a := range adds {
			tbl.Storage.Remove(ctx, a.Path) // never committed; best effort (vacuum removes it otherwise)
		}
	}
	if err != nil {
		return deltaio.Committed{}, fmt.Errorf("commit %s: %w", location, err)
	}
	return deltaio.Committed{Table: location, Version: v, Files: int64(len(adds)), Rows: int64(len(all))}, nil
}

// ReadApplication reads the current application table.
func ReadApplication(ctx context.Context, tbl *lake.Table) ([]ApplicationRow, error) {
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	return readApplication(ctx, tbl, snap)
}

// readApplication reads the application table at a snapshot.
func readApplication(ctx context.Context, tbl *lake.Table, snap *lake.Snapshot) ([]ApplicationRow, error) {
	at, err := tbl.Read(ctx, snap)
	if err != nil {
		return nil, err
	}
	defer at.Release()
	tr := array.NewTableReader(at, 1<<16)
	defer tr.Release()
	var out []ApplicationRow
	for tr.Next() {
		rec := tr.RecordBatch()
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		mention := col("mention").(*array.String)
		minTS, maxTS := col("min_timestamp").(*array.Timestamp), col("max_timestamp").(*array.Timestamp)
		neg, neu, pos, tot := col("negative").(*array.Int64), col("neutral").(*array.Int64), col("positive").(*array.Int64), col("total").(*array.Int64)
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, ApplicationRow{
				Mention: mention.Value(i), MinTimestamp: int64(minTS.Value(i)), MaxTimestamp: int64(maxTS.Value(i)),
				Negative: neg.Value(i), Neutral: neu.Value(i), Positive: pos.Value(i), Total: tot.Value(i),
			})
		}
	}
	return out, nil
}
