package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// goldenDir finds the Spark-written fixtures beside the repository
// (../shared/fixtures/delta-golden), or skips loudly.
func goldenDir(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("DELTA_GOLDEN")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "fixtures", "delta-golden")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("Delta golden fixture %s not found (set DELTA_GOLDEN or place ../shared beside the repository): %v", p, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg) // CI always has ../shared beside the clone
		}
		t.Skip("SKIPPED: " + msg)
	}
	return p
}

// rows reads a snapshot into plain Go values, one map per row.
func rows(t *testing.T, tbl *Table, snap *Snapshot) []map[string]any {
	t.Helper()
	out, err := tbl.Rows(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func column(rs []map[string]any, name string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprint(r[name]))
	}
	sort.Strings(out)
	return out
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func sorted(s []string) []string { sort.Strings(s); return s }

func TestGoldenTables(t *testing.T) {
	ctx := context.Background()
	idsOf := func(ranges ...[2]int) []string {
		var out []string
		for _, r := range ranges {
			out = append(out, seq("", r[0], r[1])...)
		}
		return sorted(out)
	}
	cases := []struct {
		table   string
		version int64 // -1: latest
		want    int64 // version of the snapshot
		rows    int
		col     string
		values  []string // sorted values of col
	}{
		{"snapshot-data0", -1, 0, 10, "col2", seq("data-0-", 0, 9)},
		{"snapshot-data1", -1, 1, 20, "col2", sorted(append(seq("data-0-", 0, 9), seq("data-1-", 0, 9)...))},
		{"snapshot-data2", -1, 2, 10, "col2", seq("data-2-", 0, 9)},
		{"snapshot-data3", -1, 3, 30, "col2", sorted(append(seq("data-2-", 0, 9), seq("data-3-", 0, 19)...))},
		{"snapshot-data2-deleted", -1, 4, 20, "col2", sorted(seq("data-3-", 0, 19))},
		{"basic-with-inserts-deletes-checkpoint", -1, 13, 41, "id",
			idsOf([2]int{0, 4}, [2]int{10, 14}, [2]int{20, 24}, [2]int{30, 34}, [2]int{40, 44}, [2]int{50, 65})},
		{"multi-part-checkpoint", -1, 1, 31, "id", idsOf([2]int{0, 0}, [2]int{0, 29})},
		{"data-reader-primitives", -1, 0, 11, "", nil},
		{"kernel-timestamp-TIMESTAMP_MICROS", -1, 0, 5, "", nil},
		{"kernel-timestamp-PST", -1, 0, 5, "id", idsOf([2]int{0, 4})},
		{"time-travel-start-start20-start40", -1, 2, 30, "", nil},
		{"time-travel-start-start20-start40", 0, 0, 10, "", nil},
		{"time-travel-start-start20-start40", 1, 1, 20, "", nil},
		{"log-replay-latest-metadata-protocol", -1, 2, 40, "", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s@%d", c.table, c.version), func(t *testing.T) {
			tbl := Open(goldenDir(t, c.table))
			snap, err := tbl.Snapshot(ctx, c.version)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Version != c.want {
				t.Errorf("version = %d, want %d", snap.Version, c.want)
			}
			rs := rows(t, tbl, snap)
			if len(rs) != c.rows {
				t.Fatalf("rows = %d, want %d", len(rs), c.rows)
			}
			if c.col != "" {
				if got := column(rs, c.col); strings.Join(got, ",") != strings.Join(c.values, ",") {
					t.Errorf("%s = %v\nwant %v", c.col, got, c.values)
				}
			}
		})
	}
}

func TestGoldenDetails(t *testing.T) {
	ctx := context.Background()
	t.Run("checkpoint log state", func(t *testing.T) {
		snap, err := Open(goldenDir(t, "checkpoint")).Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		files := snap.Files()
		if snap.Version != 14 || len(files) != 1 || files[0].Path != "15" {
			t.Fatalf("version %d, files %+v; want version 14 and the one file \"15\"", snap.Version, files)
		}
	})
	t.Run("primitives and nulls", func(t *testing.T) {
		tbl := Open(goldenDir(t, "data-reader-primitives"))
		snap, _ := tbl.Snapshot(ctx, -1)
		allNull := 0
		for _, r := range rows(t, tbl, snap) {
			nulls := 0
			for _, v := range r {
				if v == nil {
					nulls++
				}
			}
			if nulls == len(snap.Schema.Fields) {
				allNull++
			} else if r["as_string"] != fmt.Sprint(r["as_int"]) || r["as_long"] != r["as_int"] {
				t.Errorf("row %v: as_string and as_long should equal as_int", r)
			}
		}
		if allNull != 1 {
			t.Errorf("all-null rows = %d, want 1", allNull)
		}
	})
	t.Run("timestamps with partition column", func(t *testing.T) {
		tbl := Open(goldenDir(t, "kernel-timestamp-TIMESTAMP_MICROS"))
		snap, _ := tbl.Snapshot(ctx, -1)
		var sawNull, saw1969 bool
		for _, r := range rows(t, tbl, snap) {
			ts, ok := r["time"].(time.Time)
			if !ok {
				sawNull = sawNull || r["time"] == nil
				continue
			}
			saw1969 = saw1969 || ts.Year() == 1969
		}
		if !sawNull || !saw1969 {
			t.Errorf("want a null and a 1969 timestamp, sawNull=%v saw1969=%v", sawNull, saw1969)
		}
	})
	t.Run("latest metadata and protocol win", func(t *testing.T) {
		snap, err := Open(goldenDir(t, "log-replay-latest-metadata-protocol")).Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Schema.Fields) != 2 || snap.Schema.Fields[1].Name != "col2" || snap.Protocol.MinReaderVersion != 3 {
			t.Errorf("schema %v protocol %+v; want col1,col2 and reader 3", snap.Schema.Fields, snap.Protocol)
		}
	})
	for _, c := range []struct{ table, want string }{
		{"versions-not-contiguous", "version 1 is missing"},
		{"deltalog-invalid-protocol-version", "minReaderVersion 99"},
		{"no-delta-log-folder", "not a Delta table"},
	} {
		t.Run("fails: "+c.table, func(t *testing.T) {
			_, err := Open(goldenDir(t, c.table)).Snapshot(ctx, -1)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

var testSchema = NewSchema("id", TypeLong, "name", TypeString, "ts", TypeTimestamp, "score", TypeDouble)

// writeFile writes ids [from, to) as one data file.
func writeFile(t *testing.T, tbl *Table, schema Schema, from, to int) AddFile {
	t.Helper()
	as, err := schema.ArrowSchema()
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	for i := from; i < to; i++ {
		for c, f := range as.Fields() {
			switch f.Name {
			case "id":
				b.Field(c).(*array.Int64Builder).Append(int64(i))
			case "ts":
				b.Field(c).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2009, 4, 6, 0, 0, i, 1000, time.UTC).UnixMicro()))
			case "score":
				b.Field(c).(*array.Float64Builder).Append(float64(i) / 2)
			default:
				if i%5 == 0 {
					b.Field(c).AppendNull()
				} else {
					b.Field(c).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d", f.Name, i))
				}
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	w, err := tbl.NewDataWriter(context.Background(), as, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	add, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return add
}

func TestWriteReadHistory(t *testing.T) {
	ctx := context.Background()
	tbl := Open(t.TempDir())
	if ok, _ := tbl.Exists(ctx); ok {
		t.Fatal("empty dir reported as a table")
	}
	v, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 0, 10)}, WriteOptions{})
	if err != nil || v != 0 {
		t.Fatalf("create: v=%d err=%v", v, err)
	}
	v, err = tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 10, 15), writeFile(t, tbl, testSchema, 15, 20)}, WriteOptions{})
	if err != nil || v != 1 {
		t.Fatalf("append: v=%d err=%v", v, err)
	}
	// Schema growth: a new nullable column; old files read it as null.
	grown := NewSchema("id", TypeLong, "extra", TypeString)
	v, err = tbl.Append(ctx, grown, []AddFile{writeFile(t, tbl, grown, 20, 25)}, WriteOptions{})
	if err != nil || v != 2 {
		t.Fatalf("grow: v=%d err=%v", v, err)
	}
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(snap.Schema.Fields); got != 5 {
		t.Fatalf("columns after growth = %d (%v), want 5", got, snap.Schema.Fields)
	}
	rs := rows(t, tbl, snap)
	if len(rs) != 25 {
		t.Fatalf("rows = %d, want 25", len(rs))
	}
	extras := 0
	for _, r := range rs {
		id := r["id"].(int64)
		if r["extra"] != nil {
			extras++
			if id < 20 {
				t.Errorf("old row %d got extra %v", id, r["extra"])
			}
		}
		if id < 20 {
			want := time.Date(2009, 4, 6, 0, 0, int(id), 1000, time.UTC)
			if ts := r["ts"].(time.Time); !ts.Equal(want) {
				t.Errorf("row %d ts = %v, want %v (microseconds kept)", id, ts, want)
			}
		}
	}
	if extras != 4 { // ids 21..24; 20 is null by construction
		t.Errorf("rows with extra = %d, want 4", extras)
	}
	if n, ok := snap.NumRecords(); !ok || n != 25 {
		t.Errorf("NumRecords = %d,%v want 25", n, ok)
	}
	// Stats of the first file.
	first := snap.Files()
	var st FileStats
	for _, f := range first {
		s, _, err := f.ParseStats()
		if err != nil {
			t.Fatal(err)
		}
		if s.NumRecords == 10 {
			st = s
		}
	}
	if st.MinValues["id"] != float64(0) || st.MaxValues["id"] != float64(9) || st.NullCount["name"] != float64(2) {
		t.Errorf("stats = %+v; want id 0..9 and 2 null names", st)
	}
	if st.MinValues["ts"] != "2009-04-06T00:00:00.000Z" || st.MaxValues["ts"] != "2009-04-06T00:00:09.001Z" {
		t.Errorf("ts stats = %v..%v; want ms-truncated min and rounded-up max", st.MinValues["ts"], st.MaxValues["ts"])
	}
	// Overwrite, then time travel.
	v, err = tbl.Overwrite(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 100, 103)}, WriteOptions{})
	if err != nil || v != 3 {
		t.Fatalf("overwrite: v=%d err=%v", v, err)
	}
	snap, _ = tbl.Snapshot(ctx, -1)
	if got := column(rows(t, tbl, snap), "id"); strings.Join(got, ",") != "100,101,102" {
		t.Errorf("after overwrite ids = %v", got)
	}
	old, err := tbl.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rows(t, tbl, old)); got != 20 {
		t.Errorf("version 1 rows = %d, want 20", got)
	}
	h, err := tbl.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range h {
		ops = append(ops, fmt.Sprintf("%d:%s:%v:%s", c.Version, c.Info.Operation, c.Info.OperationParameters["mode"], c.Info.OperationMetrics["numOutputRows"]))
	}
	if want := "0:WRITE:Append:10 1:WRITE:Append:10 2:WRITE:Append:5 3:WRITE:Overwrite:3"; strings.Join(ops, " ") != want {
		t.Errorf("history = %v, want %s", ops, want)
	}
	if _, err := tbl.Snapshot(ctx, 9); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("snapshot of a future version: err = %v", err)
	}
}

func TestIdempotentTxn(t *testing.T) {
	ctx := context.Background()
	tbl := Open(t.TempDir())
	add := writeFile(t, tbl, testSchema, 0, 3)
	opts := WriteOptions{AppID: "stream-1", Version: 7}
	if v, err := tbl.Append(ctx, testSchema, []AddFile{add}, opts); err != nil || v != 0 {
		t.Fatalf("first: %d %v", v, err)
	}
	if v, err := tbl.Append(ctx, testSchema, []AddFile{add}, opts); err != nil || v != -1 {
		t.Fatalf("replay of txn 7 committed version %d (err %v); want nothing", v, err)
	}
	opts.Version = 8
	if v, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 3, 4)}, opts); err != nil || v != 1 {
		t.Fatalf("txn 8: %d %v", v, err)
	}
	snap, _ := tbl.Snapshot(ctx, -1)
	if n, _ := snap.NumRecords(); n != 4 {
		t.Errorf("rows = %d, want 4", n)
	}
	if v, _ := snap.TxnVersion("stream-1"); v != 8 {
		t.Errorf("txn version = %d, want 8", v)
	}
}

// A write with BaseVersion lands only on that version: once another writer
// committed, it fails with ErrStale (and ErrConflict) and commits nothing,
// unless the table already holds its txn.
func TestBaseVersion(t *testing.T) {
	ctx := context.Background()
	tbl := Open(t.TempDir())
	base := int64(-1)
	opts := WriteOptions{AppID: "merge", Version: 0, BaseVersion: &base}
	if v, err := tbl.Overwrite(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 0, 2)}, opts); err != nil || v != 0 {
		t.Fatalf("on no table: %d %v", v, err)
	}
	if _, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 2, 3)}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	base, opts.Version = 0, 1
	_, err := tbl.Overwrite(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 3, 4)}, opts)
	if !errors.Is(err, ErrStale) || !errors.Is(err, ErrConflict) {
		t.Fatalf("on version 0 with the table at 1: %v, want ErrStale", err)
	}
	if snap, _ := tbl.Snapshot(ctx, -1); snap.Version != 1 {
		t.Fatalf("a stale write committed version %d", snap.Version)
	}
	base = 1
	if v, err := tbl.Overwrite(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 3, 4)}, opts); err != nil || v != 2 {
		t.Fatalf("on version 1: %d %v", v, err)
	}
	base = 0 // stale, but the txn is held: nothing to do
	if v, err := tbl.Overwrite(ctx, testSchema, nil, opts); err != nil || v != -1 {
		t.Fatalf("replay of a committed txn: %d %v, want nothing", v, err)
	}
	if _, err := tbl.Append(ctx, testSchema, nil, WriteOptions{AppID: "x", Version: 0, BaseVersion: &base}); !errors.Is(err, ErrStale) {
		t.Fatalf("append on a stale version: %v, want ErrStale", err)
	}
}

// Several writers append to one table at once: every commit lands exactly
// once. TestObjectStoreTables runs the same on S3 and GCS.
func TestConcurrentAppends(t *testing.T) { concurrentAppends(t, Open(t.TempDir()), 50) }

func concurrentAppends(t *testing.T, tbl *Table, commits int) {
	ctx := context.Background()
	const writers = 4
	add := writeFile(t, tbl, testSchema, 0, 1)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for c := 0; c < commits; c++ {
				f := add
				f.Path = fmt.Sprintf("w%d-c%d.parquet", w, c) // log-level test: paths only
				if _, err := tbl.Append(ctx, testSchema, []AddFile{f}, WriteOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != int64(writers*commits-1) || len(snap.Files()) != writers*commits {
		t.Fatalf("version %d with %d files; want %d and %d", snap.Version, len(snap.Files()), writers*commits-1, writers*commits)
	}
}

func TestOptimize(t *testing.T) {
	ctx := context.Background()
	tbl := Open(t.TempDir())
	for i := 0; i < 4; i++ {
		if _, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, i*10, i*10+10)}, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := tbl.Snapshot(ctx, -1)
	wantRows := column(rows(t, tbl, before), "id")
	v, nb, na, err := tbl.Optimize(ctx, WriterOptions{})
	if err != nil || v != 4 || nb != 4 || na != 1 {
		t.Fatalf("optimize: v=%d %d→%d files, %v", v, nb, na, err)
	}
	after, _ := tbl.Snapshot(ctx, -1)
	if len(after.Files()) != 1 || after.Files()[0].DataChange {
		t.Fatalf("after optimize: %+v", after.Files())
	}
	if got := column(rows(t, tbl, after), "id"); strings.Join(got, ",") != strings.Join(wantRows, ",") {
		t.Errorf("rows changed by optimize")
	}
	h, _ := tbl.History(ctx, 4)
	if len(h) != 1 || h[0].Info.Operation != "OPTIMIZE" || len(h[0].Removes) != 4 || h[0].Removes[0].DataChange {
		t.Errorf("optimize commit: %+v", h)
	}
	if v, _, _, err := tbl.Optimize(ctx, WriterOptions{}); v != -1 || err != nil {
		t.Errorf("optimizing one file committed version %d (%v)", v, err)
	}
}

func TestVacuum(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tbl := Open(dir)
	old := time.Now().Add(-48 * time.Hour)
	if _, err := tbl.Append(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 0, 5)}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A failed writer's file, long ago; a writer's file just now (not committed yet).
	orphanOld, orphanNew := writeFile(t, tbl, testSchema, 100, 101), writeFile(t, tbl, testSchema, 200, 201)
	os.Chtimes(filepath.Join(dir, orphanOld.Path), old, old)
	// A file removed by an overwrite a moment ago (time travel still needs it).
	first := tbl.mustFiles(t)[0]
	os.Chtimes(filepath.Join(dir, first), old, old)
	if _, err := tbl.Overwrite(ctx, testSchema, []AddFile{writeFile(t, tbl, testSchema, 5, 9)}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := tbl.Snapshot(ctx, -1)
	want := column(rows(t, tbl, before), "id")

	gone, err := tbl.Vacuum(ctx, 24*time.Hour, false)
	if err != nil || len(gone) != 1 || gone[0] != orphanOld.Path {
		t.Fatalf("vacuum removed %v (%v), want just the old orphan %s", gone, err, orphanOld.Path)
	}
	for _, p := range []string{orphanNew.Path, first} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("vacuum removed %s, which it must keep", p)
		}
	}
	if v1, err := tbl.Snapshot(ctx, 0); err != nil || len(rows(t, tbl, v1)) != 5 {
		t.Errorf("time travel to version 0 after vacuum: %v", err)
	}
	// With no retention, everything the latest version does not name goes.
	gone, err = tbl.Vacuum(ctx, 0, false)
	if err != nil || len(gone) != 2 {
		t.Fatalf("vacuum 0: removed %v (%v), want the new orphan and the removed file", gone, err)
	}
	after, _ := tbl.Snapshot(ctx, -1)
	if got := column(rows(t, tbl, after), "id"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("rows changed by vacuum: %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "_delta_log", "00000000000000000000.json")); err != nil {
		t.Error("vacuum touched the log")
	}
}

func (t *Table) mustFiles(tb *testing.T) []string {
	snap, err := t.Snapshot(context.Background(), -1)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, f := range snap.Files() {
		out = append(out, f.Path)
	}
	return out
}

// Z85 against the test vector of its specification (ZeroMQ RFC 32), which
// deletion vector paths and inline vectors are encoded with.
func TestZ85Decode(t *testing.T) {
	got, err := z85Decode("HelloWorld")
	want := []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("z85 HelloWorld = %x, %v; want %x", got, err, want)
	}
	for _, bad := range []string{"Hell", "Hell~", "#####"} {
		if _, err := z85Decode(bad); err == nil {
			t.Errorf("z85Decode(%q) should fail", bad)
		}
	}
}
