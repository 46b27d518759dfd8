// Package lake reads and writes Delta Lake tables: parquet data files plus a
// _delta_log of JSON commits, to the subset of the protocol (reader 1–3
// without features, writer 2) that Spark, delta-rs and DuckDB read. Commits
// are optimistic: a new version is written with put-if-absent, and a writer
// that loses the race re-reads the log and tries again.
package lake

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
)

// EngineInfo is written into every commit's commitInfo.
const EngineInfo = "tweet-sentiment-lake/1 (Go)"

// Table is a Delta table at a location.
type Table struct {
	Location string // for messages: a path or URI
	Storage  Storage
	// CheckpointInterval: after a commit whose version is a multiple of it,
	// the writer also writes a checkpoint. The table property
	// delta.checkpointInterval wins when set (it is shared with other
	// engines); 0 means DefaultCheckpointInterval; negative turns
	// checkpoints off.
	CheckpointInterval int64
}

// Open returns the table at a location (which need not exist yet): a local
// directory, s3://bucket/prefix or gs://bucket/prefix (see StorageFor).
func Open(location string) *Table {
	return &Table{Location: location, Storage: StorageFor(location)}
}

// Snapshot returns the table's state at version, or the latest for version < 0.
func (t *Table) Snapshot(ctx context.Context, version int64) (*Snapshot, error) {
	s, err := loadSnapshot(ctx, t.Storage, version)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Location, err)
	}
	return s, nil
}

// Exists reports whether the location holds a Delta log with a commit.
func (t *Table) Exists(ctx context.Context) (bool, error) {
	l, err := listLog(ctx, t.Storage)
	if errors.Is(err, ErrNotTable) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return l.latest() >= 0, nil
}

// History returns the commits from version from (inclusive) to the latest,
// oldest first. Versions folded into a checkpoint whose JSON is gone are skipped.
func (t *Table) History(ctx context.Context, from int64) ([]Commit, error) {
	h, err := history(ctx, t.Storage, from, -1)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Location, err)
	}
	return h, nil
}

// ErrConflict is returned when a commit could not be placed after many tries.
var ErrConflict = errors.New("commit conflict")

// ErrStale is returned by a write whose BaseVersion is no longer the table's
// latest: another writer committed after the caller read the table, so what
// the caller computed from it must be computed again.
var ErrStale = fmt.Errorf("%w: the table changed since it was read", ErrConflict)

// maxCommitAttempts bounds the optimistic retry loop.
const maxCommitAttempts = 200

// Commit writes the next version. prepare is given the current snapshot (nil
// when the table does not exist yet) and returns the actions to commit, or no
// actions to commit nothing. When another writer takes the version first,
// prepare runs again on the newer snapshot: it must be a pure function of the
// snapshot, so that a rebased commit is still right. The returned version is
// -1 when nothing was committed.
func (t *Table) Commit(ctx context.Context, info CommitInfo, prepare func(*Snapshot) ([]Action, error)) (int64, error) {
	for attempt := 0; attempt < maxCommitAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		var snap *Snapshot
		exists, err := t.Exists(ctx)
		if err != nil {
			return -1, fmt.Errorf("table %s: %w", t.Location, err)
		}
		next := int64(0)
		if exists {
			if snap, err = t.Snapshot(ctx, -1); err != nil {
				return -1, err
			}
			if err := checkWritable(snap); err != nil {
				return -1, fmt.Errorf("table %s: %w", t.Location, err)
			}
			next = snap.Version + 1
		}
		actions, err := prepare(snap)
		if err != nil {
			return -1, fmt.Errorf("table %s: %w", t.Location, err)
		}
		if snap != nil && snap.Metadata.Configuration["delta.appendOnly"] == "true" {
			for _, a := range actions {
				if a.Remove != nil && a.Remove.DataChange {
					return -1, fmt.Errorf("table %s: refusing to remove %s: the table is append-only (delta.appendOnly)", t.Location, a.Remove.Path)
				}
			}
		}
		if len(actions) == 0 {
			return -1, nil
		}
		ci := info
		ci.Timestamp = time.Now().UnixMilli()
		ci.EngineInfo = EngineInfo
		ci.TxnID = uuid.NewString()
		if snap != nil {
			rv := snap.Version
			ci.ReadVersion = &rv
		}
		data, err := encodeCommit(append([]Action{{CommitInfo: &ci}}, actions...))
		if err != nil {
			return -1, err
		}
		err = t.Storage.PutIfAbsent(ctx, commitName(next)[0:], data)
		if errors.Is(err, ErrExist) {
			// Lost the race: back off a little (more with each try) and rebase.
			time.Sleep(time.Duration(attempt%10+1) * time.Millisecond)
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("table %s: commit version %d: %w", t.Location, next, err)
		}
		t.checkpointAfterCommit(ctx, next, snap, actions)
		return next, nil
	}
	return -1, fmt.Errorf("table %s: %w: gave up after %d attempts", t.Location, ErrConflict, maxCommitAttempts)
}

// WriteOptions describe one write.
type WriteOptions struct {
	// AppID and Version make the write idempotent: when the table already
	// records this AppID at Version or later, nothing is committed.
	AppID   string
	Version int64
	// Operation names the write in history (default "WRITE").
	Operation string
	// Configuration is set on the table when the write creates it.
	Configuration map[string]string
	// Parameters are added to commitInfo.operationParameters.
	Parameters map[string]string
	// RequireTxn makes the commit conditional: each appId must be at exactly
	// this txn version (-1: absent) in the snapshot the commit lands on, or
	// the write fails with ErrConflict. An overwrite computed from another
	// table's state uses it so that it never drops rows an append committed
	// after that state was read.
	RequireTxn map[string]int64
	// BaseVersion, when set, makes the write land on exactly that version
	// of the table (-1: on no table), or fail with ErrStale: a write
	// computed from the table's own rows (read, merge, overwrite) must not
	// be rebased onto rows it never saw. The caller reads again and retries.
	BaseVersion *int64
}

// Append commits data files to the table, creating it with schema when it
// does not exist, and growing its schema with schema's new columns (nullable)
// when it does. With no files and an existing table nothing is committed.
func (t *Table) Append(ctx context.Context, schema Schema, files []AddFile, opts WriteOptions) (int64, error) {
	return t.write(ctx, schema, files, opts, false)
}

// Overwrite replaces the table's files with files, in one commit.
func (t *Table) Overwrite(ctx context.Context, schema Schema, files []AddFile, opts WriteOptions) (int64, error) {
	return t.write(ctx, schema, files, opts, true)
}

func (t *Table) write(ctx context.Context, schema Schema, files []AddFile, opts WriteOptions, overwrite bool) (int64, error) {
	mode := "Append"
	if overwrite {
		mode = "Overwrite"
	}
	op := opts.Operation
	if op == "" {
		op = "WRITE"
	}
	var rows, bytes int64
	for _, f := range files {
		bytes += f.Size
		if st, ok, _ := f.ParseStats(); ok {
			rows += st.NumRecords
		}
	}
	info := CommitInfo{
		Operation:           op,
		OperationParameters: map[string]any{"mode": mode, "partitionBy": "[]"},
		OperationMetrics: map[string]string{
			"numFiles": strconv.Itoa(len(files)), "numOutputRows": strconv.FormatInt(rows, 10),
			"numOutputBytes": strconv.FormatInt(bytes, 10),
		},
	}
	for k, v := range opts.Parameters {
		info.OperationParameters[k] = v
	}
	blind := !overwrite
	info.IsBlindAppend = &blind
	return t.Commit(ctx, info, func(snap *Snapshot) ([]Action, error) {
		var actions []Action
		if opts.BaseVersion != nil && snap == nil && *opts.BaseVersion >= 0 {
			return nil, fmt.Errorf("%w: version %d was read, and the table is gone", ErrStale, *opts.BaseVersion)
		}
		if snap == nil {
			now := time.Now().UnixMilli()
			conf := opts.Configuration
			if conf == nil {
				conf = map[string]string{}
			}
			actions = append(actions,
				Action{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
				Action{MetaData: &Metadata{
					ID: uuid.NewString(), Format: Format{Provider: "parquet", Options: map[string]string{}},
					SchemaString: schema.String(), PartitionColumns: []string{}, Configuration: conf, CreatedTime: &now,
				}})
		} else {
			if opts.AppID != "" {
				if v, ok := snap.TxnVersion(opts.AppID); ok && v >= opts.Version {
					return nil, nil // already committed by an earlier attempt
				}
			}
			if len(files) == 0 && !overwrite && opts.AppID == "" {
				return nil, nil
			}
			if opts.BaseVersion != nil && *opts.BaseVersion != snap.Version {
				return nil, fmt.Errorf("%w: this write was computed from version %d, the table is at %d", ErrStale, *opts.BaseVersion, snap.Version)
			}
			for app, want := range opts.RequireTxn {
				got, ok := snap.TxnVersion(app)
				if !ok {
					got = -1
				}
				if got != want {
					return nil, fmt.Errorf("%w: txn %s is at version %d, this write expects %d: another writer committed since its input was read", ErrConflict, app, got, want)
				}
			}
			merged, changed, err := snap.Schema.Merge(schema)
			if err != nil {
				return nil, err
			}
			if changed {
				md := snap.Metadata
				md.SchemaString = merged.String()
				actions = append(actions, Action{MetaData: &md})
			}
			if overwrite {
				now := time.Now().UnixMilli()
				for _, f := range snap.Files() {
					size := f.Size
					actions = append(actions, Action{Remove: &RemoveFile{
						Path: f.Path, DeletionTimestamp: &now, DataChange: true,
						ExtendedFileMeta: true, PartitionValues: f.PartitionValues, Size: &size,
					}})
				}
			}
		}
		if opts.AppID != "" {
			now := time.Now().UnixMilli()
			actions = append(actions, Action{Txn: &Txn{AppID: opts.AppID, Version: opts.Version, LastUpdated: &now}})
		}
		for i := range files {
			actions = append(actions, Action{Add: &files[i]})
		}
		return actions, nil
	})
}

// Read returns the rows of a snapshot as one Arrow table in the snapshot's
// schema. The caller releases it.
func (t *Table) Read(ctx context.Context, snap *Snapshot) (arrow.Table, error) {
	schema, err := snap.ReadSchema()
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Location, err)
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, f := range snap.Files() {
		rec, err := t.ReadFile(ctx, f, schema)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return array.NewTableFromRecords(schema, recs), nil
}

// ReadFile reads one data file, shaped to schema (Snapshot.ReadSchema), less
// the rows its deletion vector deletes.
func (t *Table) ReadFile(ctx context.Context, f AddFile, schema *arrow.Schema) (arrow.RecordBatch, error) {
	name, err := unescapePath(f.Path)
	if err != nil {
		return nil, err
	}
	tbl, err := readParquet(ctx, t.Storage, name)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Location, err)
	}
	defer tbl.Release()
	rec, err := conform(tbl, schema, f.PartitionValues)
	if err != nil {
		return nil, fmt.Errorf("table %s: file %s: %w", t.Location, name, err)
	}
	dv, err := parseDV(f.DeletionVector)
	if err != nil || dv == nil {
		return rec, err
	}
	deleted, err := t.deletedRows(ctx, dv)
	if err != nil {
		rec.Release()
		return nil, fmt.Errorf("table %s: file %s: %w", t.Location, name, err)
	}
	defer rec.Release()
	return dropRows(rec, deleted)
}

// dropRows returns rec without the rows deleted names (by position in the
// file), as slices of the runs of rows kept.
func dropRows(rec arrow.RecordBatch, deleted *roaringArray) (arrow.RecordBatch, error) {
	var runs [][2]int64
	for i := int64(0); i < rec.NumRows(); i++ {
		if deleted.contains(uint64(i)) {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1][1] == i {
			runs[n-1][1] = i + 1
		} else {
			runs = append(runs, [2]int64{i, i + 1})
		}
	}
	parts := make([]arrow.RecordBatch, len(runs))
	for i, r := range runs {
		parts[i] = rec.NewSlice(r[0], r[1])
	}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	return concatRecords(rec.Schema(), parts)
}

// concatRecords joins record batches of one schema into one.
func concatRecords(schema *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	for c := range cols {
		chunks := make([]arrow.Array, len(recs))
		for i, r := range recs {
			chunks[i] = r.Column(c)
		}
		if len(chunks) == 0 {
			cols[c] = array.MakeArrayOfNull(memory.DefaultAllocator, schema.Field(c).Type, 0)
			continue
		}
		joined, err := array.Concatenate(chunks, memory.DefaultAllocator)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		cols[c] = joined
	}
	defer releaseAll(cols)
	return array.NewRecordBatch(schema, cols, n), nil
}

// releaseAll releases the arrays of a record batch being built (nil for
// columns not built yet): NewRecordBatch retains its own references.
func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

// Optimize compacts the table's data files into one (dataChange=false), so
// readers see the same rows from fewer files. Nothing is committed when the
// table has fewer than two files. It returns the new version (-1 when none)
// and the file counts before and after.
func (t *Table) Optimize(ctx context.Context, opts WriterOptions) (version int64, before, after int, err error) {
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return -1, 0, 0, err
	}
	files := snap.Files()
	if len(files) < 2 {
		return -1, len(files), len(files), nil
	}
	schema, err := snap.Schema.ArrowSchema()
	if err != nil {
		return -1, 0, 0, err
	}
	w, err := t.NewDataWriter(ctx, schema, opts)
	if err != nil {
		return -1, 0, 0, err
	}
	for _, f := range files {
		rec, err := t.ReadFile(ctx, f, schema)
		if err != nil {
			w.Abort(ctx)
			return -1, 0, 0, err
		}
		err = w.Write(rec)
		rec.Release()
		if err != nil {
			w.Abort(ctx)
			return -1, 0, 0, err
		}
	}
	add, err := w.Close()
	if err != nil {
		return -1, 0, 0, err
	}
	add.DataChange = false
	info := CommitInfo{Operation: "OPTIMIZE", OperationParameters: map[string]any{"predicate": "[]"},
		OperationMetrics: map[string]string{"numRemovedFiles": strconv.Itoa(len(files)), "numAddedFiles": "1"}}
	v, err := t.Commit(ctx, info, func(cur *Snapshot) ([]Action, error) {
		now := time.Now().UnixMilli()
		var actions []Action
		for _, f := range files {
			p, _ := unescapePath(f.Path)
			if _, ok := cur.files[p]; !ok {
				return nil, fmt.Errorf("optimize: %s was removed by a concurrent commit; run optimize again", f.Path)
			}
			size := f.Size
			actions = append(actions, Action{Remove: &RemoveFile{Path: f.Path, DeletionTimestamp: &now, DataChange: false,
				ExtendedFileMeta: true, PartitionValues: f.PartitionValues, Size: &size}})
		}
		return append(actions, Action{Add: &add}), nil
	})
	if err != nil {
		t.Storage.Remove(ctx, add.Path)
		return -1, 0, 0, err
	}
	return v, len(files), 1, nil
}

// Rows reads a snapshot as plain Go rows (see ValueAt), one map per row:
// convenient for tools and tests, not for bulk work.
func (t *Table) Rows(ctx context.Context, snap *Snapshot) ([]map[string]any, error) {
	at, err := t.Read(ctx, snap)
	if err != nil {
		return nil, err
	}
	defer at.Release()
	tr := array.NewTableReader(at, 1<<16)
	defer tr.Release()
	var out []map[string]any
	for tr.Next() {
		rec := tr.RecordBatch()
		fields := rec.Schema().Fields()
		for i := 0; i < int(rec.NumRows()); i++ {
			m := make(map[string]any, len(fields))
			for c, f := range fields {
				m[f.Name] = ValueAt(rec.Column(c), i)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// DefaultRetention is how long vacuum keeps files the log no longer (or not
// yet) names: Delta's default, 7 days.
const DefaultRetention = 7 * 24 * time.Hour

// Vacuum removes files under the table that its log does not reference:
// data files of failed or killed writes, and files removed by commits. A
// file is kept while it is younger than retention (a writer may be about to
// commit it) or was removed by a commit less than retention ago (time travel
// to those versions still reads it). The log itself is never touched.
// dryRun lists what would go.
func (t *Table) Vacuum(ctx context.Context, retention time.Duration, dryRun bool) (removed []string, err error) {
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	if err := checkWritable(snap); err != nil { // deletion vector files, for one, are not data files
		return nil, fmt.Errorf("table %s: vacuum: %w", t.Location, err)
	}
	keep := map[string]bool{}
	for p := range snap.files {
		keep[p] = true
	}
	cutoff := time.Now().Add(-retention)
	commits, err := history(ctx, t.Storage, 0, snap.Version)
	if err != nil {
		return nil, err
	}
	for _, c := range commits {
		for _, r := range c.Removes {
			if r.DeletionTimestamp == nil || time.UnixMilli(*r.DeletionTimestamp).After(cutoff) {
				if p, err := unescapePath(r.Path); err == nil {
					keep[p] = true
				}
			}
		}
	}
	err = t.Storage.Walk(ctx, func(name string, _ int64, mod time.Time) error {
		if strings.HasPrefix(name, logDir+"/") || keep[name] || mod.After(cutoff) {
			return nil
		}
		removed = append(removed, name)
		return nil
	})
	if err != nil || dryRun {
		return removed, err
	}
	for _, name := range removed {
		if err := t.Storage.Remove(ctx, name); err != nil {
			return removed, fmt.Errorf("vacuum %s: %w", name, err)
		}
	}
	return removed, nil
}
