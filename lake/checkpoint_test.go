package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/tweetsentiment/medallion/internal/oracle"
)

// buildHistory commits versions 0..commits-1 to tbl with what a checkpoint
// must carry: one data file per commit, txn actions of two applications, an
// overwrite at version 7 (remove tombstones) and a schema change at 13 (a
// second metaData). With real false, adds name files that do not exist (a
// log-level table, quick to build).
func buildHistory(t *testing.T, tbl *Table, commits int, real bool) {
	grown := NewSchema("id", TypeLong, "name", TypeString, "ts", TypeTimestamp, "score", TypeDouble, "extra", TypeString)
	for i := 0; i < commits; i++ {
		schema := testSchema
		if i >= 13 {
			schema = grown
		}
		var add AddFile
		if real {
			add = writeFile(t, tbl, schema, i*3, i*3+3)
		} else {
			add = AddFile{Path: fmt.Sprintf("part-%05d.parquet", i), PartitionValues: map[string]*string{}, Size: 100,
				ModificationTime: 1_700_000_000_000, DataChange: true, Stats: `{"numRecords":3}`}
		}
		opts := WriteOptions{AppID: "stream", Version: int64(i)}
		if i == 16 {
			opts.AppID = "backfill"
		}
		write := tbl.Append
		if i == 7 {
			write = tbl.Overwrite
		}
		if v, err := write(context.Background(), schema, []AddFile{add}, opts); err != nil || v != int64(i) {
			t.Fatalf("commit %d: version %d, %v", i, v, err)
		}
	}
}

// replayJSON is the reference: the state from every JSON commit 0..version,
// with no checkpoint involved.
func replayJSON(t *testing.T, st Storage, version int64) *Snapshot {
	t.Helper()
	s := newSnapshot(version)
	for v := int64(0); v <= version; v++ {
		actions, err := readCommit(context.Background(), st, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.apply(actions); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// sameState fails unless two snapshots agree on everything a checkpoint
// carries (dataChange aside: a checkpoint stores false, as Spark's do).
func sameState(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if got.Version != want.Version {
		t.Errorf("version = %d, want %d", got.Version, want.Version)
	}
	if !reflect.DeepEqual(got.Protocol, want.Protocol) {
		t.Errorf("protocol = %+v, want %+v", got.Protocol, want.Protocol)
	}
	if !reflect.DeepEqual(got.Metadata, want.Metadata) {
		t.Errorf("metadata = %+v\nwant %+v", got.Metadata, want.Metadata)
	}
	if !reflect.DeepEqual(got.txns, want.txns) {
		t.Errorf("txns = %v, want %v", got.txns, want.txns)
	}
	gf, wf := got.Files(), want.Files()
	for i := range gf {
		gf[i].DataChange = false
	}
	for i := range wf {
		wf[i].DataChange = false
	}
	if !reflect.DeepEqual(gf, wf) {
		t.Errorf("files = %+v\nwant %+v", gf, wf)
	}
	if g, w := sortedKeys(got.removed), sortedKeys(want.removed); !reflect.DeepEqual(g, w) {
		t.Errorf("tombstones = %v, want %v", g, w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkpointVersions lists the versions with a complete checkpoint.
func checkpointVersions(t *testing.T, st Storage) []int64 {
	t.Helper()
	l, err := listLog(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	var vs []int64
	for v := range l.checkpoints {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs
}

func deleteCommits(t *testing.T, dir string, below int64) {
	t.Helper()
	for v := int64(0); v < below; v++ {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(commitName(v)))); err != nil {
			t.Fatal(err)
		}
	}
}

// copyTable copies a table folder, so each case can damage its own copy.
func copyTable(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "table")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestCheckpointsWritten(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tbl := Open(dir)
	buildHistory(t, tbl, 25, false)

	if got := checkpointVersions(t, tbl.Storage); !reflect.DeepEqual(got, []int64{10, 20}) {
		t.Fatalf("checkpoints at %v, want [10 20]", got)
	}
	lc, err := readLastCheckpoint(ctx, tbl.Storage)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(checkpointName(20))))
	if err != nil {
		t.Fatal(err)
	}
	// At 20: protocol, metaData, 2 txns, 14 files (those of versions 7..20:
	// the overwrite at 7 removed 0..6) and those 7 tombstones.
	want := lastCheckpoint{Version: 20, Size: 2 + 2 + 14 + 7, SizeInBytes: info.Size(), NumOfAddFiles: 14}
	if lc != want {
		t.Errorf("_last_checkpoint = %+v, want %+v", lc, want)
	}
	// Every version, before, at and after each checkpoint, latest too.
	for v := int64(-1); v < 25; v++ {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			snap, err := tbl.Snapshot(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			ref := v
			if ref < 0 {
				ref = 24
			}
			sameState(t, snap, replayJSON(t, tbl.Storage, ref))
		})
	}
	// The checkpoint alone holds the state at 20.
	actions, err := readCheckpoint(ctx, tbl.Storage, checkpointName(20))
	if err != nil {
		t.Fatal(err)
	}
	cp := newSnapshot(20)
	if err := cp.apply(actions); err != nil {
		t.Fatal(err)
	}
	sameState(t, cp, replayJSON(t, tbl.Storage, 20))
	if v, _ := cp.TxnVersion("stream"); v != 20 {
		t.Errorf("txn stream = %d in the checkpoint, want 20", v)
	}
	if v, _ := cp.TxnVersion("backfill"); v != 16 {
		t.Errorf("txn backfill = %d in the checkpoint, want 16", v)
	}
}

// With the JSON commits before the checkpoint deleted (as log clean-up does),
// only the checkpoint can give the state.
func TestCheckpointWithoutEarlierCommits(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	buildHistory(t, Open(src), 25, false)
	refs := map[int64]*Snapshot{}
	for _, v := range []int64{10, 20, 22, 24} {
		refs[v] = replayJSON(t, LocalStorage{Root: src}, v)
	}
	for _, hint := range []bool{true, false} {
		dir := copyTable(t, src)
		deleteCommits(t, dir, 20)
		if !hint {
			os.Remove(filepath.Join(dir, filepath.FromSlash(lastCheckpointName)))
		}
		tbl := Open(dir)
		cases := []struct {
			version, want int64
			err           string
		}{
			{-1, 24, ""}, {24, 24, ""}, {22, 22, ""}, {20, 20, ""}, {10, 10, ""},
			{15, 0, "version 11 is missing"}, {5, 0, "version 0 is missing"},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("hint=%v/version %d", hint, c.version), func(t *testing.T) {
				snap, err := tbl.Snapshot(ctx, c.version)
				if c.err != "" {
					if err == nil || !strings.Contains(err.Error(), c.err) {
						t.Fatalf("err = %v, want one containing %q", err, c.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				sameState(t, snap, refs[c.want])
			})
		}
	}
}

// A missing, corrupt or wrong _last_checkpoint is a hint readers check: they
// fall back to listing the log and get the same state.
func TestLastCheckpointFallback(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	buildHistory(t, Open(src), 25, false)
	want24 := replayJSON(t, LocalStorage{Root: src}, 24)
	want15 := replayJSON(t, LocalStorage{Root: src}, 15)
	cases := []struct {
		name       string
		hint       *string // nil: no _last_checkpoint at all
		cleanBelow int64   // delete the JSON commits below this version
	}{
		{"missing", nil, 0},
		{"not JSON", ptr("{\"version\":2"), 0},
		{"empty", ptr(""), 0},
		{"negative", ptr(`{"version":-4,"size":1}`), 0},
		{"no such checkpoint", ptr(`{"version":30,"size":5}`), 0},
		{"wrong size (not checked)", ptr(`{"version":20,"size":3}`), 0},
		{"multi-part that is not there", ptr(`{"version":20,"size":25,"parts":2}`), 0},
		{"stale", ptr(`{"version":10}`), 0},
		{"stale, commits after it cleaned up", ptr(`{"version":10}`), 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTable(t, src)
			hintPath := filepath.Join(dir, filepath.FromSlash(lastCheckpointName))
			if c.hint == nil {
				os.Remove(hintPath)
			} else if err := os.WriteFile(hintPath, []byte(*c.hint), 0o644); err != nil {
				t.Fatal(err)
			}
			deleteCommits(t, dir, c.cleanBelow)
			tbl := Open(dir)
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, snap, want24)
			if c.cleanBelow == 0 {
				if snap, err = tbl.Snapshot(ctx, 15); err != nil {
					t.Fatal(err)
				}
				sameState(t, snap, want15)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestCheckpointInterval(t *testing.T) {
	cases := []struct {
		field int64
		prop  string
		want  []int64
	}{
		{0, "", []int64{10, 20}},
		{5, "", []int64{5, 10, 15, 20}},
		{0, "7", []int64{7, 14, 21}},
		{5, "7", []int64{7, 14, 21}}, // the table property is shared with other engines: it wins
		{0, "junk", []int64{10, 20}},
		{-1, "", nil},
		{-1, "7", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("field %d property %q", c.field, c.prop), func(t *testing.T) {
			tbl := Open(t.TempDir())
			tbl.CheckpointInterval = c.field
			for i := 0; i < 22; i++ {
				opts := WriteOptions{}
				if c.prop != "" {
					opts.Configuration = map[string]string{"delta.checkpointInterval": c.prop}
				}
				add := AddFile{Path: fmt.Sprintf("f%d.parquet", i), PartitionValues: map[string]*string{}, Size: 1}
				if _, err := tbl.Append(context.Background(), testSchema, []AddFile{add}, opts); err != nil {
					t.Fatal(err)
				}
			}
			if got := checkpointVersions(t, tbl.Storage); !reflect.DeepEqual(got, c.want) {
				t.Errorf("checkpoints at %v, want %v", got, c.want)
			}
		})
	}
}

// failingCheckpoints is storage on which checkpoints cannot be written.
type failingCheckpoints struct{ Storage }

func (f failingCheckpoints) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	if strings.Contains(name, ".checkpoint.") {
		return errors.New("injected failure")
	}
	return f.Storage.PutIfAbsent(ctx, name, data)
}

func TestCheckpointFailureKeepsCommit(t *testing.T) {
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))

	dir := t.TempDir()
	tbl := &Table{Location: dir, Storage: failingCheckpoints{LocalStorage{Root: dir}}}
	buildHistory(t, tbl, 12, false) // fails unless every commit returns its version
	if got := checkpointVersions(t, tbl.Storage); len(got) != 0 {
		t.Errorf("checkpoints at %v, want none", got)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(lastCheckpointName))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("_last_checkpoint written for a checkpoint that failed: %v", err)
	}
	snap, err := tbl.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, snap, replayJSON(t, tbl.Storage, 11))
	if s := logged.String(); !strings.Contains(s, "checkpoint failed") || !strings.Contains(s, "version=10") || !strings.Contains(s, "injected failure") {
		t.Errorf("log = %q, want the failed checkpoint of version 10 with its cause", s)
	}
}

// A checkpoint is never overwritten, and _last_checkpoint never moves back.
func TestCheckpointPutIfAbsent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tbl := Open(dir)
	buildHistory(t, tbl, 12, false)
	cp10 := filepath.Join(dir, filepath.FromSlash(checkpointName(10)))
	before, err := os.ReadFile(cp10)
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Checkpoint(ctx, 10); err != nil { // as a racing writer would
		t.Fatalf("second checkpoint of version 10: %v", err)
	}
	if after, _ := os.ReadFile(cp10); !bytes.Equal(before, after) {
		t.Error("checkpoint 10 was overwritten")
	}
	if err := tbl.Checkpoint(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if got := checkpointVersions(t, tbl.Storage); !reflect.DeepEqual(got, []int64{5, 10}) {
		t.Errorf("checkpoints at %v, want [5 10]", got)
	}
	if lc, err := readLastCheckpoint(ctx, tbl.Storage); err != nil || lc.Version != 10 {
		t.Errorf("_last_checkpoint = %+v (%v), want version 10 still", lc, err)
	}
	if err := tbl.Checkpoint(ctx, 12); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("checkpoint of a future version: %v", err)
	}
}

func TestCheckpointTombstoneRetention(t *testing.T) {
	now := time.Now()
	ms := func(d time.Duration) *int64 { v := now.Add(-d).UnixMilli(); return &v }
	s := newSnapshot(3)
	if err := s.apply([]Action{
		{Remove: &RemoveFile{Path: "week-and-a-day", DeletionTimestamp: ms(8 * 24 * time.Hour), DataChange: true}},
		{Remove: &RemoveFile{Path: "an-hour", DeletionTimestamp: ms(time.Hour), DataChange: true}},
		{Remove: &RemoveFile{Path: "no-timestamp", DataChange: true}},
		{Remove: &RemoveFile{Path: "re-added", DeletionTimestamp: ms(time.Minute)}},
		{Add: &AddFile{Path: "re-added"}},
	}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		retention string
		want      []string
	}{
		{"", []string{"an-hour"}}, // default: a week
		{"interval 2 weeks", []string{"an-hour", "week-and-a-day"}},
		{"INTERVAL 9 days", []string{"an-hour", "week-and-a-day"}},
		{"interval 30 minutes", nil},
		{"not an interval", []string{"an-hour"}},
	}
	for _, c := range cases {
		t.Run(c.retention, func(t *testing.T) {
			s.Metadata.Configuration = map[string]string{"delta.deletedFileRetentionDuration": c.retention}
			var got []string
			for _, a := range s.checkpointActions(now) {
				if a.Remove != nil {
					if a.Remove.DataChange {
						t.Errorf("tombstone %s has dataChange=true", a.Remove.Path)
					}
					got = append(got, a.Remove.Path)
				}
			}
			sort.Strings(c.want)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("tombstones = %v, want %v", got, c.want)
			}
		})
	}
}

// Our checkpoint columns have exactly the types of those in a checkpoint
// Spark wrote (golden table "checkpoint", Spark 3.4 / Delta 2.4).
func TestCheckpointSchemaMatchesSpark(t *testing.T) {
	path := filepath.Join(goldenDir(t, "checkpoint"), "_delta_log", "00000000000000000010.checkpoint.parquet")
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	spark, err := pqarrow.FromParquet(rdr.MetaData().Schema, nil, rdr.MetaData().KeyValueMetadata())
	if err != nil {
		t.Fatal(err)
	}
	// Read our own bytes back the same way, not the schema we asked for.
	data, err := encodeCheckpoint(newSnapshot(0).checkpointActions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	got, err := pqarrow.FromParquet(ours.MetaData().Schema, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got.Fields() {
		sf, ok := spark.FieldsByName(f.Name)
		if !ok {
			t.Errorf("column %s: Spark's checkpoint has none", f.Name)
			continue
		}
		if !arrow.TypeEqual(f.Type, sf[0].Type) || f.Nullable != sf[0].Nullable {
			t.Errorf("column %s:\n ours  %s\n Spark %s", f.Name, f.Type, sf[0].Type)
		}
	}
	if len(got.Fields()) != 5 {
		t.Errorf("columns = %d, want txn, add, remove, metaData, protocol", len(got.Fields()))
	}
}

// We re-checkpoint a state our reader got from Spark's checkpoint and JSON;
// with all of Spark's log gone but our checkpoint, the table reads the same.
func TestCheckpointOfSparkTable(t *testing.T) {
	ctx := context.Background()
	dir := copyTable(t, goldenDir(t, "basic-with-inserts-deletes-checkpoint"))
	tbl := Open(dir)
	want, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Checkpoint(ctx, 13); err != nil {
		t.Fatal(err)
	}
	deleteCommits(t, dir, 14)
	os.Remove(filepath.Join(dir, filepath.FromSlash(checkpointName(10))))
	got, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	want.removed = got.removed // Spark's tombstones are from 2023: past retention, rightly dropped
	sameState(t, got, want)
	if ids := column(rows(t, tbl, got), "id"); len(ids) != 41 {
		t.Errorf("rows = %d, want 41", len(ids))
	}
}

// delta-rs, an independent reader, reads a table whose JSON commits before
// the checkpoint are gone: the state it sees can only come from our checkpoint.
func TestDeltaRsReadsCheckpoint(t *testing.T) {
	oracle.Python(t) // skips (loudly) without the environment before building anything
	ctx := context.Background()
	dir := t.TempDir()
	tbl := Open(dir)
	buildHistory(t, tbl, 23, true)
	deleteCommits(t, dir, 20)
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	var wantFiles []string
	for _, f := range snap.Files() {
		p, _ := unescapePath(f.Path)
		wantFiles = append(wantFiles, p)
	}
	wantRows := len(rows(t, tbl, snap))
	var got struct {
		Version int64    `json:"version"`
		Rows    int      `json:"rows"`
		Files   []string `json:"files"`
		Txn     *int64   `json:"txn"`
		Columns []string `json:"columns"`
	}
	out := oracle.Run(t, "delta_rs_read.py", dir, "--app-id", "stream")
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("oracle output %q: %v", out, err)
	}
	if got.Version != 22 || snap.Version != 22 {
		t.Errorf("delta-rs version %d, ours %d, want 22", got.Version, snap.Version)
	}
	if got.Rows != wantRows || wantRows != 16*3 { // versions 7..22, 3 rows each
		t.Errorf("delta-rs rows %d, ours %d, want 48", got.Rows, wantRows)
	}
	if !reflect.DeepEqual(got.Files, wantFiles) {
		t.Errorf("delta-rs files %v\nours %v", got.Files, wantFiles)
	}
	if got.Txn == nil || *got.Txn != 22 {
		t.Errorf("delta-rs txn version of app stream = %v, want 22", got.Txn)
	}
	if want := []string{"id", "name", "ts", "score", "extra"}; !reflect.DeepEqual(got.Columns, want) {
		t.Errorf("delta-rs columns %v, want %v", got.Columns, want)
	}
}

// countingStorage records which calls a reader makes.
type countingStorage struct {
	Storage
	lists int
	reads []string
}

func (c *countingStorage) List(ctx context.Context, dir string) ([]string, error) {
	c.lists++
	return c.Storage.List(ctx, dir)
}

func (c *countingStorage) ReadFile(ctx context.Context, name string) ([]byte, error) {
	c.reads = append(c.reads, name)
	return c.Storage.ReadFile(ctx, name)
}

// With a good _last_checkpoint the latest snapshot costs no listing and no
// commit before the checkpoint: its cost does not grow with the table's age.
func TestSnapshotReadsFromLastCheckpoint(t *testing.T) {
	dir := t.TempDir()
	buildHistory(t, Open(dir), 25, false)
	cs := &countingStorage{Storage: LocalStorage{Root: dir}}
	snap, err := (&Table{Location: dir, Storage: cs}).Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, snap, replayJSON(t, LocalStorage{Root: dir}, 24))
	want := []string{lastCheckpointName, commitName(21), commitName(22), commitName(23), commitName(24), commitName(25)}
	if cs.lists != 0 || !reflect.DeepEqual(cs.reads, want) {
		t.Errorf("%d listings, reads %v; want none and %v (the checkpoint is opened, not read whole)", cs.lists, cs.reads, want)
	}
}

// BenchmarkSnapshot opens the latest snapshot of tables of 10, 100 and 1,000
// commits, as written (checkpoints every 10 versions) and with the same log
// stripped of its checkpoints (json-only). Two shapes: "append", one new file
// and a txn per commit, so the state itself grows with the versions; and
// "txn", ten files at version 0 then commits that only record a txn (a
// stream's empty batches), so the state stays the same size and only the
// log grows.
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	for _, shape := range []string{"append", "txn"} {
		for _, commits := range []int{10, 100, 1000} {
			dir := filepath.Join(b.TempDir(), "on")
			tbl := Open(dir)
			for i := 0; i < commits; i++ {
				var adds []AddFile
				for f := 0; f < 10 && (i == 0 || shape == "append"); f++ {
					adds = append(adds, AddFile{Path: fmt.Sprintf("part-%05d-%d.parquet", i, f), PartitionValues: map[string]*string{},
						Size: 1000, ModificationTime: 1_700_000_000_000, DataChange: true,
						Stats: `{"numRecords":100,"minValues":{"id":0},"maxValues":{"id":99},"nullCount":{"id":0}}`})
					if shape == "append" {
						break
					}
				}
				if _, err := tbl.Append(ctx, testSchema, adds, WriteOptions{AppID: "stream", Version: int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			files := commits
			if shape == "txn" {
				files = 10
			}
			off := filepath.Join(filepath.Dir(dir), "off")
			if err := os.CopyFS(off, os.DirFS(dir)); err != nil {
				b.Fatal(err)
			}
			names, _ := filepath.Glob(filepath.Join(off, logDir, "*checkpoint*"))
			for _, n := range names {
				os.Remove(n)
			}
			for _, c := range []struct{ name, dir string }{{"checkpoints", dir}, {"json-only", off}} {
				b.Run(fmt.Sprintf("%s/commits=%d/%s", shape, commits, c.name), func(b *testing.B) {
					tbl := Open(c.dir)
					for b.Loop() {
						snap, err := tbl.Snapshot(ctx, -1)
						if err != nil || snap.Version != int64(commits-1) || len(snap.files) != files {
							b.Fatalf("snapshot: %v", err)
						}
					}
				})
			}
		}
	}
}
