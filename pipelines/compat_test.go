//go:build integration

package pipelines

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	reforacle "github.com/tweetsentiment/medallion/internal/oracle"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// TestSparkAndDeltaRS checks our Delta tables against the reference
// implementations, with real values: Spark 4 with delta-spark and delta-rs
// (PyPI deltalake) read every version of every table the pipeline writes,
// and the rows (as multisets, timestamps in UTC microseconds), the schema
// (names, Delta types, nullability) and the txn versions must equal what our
// reader returns (scripts/oracles/delta_compat.py, one Spark session for the
// whole test). Then Spark writes to our bronze table — an append with a new
// column (mergeSchema) and a txn of its own, OPTIMIZE, a checkpoint — and our
// reader must see exactly Spark's rows and column, read Spark's checkpoint,
// and the next pipeline run must commit on top of Spark's versions, keeping
// the column; Spark and delta-rs must then still read every table as ours.
func TestSparkAndDeltaRS(t *testing.T) {
	needRuntime(t)
	py := reforacle.Python(t)
	needIvyCache(t)
	ctx := context.Background()
	start := time.Now()
	spark := startDeltaCompat(t, py) // the JVM starts while the pipeline runs

	in, lk := t.TempDir(), t.TempDir()
	cfg := Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1,
		MaxBatchBytes: 4 << 10} // a few files a batch: each wave below is 4 or more batches, so 4 versions of every table
	waves := []gen.Options{
		{Tweets: 100, PerFile: 5, Format: "ndjson", Seed: 41, First: 0, Bad: 0.08},
		{Tweets: 100, PerFile: 5, Format: "ndjson", Seed: 42, First: 100, Bad: 0.08},
		{Tweets: 100, PerFile: 5, Format: "array", Seed: 43, First: 200, Bad: 0.08},
		{Tweets: 60, PerFile: 5, Format: "ndjson", Seed: 44, First: 300, Bad: 0.08}, // after Spark's writes
	}
	runWave := func(w gen.Options) *Summary {
		t.Helper()
		w.Out = in
		if _, err := gen.Generate(w); err != nil {
			t.Fatalf("generate wave %d: %v", w.Seed, err)
		}
		sum, err := Run(ctx, cfg, prismRunner(ctx))
		if err != nil {
			t.Fatalf("run after wave %d: %v", w.Seed, err)
		}
		if err := sum.Check(); err != nil {
			t.Fatalf("run after wave %d: %v", w.Seed, err)
		}
		return sum
	}
	for _, w := range waves[:3] {
		runWave(w)
	}
	latest := map[string]int64{}
	for _, name := range transforms.TableNames() {
		snap, err := lake.Open(cfg.table(name)).Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		latest[name] = snap.Version
	}
	// At least 12 versions, so the tables cross a checkpoint interval (10).
	if latest[transforms.BronzeTable.Name] < 11 {
		t.Fatalf("bronze has %d versions, want at least 12 (batches too big?)", latest[transforms.BronzeTable.Name]+1)
	}
	if n := len(readTable(t, cfg.table(transforms.QuarantineTable.Name))); n == 0 {
		t.Fatal("quarantine is empty: the waves should hold bad records")
	}
	t.Logf("pipeline: 3 runs, versions %v (%s)", latest, time.Since(start).Round(time.Millisecond))

	// 1. Spark and delta-rs read every version of every table as we do.
	first := dumpLake(t, cfg, nil)
	spark.compare(t, first)

	// 2. Spark writes to our bronze table.
	bronze := cfg.table(transforms.BronzeTable.Name)
	before := versionRows(t, bronze, latest[transforms.BronzeTable.Name])
	var w struct {
		OK              bool
		StartVersion    int64  `json:"start_version"`
		AppendVersion   int64  `json:"append_version"`
		OptimizeVersion int64  `json:"optimize_version"`
		AppendedRows    int    `json:"appended_rows"`
		NewColumn       string `json:"new_column"`
		FilesBefore     int    `json:"files_before_optimize"`
		FilesAfter      int    `json:"files_after_optimize"`
		Checkpoints     []string
		SparkAppID      string                  `json:"spark_app_id"`
		LastCheckpoint  struct{ Version int64 } `json:"last_checkpoint"`
	}
	spark.do(t, map[string]any{"cmd": "spark-writes", "table": bronze}, &w)
	if w.StartVersion != latest[transforms.BronzeTable.Name] || w.AppendVersion != w.StartVersion+1 || w.OptimizeVersion != w.AppendVersion+1 {
		t.Fatalf("Spark's versions: start %d, append %d, optimize %d; our latest was %d", w.StartVersion, w.AppendVersion, w.OptimizeVersion, latest[transforms.BronzeTable.Name])
	}
	if w.FilesAfter != 1 || w.FilesBefore < 2 || w.LastCheckpoint.Version != w.OptimizeVersion {
		t.Fatalf("Spark's OPTIMIZE/checkpoint: files %d → %d, checkpoint at %d: %+v", w.FilesBefore, w.FilesAfter, w.LastCheckpoint.Version, w)
	}
	tbl := lake.Open(bronze)
	appended, err := tbl.Snapshot(ctx, w.AppendVersion)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := appended.Schema.Field(w.NewColumn); !ok || f.Type != lake.TypeString || !f.Nullable {
		t.Fatalf("our reader's bronze schema after Spark's append lacks the nullable string column %q: %v", w.NewColumn, appended.Schema.Fields)
	}
	afterAppend := versionRows(t, bronze, w.AppendVersion)
	var sparkRows, oldRows []string
	for _, r := range afterAppend {
		var row map[string]any
		if err := json.Unmarshal([]byte(r), &row); err != nil {
			t.Fatal(err)
		}
		if row[w.NewColumn] != nil {
			if !strings.HasPrefix(row["text"].(string), "spark-row-") || row["source_file"] != "/spark/compat.json" {
				t.Errorf("row with %s set is not one Spark wrote: %v", w.NewColumn, row)
			}
			sparkRows = append(sparkRows, r)
			continue
		}
		delete(row, w.NewColumn)
		b, _ := json.Marshal(row)
		oldRows = append(oldRows, string(b))
	}
	sort.Strings(oldRows)
	if len(sparkRows) != w.AppendedRows || strings.Join(oldRows, "\n") != strings.Join(before, "\n") {
		t.Fatalf("after Spark's append our reader sees %d Spark rows (want %d) and %d earlier rows (want %d, unchanged)",
			len(sparkRows), w.AppendedRows, len(oldRows), len(before))
	}
	if got := versionRows(t, bronze, w.OptimizeVersion); strings.Join(got, "\n") != strings.Join(afterAppend, "\n") {
		t.Fatalf("Spark's OPTIMIZE changed the rows our reader sees (%d before, %d after)", len(afterAppend), len(got))
	}
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Files()) != 1 {
		t.Errorf("our reader sees %d files after Spark's OPTIMIZE, want 1", len(snap.Files()))
	}
	if tx := snap.Transactions(); tx[AppID] != latest[transforms.BronzeTable.Name] || tx[w.SparkAppID] != 1 {
		t.Errorf("txns after Spark's append = %v, want %s:%d and %s:1", tx, AppID, latest[transforms.BronzeTable.Name], w.SparkAppID)
	}
	checkReadsCheckpoint(t, bronze, w.OptimizeVersion, afterAppend)

	// 3. Our next run carries on on top of Spark's versions and schema.
	sum := runWave(waves[3])
	snap, err = tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version <= w.OptimizeVersion || sum.table(transforms.BronzeTable.Name).Rows == 0 {
		t.Fatalf("the run after Spark's writes left bronze at version %d (Spark's last: %d), %d new rows", snap.Version, w.OptimizeVersion, sum.table(transforms.BronzeTable.Name).Rows)
	}
	if f, ok := snap.Schema.Field(w.NewColumn); !ok || f.Type != lake.TypeString {
		t.Fatalf("our append dropped Spark's column %q: %v", w.NewColumn, snap.Schema.Fields)
	}
	final := versionRows(t, bronze, snap.Version)
	if want := len(afterAppend) + int(sum.table(transforms.BronzeTable.Name).Rows); len(final) != want {
		t.Fatalf("bronze has %d rows after our run, want %d", len(final), want)
	}
	if n := countWith(t, final, w.NewColumn); n != w.AppendedRows {
		t.Errorf("%d bronze rows carry %s after our run, want Spark's %d", n, w.NewColumn, w.AppendedRows)
	}
	if tx := snap.Transactions(); tx[AppID] <= latest[transforms.BronzeTable.Name] || tx[w.SparkAppID] != 1 {
		t.Errorf("txns after our run = %v", tx)
	}
	// Versions Spark and delta-rs have not seen yet: Spark's own (bronze)
	// and everything the last run committed.
	second := dumpLake(t, cfg, latest)
	spark.compare(t, second)
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// checkReadsCheckpoint copies the table without the JSON commits a checkpoint
// folds in, so our reader can only get the state from Spark's checkpoint.
func checkReadsCheckpoint(t *testing.T, dir string, cp int64, want []string) {
	t.Helper()
	cpy := t.TempDir()
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(cpy, rel), 0o755)
		}
		base := filepath.Base(p)
		if filepath.Base(filepath.Dir(p)) == "_delta_log" {
			var v int64
			if _, err := fmt.Sscanf(base, "%020d.json", &v); err == nil && strings.HasSuffix(base, ".json") && v <= cp {
				return nil
			}
		}
		return os.Link(p, filepath.Join(cpy, rel))
	})
	if err != nil {
		t.Fatalf("copy %s: %v", dir, err)
	}
	if got := versionRows(t, cpy, cp); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("from Spark's checkpoint at version %d alone our reader sees %d rows, want %d", cp, len(got), len(want))
	}
}

func countWith(t *testing.T, rows []string, col string) int {
	t.Helper()
	n := 0
	for _, r := range rows {
		var row map[string]any
		if err := json.Unmarshal([]byte(r), &row); err != nil {
			t.Fatal(err)
		}
		if row[col] != nil {
			n++
		}
	}
	return n
}

// needIvyCache fails (CI) or skips loudly unless the set-up has fetched
// delta-spark's jars into .cache/ivy: the test itself never downloads.
func needIvyCache(t *testing.T) {
	t.Helper()
	jars, _ := filepath.Glob(filepath.Join(reforacle.Root(), ".cache", "ivy", "jars", "io.delta_delta-spark_2.13-*.jar"))
	if len(jars) > 0 {
		return
	}
	msg := "SKIPPING ORACLE TEST: delta-spark's jars are not in .cache/ivy; warm it once with network: " +
		".cache/venv/bin/python scripts/oracles/delta_compat.py --warm"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// --- what our reader sees, in the form delta_compat.py compares -------------

type dumpField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

type dumpVersion struct {
	Version int64            `json:"version"`
	Schema  []dumpField      `json:"schema"`
	Txn     map[string]int64 `json:"txn"`
	Rows    []map[string]any `json:"rows"`
}

type dumpTable struct {
	Name     string        `json:"name"`
	Path     string        `json:"path"`
	Versions []dumpVersion `json:"versions"`
}

type lakeDump struct {
	Tables []dumpTable `json:"tables"`
	file   string
	rows   int
}

// dumpLake writes every version of every table after after[table] (all of
// them for a nil map) as our reader sees it.
func dumpLake(t *testing.T, cfg Config, after map[string]int64) lakeDump {
	t.Helper()
	ctx := context.Background()
	var d lakeDump
	for _, name := range transforms.TableNames() {
		tbl := lake.Open(cfg.table(name))
		snap, err := tbl.Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		from := int64(0)
		if after != nil {
			from = after[name] + 1
		}
		dt := dumpTable{Name: name, Path: cfg.table(name)}
		for v := from; v <= snap.Version; v++ {
			dv := dumpVersionOf(t, tbl, v)
			d.rows += len(dv.Rows)
			dt.Versions = append(dt.Versions, dv)
		}
		if len(dt.Versions) > 0 {
			d.Tables = append(d.Tables, dt)
		}
	}
	d.file = filepath.Join(t.TempDir(), "ours.json")
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func dumpVersionOf(t *testing.T, tbl *lake.Table, v int64) dumpVersion {
	t.Helper()
	ctx := context.Background()
	snap, err := tbl.Snapshot(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tbl.Rows(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	dv := dumpVersion{Version: v, Txn: snap.Transactions(), Rows: make([]map[string]any, 0, len(rows))}
	for _, f := range snap.Schema.Fields {
		dv.Schema = append(dv.Schema, dumpField{f.Name, f.Type, f.Nullable})
	}
	for _, r := range rows {
		dv.Rows = append(dv.Rows, canonicalRow(t, r))
	}
	return dv
}

// canonicalRow renders one row for JSON: timestamps as UTC microseconds,
// non-finite doubles tagged (JSON has no NaN), everything else as is.
func canonicalRow(t *testing.T, r map[string]any) map[string]any {
	out := make(map[string]any, len(r))
	for k, v := range r {
		switch x := v.(type) {
		case time.Time:
			out[k] = x.UnixMicro()
		case float64:
			switch {
			case math.IsNaN(x):
				out[k] = map[string]string{"$float": "NaN"}
			case math.IsInf(x, 1):
				out[k] = map[string]string{"$float": "+Inf"}
			case math.IsInf(x, -1):
				out[k] = map[string]string{"$float": "-Inf"}
			default:
				out[k] = x
			}
		case nil, string, int64, bool:
			out[k] = x
		default:
			t.Fatalf("column %s: no canonical form for %T", k, v)
		}
	}
	return out
}

// versionRows is a version's rows as sorted canonical JSON, every column.
func versionRows(t *testing.T, dir string, v int64) []string {
	t.Helper()
	dv := dumpVersionOf(t, lake.Open(dir), v)
	out := make([]string, 0, len(dv.Rows))
	for _, r := range dv.Rows {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// --- one delta_compat.py session (one JVM) for the whole test ----------------

type deltaCompat struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr string // file
}

func startDeltaCompat(t *testing.T, py string) *deltaCompat {
	t.Helper()
	tmp := t.TempDir()
	c := &deltaCompat{stderr: filepath.Join(tmp, "delta_compat.stderr")}
	errf, err := os.Create(c.stderr)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(py, filepath.Join(reforacle.Root(), "scripts", "oracles", "delta_compat.py"), "serve")
	c.cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PYTHONUNBUFFERED=1")
	c.cmd.Stderr = errf
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewScanner(stdout)
	c.out.Buffer(make([]byte, 1<<20), 256<<20)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start delta_compat.py: %v", err)
	}
	t.Cleanup(func() {
		io.WriteString(c.stdin, `{"cmd":"quit"}`+"\n")
		c.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
		errf.Close()
	})
	return c
}

func (c *deltaCompat) stderrTail() string {
	b, _ := os.ReadFile(c.stderr)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// do sends one command and decodes its answer into v; an error answer fails the test.
func (c *deltaCompat) do(t *testing.T, cmd map[string]any, v any) {
	t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("delta_compat.py %s: %v\n%s", cmd["cmd"], err, c.stderrTail())
	}
	if !c.out.Scan() {
		t.Fatalf("delta_compat.py %s: no answer (%v); its stderr:\n%s", cmd["cmd"], c.out.Err(), c.stderrTail())
	}
	var status struct {
		OK        bool
		Error     string
		Traceback string
		Problems  []string
		Seconds   float64
	}
	line := c.out.Bytes()
	if err := json.Unmarshal(line, &status); err != nil {
		t.Fatalf("delta_compat.py %s: bad answer %q: %v", cmd["cmd"], line, err)
	}
	if status.Error != "" {
		t.Fatalf("delta_compat.py %s: %s\n%s", cmd["cmd"], status.Error, status.Traceback)
	}
	if !status.OK {
		t.Fatalf("delta_compat.py %s: %d mismatches with Spark/delta-rs:\n%s", cmd["cmd"], len(status.Problems), strings.Join(status.Problems, "\n"))
	}
	if err := json.Unmarshal(line, v); err != nil {
		t.Fatalf("delta_compat.py %s: %v", cmd["cmd"], err)
	}
	t.Logf("delta_compat.py %s: %.1fs", cmd["cmd"], status.Seconds)
}

// compare has Spark and delta-rs read every version in the dump and asserts
// that they checked all of them, and every row.
func (c *deltaCompat) compare(t *testing.T, d lakeDump) {
	t.Helper()
	var s struct {
		Tables map[string]struct {
			Versions []int64
			Rows     map[string]int
		}
		VersionsChecked int `json:"versions_checked"`
		RowsCompared    int `json:"rows_compared"`
		Engines         map[string]string
		Checkpoints     map[string][]string
	}
	c.do(t, map[string]any{"cmd": "compare", "dump": d.file}, &s)
	versions := 0
	for _, tb := range d.Tables {
		versions += len(tb.Versions)
		got := s.Tables[tb.Name]
		if len(got.Versions) != len(tb.Versions) {
			t.Errorf("%s: Spark/delta-rs checked %d versions, we dumped %d", tb.Name, len(got.Versions), len(tb.Versions))
		}
		for _, v := range tb.Versions {
			if n, ok := got.Rows[fmt.Sprint(v.Version)]; !ok || n != len(v.Rows) {
				t.Errorf("%s@v%d: compared %d rows, we have %d", tb.Name, v.Version, n, len(v.Rows))
			}
		}
	}
	if s.VersionsChecked != versions || s.RowsCompared != d.rows || versions == 0 {
		t.Errorf("Spark/delta-rs checked %d versions and %d rows, the dump has %d and %d", s.VersionsChecked, s.RowsCompared, versions, d.rows)
	}
	t.Logf("Spark %s (delta-spark %s) and delta-rs %s agree with us on %d versions, %d rows; checkpoints %v",
		s.Engines["spark"], s.Engines["delta_spark"], s.Engines["deltalake"], s.VersionsChecked, s.RowsCompared, s.Checkpoints)
}
