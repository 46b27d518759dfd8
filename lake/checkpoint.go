package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Checkpoints (PROTOCOL.md, "Checkpoints"): every interval versions the
// writer folds the table's state into one parquet file in the protocol's
// checkpoint schema and points _delta_log/_last_checkpoint at it, so that
// readers start there instead of replaying every commit.

// DefaultCheckpointInterval is Spark's default for delta.checkpointInterval.
const DefaultCheckpointInterval = 10

const lastCheckpointName = logDir + "/_last_checkpoint"

func checkpointName(v int64) string { return fmt.Sprintf("%s/%020d.checkpoint.parquet", logDir, v) }

// lastCheckpoint is the content of _last_checkpoint: a hint, which readers
// verify before they trust it.
type lastCheckpoint struct {
	Version       int64 `json:"version"`
	Size          int64 `json:"size"` // actions (rows) in the checkpoint
	Parts         int   `json:"parts,omitempty"`
	SizeInBytes   int64 `json:"sizeInBytes,omitempty"`
	NumOfAddFiles int64 `json:"numOfAddFiles,omitempty"`
}

// files returns the names of the checkpoint's files inside _delta_log.
func (lc lastCheckpoint) files() []string {
	if lc.Parts == 0 {
		return []string{fmt.Sprintf("%020d.checkpoint.parquet", lc.Version)}
	}
	out := make([]string, lc.Parts)
	for i := range out {
		out[i] = fmt.Sprintf("%020d.checkpoint.%010d.%010d.parquet", lc.Version, i+1, lc.Parts)
	}
	return out
}

func readLastCheckpoint(ctx context.Context, st Storage) (lastCheckpoint, error) {
	var lc lastCheckpoint
	data, err := st.ReadFile(ctx, lastCheckpointName)
	if err != nil {
		return lc, fmt.Errorf("read %s: %w", lastCheckpointName, err)
	}
	if err := json.Unmarshal(data, &lc); err != nil {
		return lc, fmt.Errorf("%s: %w", lastCheckpointName, err)
	}
	if lc.Version < 0 || lc.Size < 0 || lc.Parts < 0 || lc.Parts > 1_000_000 {
		return lc, fmt.Errorf("%s: invalid content %s", lastCheckpointName, data)
	}
	return lc, nil
}

// checkpointInterval is the table property delta.checkpointInterval when it
// is set, else the Table's CheckpointInterval, else the default; 0 means none.
func (t *Table) checkpointInterval(md Metadata) int64 {
	if t.CheckpointInterval < 0 {
		return 0
	}
	if n, err := strconv.ParseInt(md.Configuration["delta.checkpointInterval"], 10, 64); err == nil && n > 0 {
		return n
	}
	if t.CheckpointInterval > 0 {
		return t.CheckpointInterval
	}
	return DefaultCheckpointInterval
}

// checkpointAfterCommit writes the checkpoint of a version just committed
// when it falls on the interval (never version 0, as in Spark). The commit is
// durable already: a checkpoint that fails is logged and left to the next
// interval, and readers replay the JSON commits meanwhile.
func (t *Table) checkpointAfterCommit(ctx context.Context, version int64, prev *Snapshot, actions []Action) {
	var md Metadata
	if prev != nil {
		md = prev.Metadata
	}
	for _, a := range actions {
		if a.MetaData != nil {
			md = *a.MetaData
		}
	}
	n := t.checkpointInterval(md)
	if n == 0 || version == 0 || version%n != 0 {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			slog.Warn("delta: checkpoint failed; the commit stands", "table", t.Location, "version", version, "panic", r)
		}
	}()
	if err := t.Checkpoint(ctx, version); err != nil {
		slog.Warn("delta: checkpoint failed; the commit stands", "table", t.Location, "version", version, "err", err)
	}
}

// Checkpoint writes the checkpoint of an existing version, put-if-absent (a
// checkpoint another writer already wrote stays as it is), and then points
// _last_checkpoint at it unless that names a newer one already.
func (t *Table) Checkpoint(ctx context.Context, version int64) error {
	snap, err := loadSnapshot(ctx, t.Storage, version)
	if err != nil {
		return fmt.Errorf("table %s: checkpoint version %d: %w", t.Location, version, err)
	}
	actions := snap.checkpointActions(time.Now())
	data, err := encodeCheckpoint(actions)
	if err != nil {
		return fmt.Errorf("table %s: checkpoint version %d: %w", t.Location, version, err)
	}
	err = t.Storage.PutIfAbsent(ctx, checkpointName(version), data)
	if errors.Is(err, ErrExist) {
		return nil // a racing writer wrote it, and writes _last_checkpoint for it
	}
	if err != nil {
		return fmt.Errorf("table %s: write checkpoint %d: %w", t.Location, version, err)
	}
	lc := lastCheckpoint{Version: version, Size: int64(len(actions)), SizeInBytes: int64(len(data)), NumOfAddFiles: int64(len(snap.files))}
	if cur, err := readLastCheckpoint(ctx, t.Storage); err == nil && cur.Version >= version {
		return nil
	}
	hint, err := json.Marshal(lc)
	if err != nil {
		return err
	}
	w, err := t.Storage.Create(ctx, lastCheckpointName)
	if err != nil {
		return fmt.Errorf("table %s: write %s: %w", t.Location, lastCheckpointName, err)
	}
	if _, err := w.Write(hint); err != nil {
		w.Close()
		return fmt.Errorf("table %s: write %s: %w", t.Location, lastCheckpointName, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("table %s: write %s: %w", t.Location, lastCheckpointName, err)
	}
	return nil
}

// checkpointActions is the snapshot as a checkpoint holds it: protocol,
// metadata, the last txn of each application, the active files, and the
// remove tombstones younger than delta.deletedFileRetentionDuration (default
// a week), which other engines' vacuum still needs. dataChange is false
// throughout, as Spark writes it.
func (s *Snapshot) checkpointActions(now time.Time) []Action {
	p, md := s.Protocol, s.Metadata
	out := []Action{{Protocol: &p}, {MetaData: &md}}
	apps := make([]string, 0, len(s.txns))
	for id := range s.txns {
		apps = append(apps, id)
	}
	sort.Strings(apps)
	for _, id := range apps {
		txn := s.txns[id]
		out = append(out, Action{Txn: &txn})
	}
	for _, f := range s.Files() {
		f.DataChange = false
		out = append(out, Action{Add: &f})
	}
	cutoff := now.Add(-deletedFileRetention(md.Configuration)).UnixMilli()
	paths := make([]string, 0, len(s.removed))
	for p, r := range s.removed {
		if r.DeletionTimestamp != nil && *r.DeletionTimestamp > cutoff {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		r := *s.removed[p]
		r.DataChange = false
		out = append(out, Action{Remove: &r})
	}
	return out
}

// deletedFileRetention reads delta.deletedFileRetentionDuration, a Spark
// interval such as "interval 1 week" or "interval 36 hours".
func deletedFileRetention(conf map[string]string) time.Duration {
	f := strings.Fields(strings.ToLower(conf["delta.deletedFileRetentionDuration"]))
	if len(f) != 3 || f[0] != "interval" {
		return DefaultRetention
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	unit := map[string]time.Duration{"millisecond": time.Millisecond, "second": time.Second, "minute": time.Minute,
		"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}[strings.TrimSuffix(f[2], "s")]
	if err != nil || n < 0 || unit == 0 {
		return DefaultRetention
	}
	return time.Duration(n) * unit
}

func nullable(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// checkpointSchema is the checkpoint schema Spark (3.4 to 4.0) writes for a
// table without reader or writer features, less domainMetadata: one nullable
// struct column per action kind, of which each row sets one.
var checkpointSchema = func() *arrow.Schema {
	str, i64, i32, boolean := arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Boolean
	strMap, strList := arrow.MapOf(str, str), arrow.ListOf(str)
	dv := arrow.StructOf(nullable("storageType", str), nullable("pathOrInlineDv", str), nullable("offset", i32),
		nullable("sizeInBytes", i32), nullable("cardinality", i64), nullable("maxRowIndex", i64))
	return arrow.NewSchema([]arrow.Field{
		nullable("txn", arrow.StructOf(nullable("appId", str), nullable("version", i64), nullable("lastUpdated", i64))),
		nullable("add", arrow.StructOf(nullable("path", str), nullable("partitionValues", strMap), nullable("size", i64),
			nullable("modificationTime", i64), nullable("dataChange", boolean), nullable("tags", strMap),
			nullable("deletionVector", dv), nullable("baseRowId", i64), nullable("defaultRowCommitVersion", i64),
			nullable("stats", str))),
		nullable("remove", arrow.StructOf(nullable("path", str), nullable("deletionTimestamp", i64),
			nullable("dataChange", boolean), nullable("extendedFileMetadata", boolean), nullable("partitionValues", strMap),
			nullable("size", i64), nullable("deletionVector", dv), nullable("baseRowId", i64),
			nullable("defaultRowCommitVersion", i64))),
		nullable("metaData", arrow.StructOf(nullable("id", str), nullable("name", str), nullable("description", str),
			nullable("format", arrow.StructOf(nullable("provider", str), nullable("options", strMap))),
			nullable("schemaString", str), nullable("partitionColumns", strList), nullable("configuration", strMap),
			nullable("createdTime", i64))),
		nullable("protocol", arrow.StructOf(nullable("minReaderVersion", i32), nullable("minWriterVersion", i32),
			nullable("readerFeatures", strList), nullable("writerFeatures", strList))),
	}, nil)
}()

// encodeCheckpoint writes actions as a parquet checkpoint, one row each. The
// actions go through their JSON form (the one commits use), shaped to the
// checkpoint schema: JSON objects become maps where the schema has a map.
func encodeCheckpoint(actions []Action) ([]byte, error) {
	rowType := arrow.StructOf(checkpointSchema.Fields()...)
	rows := make([]any, len(actions))
	for i := range actions {
		b, err := json.Marshal(&actions[i])
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // int64 stays exact
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		rows[i] = toArrowJSON(v, rowType)
	}
	js, err := json.Marshal(rows)
	if err != nil {
		return nil, err
	}
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, checkpointSchema, bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("checkpoint rows: %w", err)
	}
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("tweet-sentiment lake (arrow-go)"))
	w, err := pqarrow.NewFileWriter(checkpointSchema, &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, fmt.Errorf("checkpoint parquet: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("checkpoint parquet: %w", err)
	}
	return buf.Bytes(), nil
}

// toArrowJSON reshapes a decoded JSON value to what arrow's JSON reader wants
// for type dt: only the schema's struct fields, and maps as lists of
// {"key", "value"} objects (sorted by key, so checkpoints are reproducible).
func toArrowJSON(v any, dt arrow.DataType) any {
	switch t := dt.(type) {
	case *arrow.StructType:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		out := make(map[string]any, t.NumFields())
		for _, f := range t.Fields() {
			out[f.Name] = toArrowJSON(m[f.Name], f.Type)
		}
		return out
	case *arrow.MapType:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = map[string]any{"key": k, "value": toArrowJSON(m[k], t.ItemType())}
		}
		return out
	case *arrow.ListType:
		l, ok := v.([]any)
		if !ok {
			return nil
		}
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = toArrowJSON(e, t.Elem())
		}
		return out
	}
	return v
}
