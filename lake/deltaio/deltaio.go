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
	register.DoFn4x1[context.Context, []byte, func(*DataFile) bool, func(Committed), error](&commitFn{})
	register.Iter1[DataFile]()
	register.Emitter1[Committed]()
	beam.RegisterType(reflect.TypeOf((*DataFile)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Committed)(nil)).Elem())
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
}

// Write appends rows (a PCollection of a type implementing Row) to the table
// in one commit and returns a single Committed element.
func Write(s beam.Scope, cfg Config, rows beam.PCollection) beam.PCollection {
	s = s.Scope("Write " + cfg.Location)
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
	files := beam.ParDo(s, &writeFilesFn{Location: cfg.Location, BaseSchema: cfg.BaseSchema.String(), MaxRows: maxRows, Codec: cfg.Codec}, grouped)
	return beam.ParDo(s, &commitFn{Location: cfg.Location, BaseSchema: cfg.BaseSchema.String(), Operation: cfg.Operation, Parameters: cfg.Parameters, AppID: cfg.AppID, Version: cfg.Version,
		Overwrite: cfg.Overwrite, RequireTxn: cfg.RequireTxn},
		beam.Impulse(s), beam.SideInput{Input: files})
}

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
}

func (f *commitFn) ProcessElement(ctx context.Context, _ []byte, files func(*DataFile) bool, emit func(Committed)) error {
	base, err := lake.ParseSchema(f.BaseSchema)
	if err != nil {
		return err
	}
	schema := base
	var adds []lake.AddFile
	var df DataFile
	extraSet := map[string]bool{}
	for files(&df) {
		var a lake.AddFile
		if err := json.Unmarshal([]byte(df.Add), &a); err != nil {
			return fmt.Errorf("commit %s: %w", f.Location, err)
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
	opts := lake.WriteOptions{Operation: f.Operation, Parameters: f.Parameters, AppID: f.AppID, Version: f.Version, RequireTxn: f.RequireTxn}
	write := lake.Open(f.Location).Append
	if f.Overwrite {
		write = lake.Open(f.Location).Overwrite
	}
	v, err := write(ctx, schema, adds, opts)
	if err != nil {
		return fmt.Errorf("commit %s: %w", f.Location, err)
	}
	var rows int64
	for _, a := range adds {
		if st, ok, _ := a.ParseStats(); ok {
			rows += st.NumRecords
		}
	}
	slog.Debug("committed", "table", f.Location, "version", v, "files", len(adds), "rows", rows)
	emit(Committed{Table: f.Location, Version: v, Files: int64(len(adds)), Rows: rows})
	return nil
}
