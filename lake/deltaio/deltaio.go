// Package deltaio writes a PCollection of rows to a Delta table as one
// atomic commit: rows are spread over shards, each shard writes parquet data
// files (invisible until committed), and a single commit step adds them all
// to the log. A failed or retried bundle leaves only unreferenced files,
// which readers never see.
package deltaio

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"reflect"
	"sort"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/lake"
)

// Row is what a table row type provides to be written.
type Row interface {
	// ShardKey spreads rows over writers; rows with one key share a file.
	ShardKey() string
	// ExtraColumns names columns beyond the table's base schema that this row
	// fills (schema growth); they are string columns.
	ExtraColumns() []string
	// AppendTo appends the row to b, whose schema is the base schema followed
	// by extra string columns in any order.
	AppendTo(b *array.RecordBuilder)
}

// DataFile is one written parquet file, waiting to be committed.
type DataFile struct {
	Add    string   // the add action, JSON
	Extras []string // extra columns the file holds
}

// Committed reports a commit: Version is -1 when nothing was committed.
type Committed struct {
	Table   string
	Version int64
	Files   int64 // int64, not int: Java runners do not know the Go SDK's "int" logical type
	Rows    int64
}

func init() {
	register.DoFn2x1[beam.T, func(int, beam.T), error](&shardFn{})
	register.Emitter2[int, beam.T]()
	register.DoFn4x1[context.Context, int, func(*beam.T) bool, func(DataFile), error](&writeFilesFn{})
	register.Iter1[beam.T]()
	register.Emitter1[DataFile]()
	register.DoFn5x1[context.Context, []byte, func(*DataFile) bool, func(*Tally) bool, func(Committed), error](&commitFn{})
	register.Iter1[DataFile]()
	register.Iter1[Tally]()
	register.Emitter1[Committed]()
	register.Function1x2[Tally, string, int64](tallyKV)
	register.Function2x1[int64, int64, int64](sumTally)
	register.Function2x1[string, int64, Tally](kvTally)
	beam.RegisterType(reflect.TypeOf((*DataFile)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Committed)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Tally)(nil)).Elem())
}

// Tally is a count that travels as data to a table's commit, which records
// the sum per Name in commitInfo.operationParameters (see WriteTallied).
// Unlike a Beam counter it counts exactly once: a runner that retries a
// bundle discards the failed attempt's outputs, tallies included, while its
// counters keep what the attempt added. N is int64, not int: Java runners
// cannot decode the Go SDK's int in schema rows.
type Tally struct {
	Name string
	N    int64
}

// ReadTally returns a tally a commit recorded in its operationParameters;
// ok is false when the commit recorded none of that name (another writer,
// or a commit made before tallies were recorded).
func ReadTally(params map[string]any, name string) (n int64, ok bool, err error) {
	s, ok := params[name].(string)
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("tally %s = %q: %w", name, s, err)
	}
	return n, true, nil
}

// Config describes the target table.
type Config struct {
	Location   string      // table directory
	BaseSchema lake.Schema // columns every row has, in AppendTo order
	Shards     int         // parallel writers (default 4)
	// MaxRowsPerFile caps rows buffered before a file is written (default 250,000).
	MaxRowsPerFile int
	Codec          string // parquet codec: zstd (default) or snappy
	Operation      string // history operation name (default WRITE)
	// Parameters are recorded in the commit's operationParameters (for
	// gold: which model produced the rows).
	Parameters map[string]string
	// AppID and Version make the commit idempotent (a Delta txn action): a
	// table that already records Version for AppID is left as it is, and a
	// table with nothing new still records the version.
	AppID   string
	Version int64
	// Overwrite replaces the table's rows with these in the one commit
	// (readers see the old rows or the new, never a mix); RequireTxn then
	// guards it (see lake.WriteOptions.RequireTxn).
	Overwrite  bool
	RequireTxn map[string]int64
	// Tallies names the tallies (see WriteTallied) the commit records even
	// when none of that name arrives ("0"), so a reader tells a zero from a
	// commit that recorded no tallies.
	Tallies []string
}

// Write appends rows (a PCollection of a type implementing Row) to the table
// in one commit and returns a single Committed element.
func Write(s beam.Scope, cfg Config, rows beam.PCollection) beam.PCollection {
	return WriteTallied(s, cfg, rows, beam.PCollection{})
}

// WriteTallied is Write with tallies (a PCollection of Tally, or an invalid
// PCollection for none): they are summed per name and recorded, as decimal
// strings, in the commit's operationParameters under their names. Counts
// that must be exact on a runner that retries bundles (records read, say)
// travel this way and are read back from the commit that holds the rows.
func WriteTallied(s beam.Scope, cfg Config, rows, tallies beam.PCollection) beam.PCollection {
	s = s.Scope("Write " + cfg.Location)
	var sums beam.PCollection
	if tallies.IsValid() {
		// Combined before the commit, so its side input holds one element
		// per name whatever the number of files or records.
		sums = beam.ParDo(s, kvTally, SumTallies(s, tallies))
	} else {
		sums = beam.CreateList(s, []Tally{})
	}
	files := WriteFiles(s, cfg, rows)
	return beam.ParDo(s, &commitFn{Location: cfg.Location, BaseSchema: cfg.BaseSchema.String(), Operation: cfg.Operation, Parameters: cfg.Parameters, AppID: cfg.AppID, Version: cfg.Version,
		Overwrite: cfg.Overwrite, RequireTxn: cfg.RequireTxn, Tallies: cfg.Tallies},
		beam.Impulse(s), beam.SideInput{Input: files}, beam.SideInput{Input: sums})
}

// WriteFiles writes rows as parquet data files of the table, spread over
// cfg.Shards writers, and returns them (DataFile) uncommitted: a windowed
// PCollection gives each window's files in that window, for a streaming
// job's commit step (see CommitFiles).
func WriteFiles(s beam.Scope, cfg Config, rows beam.PCollection) beam.PCollection {
	shards := cfg.Shards
	if shards <= 0 {
		shards = 4
	}
	maxRows := cfg.MaxRowsPerFile
	if maxRows <= 0 {
		maxRows = 250_000
	}
	keyed := beam.ParDo(s, &shardFn{Shards: shards}, rows)
	grouped := beam.GroupByKey(s, keyed)
	return beam.ParDo(s, &writeFilesFn{Location: cfg.Location, BaseSchema: cfg.BaseSchema.String(), MaxRows: maxRows, Codec: cfg.Codec}, grouped)
}

// SumTallies sums tallies (Tally) per name, per window: KV<string, int64>.
func SumTallies(s beam.Scope, tallies beam.PCollection) beam.PCollection {
	return beam.CombinePerKey(s, sumTally, beam.ParDo(s, tallyKV, tallies))
}

func tallyKV(t Tally) (string, int64)    { return t.Name, t.N }
func sumTally(a, b int64) int64          { return a + b }
func kvTally(name string, n int64) Tally { return Tally{Name: name, N: n} }

// shardFn keys rows by a hash of their shard key, so a rerun puts the same
// rows in the same shard.
type shardFn struct {
	Shards int
}

func (f *shardFn) ProcessElement(row beam.T, emit func(int, beam.T)) error {
	r, ok := row.(Row)
	if !ok {
		return fmt.Errorf("deltaio: %T does not implement deltaio.Row", row)
	}
	h := fnv.New32a()
	h.Write([]byte(r.ShardKey()))
	emit(int(h.Sum32()%uint32(f.Shards)), row)
	return nil
}

// writeFilesFn writes one shard's rows as parquet files of at most MaxRows
// rows. Each file's schema is the base schema plus the extra columns its
// rows use.
type writeFilesFn struct {
	Location   string
	BaseSchema string
	MaxRows    int
	Codec      string

	base lake.Schema
}

func (f *writeFilesFn) Setup() error {
	var err error
	f.base, err = lake.ParseSchema(f.BaseSchema)
	return err
}

func (f *writeFilesFn) ProcessElement(ctx context.Context, _ int, rows func(*beam.T) bool, emit func(DataFile)) error {
	buf := make([]Row, 0, min(f.MaxRows, 4096))
	var row beam.T
	for rows(&row) {
		buf = append(buf, row.(Row))
		if len(buf) >= f.MaxRows {
			if err := f.flush(ctx, buf, emit); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return f.flush(ctx, buf, emit)
	}
	return nil
}

func (f *writeFilesFn) flush(ctx context.Context, rows []Row, emit func(DataFile)) error {
	extraSet := map[string]bool{}
	for _, r := range rows {
		for _, c := range r.ExtraColumns() {
			extraSet[c] = true
		}
	}
	extras := make([]string, 0, len(extraSet))
	for c := range extraSet {
		extras = append(extras, c)
	}
	sort.Strings(extras)
	schema := f.base
	schema.Fields = append([]lake.Field(nil), f.base.Fields...)
	for _, c := range extras {
		schema.Fields = append(schema.Fields, lake.Field{Name: c, Type: lake.TypeString, Nullable: true})
	}
	as, err := schema.ArrowSchema()
	if err != nil {
		return err
	}
	tbl := lake.Open(f.Location)
	w, err := tbl.NewDataWriter(ctx, as, lake.WriterOptions{Codec: f.Codec})
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Location, err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	const batch = 16384
	for i := 0; i < len(rows); i += batch {
		for _, r := range rows[i:min(i+batch, len(rows))] {
			r.AppendTo(b)
		}
		rec := b.NewRecordBatch()
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			w.Abort(ctx)
			return fmt.Errorf("write %s: %w", f.Location, err)
		}
	}
	add, err := w.Close()
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Location, err)
	}
	js, err := json.Marshal(add)
	if err != nil {
		return err
	}
	emit(DataFile{Add: string(js), Extras: extras})
	return nil
}

// commitFn adds every written file to the table in one commit. It runs once
// (on an impulse) so that a table is created even when no row arrives.
type commitFn struct {
	Location   string
	BaseSchema string
	Operation  string
	Parameters map[string]string
	AppID      string
	Version    int64
	Overwrite  bool
	RequireTxn map[string]int64
	Tallies    []string
}

func (f *commitFn) ProcessElement(ctx context.Context, _ []byte, files func(*DataFile) bool, tallies func(*Tally) bool, emit func(Committed)) error {
	var all []DataFile
	var df DataFile
	for files(&df) {
		all = append(all, df)
	}
	sums := map[string]int64{}
	var t Tally
	for tallies(&t) {
		sums[t.Name] += t.N
	}
	cfg := Config{Location: f.Location, Operation: f.Operation, Parameters: f.Parameters, AppID: f.AppID, Version: f.Version,
		Overwrite: f.Overwrite, RequireTxn: f.RequireTxn, Tallies: f.Tallies}
	var err error
	if cfg.BaseSchema, err = lake.ParseSchema(f.BaseSchema); err != nil {
		return err
	}
	c, err := CommitFiles(ctx, cfg, all, sums)
	if err != nil {
		return err
	}
	emit(c)
	return nil
}

// CommitFiles adds written data files to the table in one commit, with the
// tallies' sums (and a 0 for each of cfg.Tallies none arrived for) in its
// operationParameters. cfg.AppID and cfg.Version make it idempotent.
func CommitFiles(ctx context.Context, cfg Config, files []DataFile, tallies map[string]int64) (Committed, error) {
	schema := cfg.BaseSchema
	schema.Fields = append([]lake.Field(nil), cfg.BaseSchema.Fields...)
	var adds []lake.AddFile
	extraSet := map[string]bool{}
	for _, df := range files {
		var a lake.AddFile
		if err := json.Unmarshal([]byte(df.Add), &a); err != nil {
			return Committed{}, fmt.Errorf("commit %s: %w", cfg.Location, err)
		}
		adds = append(adds, a)
		for _, c := range df.Extras {
			extraSet[c] = true
		}
	}
	extras := make([]string, 0, len(extraSet))
	for c := range extraSet {
		extras = append(extras, c)
	}
	sort.Strings(extras)
	for _, c := range extras {
		schema.Fields = append(schema.Fields, lake.Field{Name: c, Type: lake.TypeString, Nullable: true})
	}
	sort.Slice(adds, func(i, j int) bool { return adds[i].Path < adds[j].Path })
	params := cfg.Parameters
	sums := map[string]int64{}
	for _, name := range cfg.Tallies {
		sums[name] = 0
	}
	for name, n := range tallies {
		sums[name] += n
	}
	if len(sums) > 0 {
		params = make(map[string]string, len(cfg.Parameters)+len(sums))
		for k, v := range cfg.Parameters {
			params[k] = v
		}
		for name, n := range sums {
			params[name] = strconv.FormatInt(n, 10)
		}
	}
	opts := lake.WriteOptions{Operation: cfg.Operation, Parameters: params, AppID: cfg.AppID, Version: cfg.Version, RequireTxn: cfg.RequireTxn}
	write := lake.Open(cfg.Location).Append
	if cfg.Overwrite {
		write = lake.Open(cfg.Location).Overwrite
	}
	v, err := write(ctx, schema, adds, opts)
	if err != nil {
		return Committed{}, fmt.Errorf("commit %s: %w", cfg.Location, err)
	}
	var rows int64
	for _, a := range adds {
		if st, ok, _ := a.ParseStats(); ok {
			rows += st.NumRecords
		}
	}
	slog.Debug("committed", "table", cfg.Location, "version", v, "files", len(adds), "rows", rows)
	return Committed{Table: cfg.Location, Version: v, Files: int64(len(adds)), Rows: rows}, nil
}
