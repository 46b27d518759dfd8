package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"
)

// readParquet reads a whole parquet file as an Arrow table.
func readParquet(ctx context.Context, st Storage, name string) (arrow.Table, error) {
	f, _, err := st.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", name, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", name, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", name, err)
	}
	return tbl, nil
}

// readCheckpoint turns the rows of a parquet checkpoint into actions.
func readCheckpoint(ctx context.Context, st Storage, name string) ([]Action, error) {
	tbl, err := readParquet(ctx, st, name)
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	var out []Action
	for ci := 0; ci < int(tbl.NumCols()); ci++ {
		col := tbl.Column(ci)
		kind := col.Name()
		switch kind {
		case "add", "remove", "metaData", "protocol", "txn":
		default:
			continue
		}
		for _, chunk := range col.Data().Chunks() {
			for i := 0; i < chunk.Len(); i++ {
				if chunk.IsNull(i) {
					continue
				}
				var a Action
				var dst any
				switch kind {
				case "add":
					a.Add = new(AddFile)
					dst = a.Add
				case "remove":
					a.Remove = new(RemoveFile)
					dst = a.Remove
				case "metaData":
					a.MetaData = new(Metadata)
					dst = a.MetaData
				case "protocol":
					a.Protocol = new(Protocol)
					dst = a.Protocol
				case "txn":
					a.Txn = new(Txn)
					dst = a.Txn
				}
				if err := decodeInto(ValueAt(chunk, i), dst); err != nil {
					return nil, fmt.Errorf("%s row %d: %w", kind, i, err)
				}
				if a.Add != nil && string(a.Add.DeletionVector) == "null" {
					a.Add.DeletionVector = nil // a null struct, as in JSON commits
				}
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// ValueAt converts one Arrow value to plain Go: nil, string, []byte, int64,
// float64, bool, time.Time (UTC), a decimal as its string, map[string]any for
// structs and maps, []any for lists.
func ValueAt(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		v := make([]byte, len(a.Value(i))) // never nil: empty binary is not null
		copy(v, a.Value(i))
		return v
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).ToTime().UTC()
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC()
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		m := make(map[string]any, st.NumFields())
		for f := 0; f < st.NumFields(); f++ {
			m[st.Field(f).Name] = ValueAt(a.Field(f), i)
		}
		return m
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		m := make(map[string]any, end-start)
		for j := start; j < end; j++ {
			m[fmt.Sprint(ValueAt(keys, int(j)))] = ValueAt(items, int(j))
		}
		return m
	case *array.List:
		start, end := a.ValueOffsets(i)
		out := make([]any, 0, end-start)
		for j := start; j < end; j++ {
			out = append(out, ValueAt(a.ListValues(), int(j)))
		}
		return out
	}
	return arr.GetOneForMarshal(i)
}

// conform shapes one data file's columns to the snapshot schema: columns are
// matched by name ignoring case (under column mapping by field id or
// physical name, see fileField), a column the file lacks (added by a later
// schema change) reads as nulls, partition columns come from the add
// action's partitionValues, timestamps of any unit become microseconds, and
// nested columns are shaped the same way, field by field.
func conform(tbl arrow.Table, schema *arrow.Schema, partitions map[string]*string) (arrow.RecordBatch, error) {
	n := int(tbl.NumRows())
	cols := make([]arrow.Array, len(schema.Fields()))
	defer releaseAll(cols)
	for i, f := range schema.Fields() {
		if pv, ok := lookupPartition(partitions, physicalName(f)); ok {
			arr, err := partitionArray(f.Type, pv, n)
			if err != nil {
				return nil, fmt.Errorf("partition column %q: %w", f.Name, err)
			}
			cols[i] = arr
			continue
		}
		idx := fileField(tbl.Schema().Fields(), f)
		if idx < 0 {
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, n)
			continue
		}
		chunks := tbl.Column(idx).Data().Chunks()
		var arr arrow.Array
		if len(chunks) == 1 {
			arr = chunks[0]
			arr.Retain()
		} else {
			var err error
			if arr, err = array.Concatenate(chunks, memory.DefaultAllocator); err != nil {
				return nil, err
			}
		}
		conv, err := convertType(arr, f.Type)
		arr.Release()
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		cols[i] = conv
	}
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}

// physicalName is the name a column has in the data files and partition
// values: its logical name, or under column mapping its physical name.
func physicalName(f arrow.Field) string {
	if p, ok := f.Metadata.GetValue(physicalNameKey); ok {
		return p
	}
	return f.Name
}

// fileField finds want among a data file's fields: by field id when the
// table maps columns by id and the file has ids, else by physical name
// (ignoring case); -1 when the file lacks it.
func fileField(have []arrow.Field, want arrow.Field) int {
	if id, ok := want.Metadata.GetValue(fieldIDKey); ok {
		for j, h := range have {
			if hid, ok := h.Metadata.GetValue("PARQUET:field_id"); ok && hid == id {
				return j
			}
		}
	}
	name := physicalName(want)
	for j, h := range have {
		if strings.EqualFold(h.Name, name) {
			return j
		}
	}
	return -1
}

func lookupPartition(pv map[string]*string, name string) (*string, bool) {
	for k, v := range pv {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// convertType passes arr through when it already has type want, rescales
// timestamps (Spark may write INT96 nanoseconds or milliseconds), and
// shapes nested arrays to want (see convertNested).
func convertType(arr arrow.Array, want arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(arr.DataType(), want) {
		arr.Retain()
		return arr, nil
	}
	switch want.(type) {
	case *arrow.StructType, *arrow.ListType, *arrow.MapType:
		return convertNested(arr, want)
	}
	wt, ok1 := want.(*arrow.TimestampType)
	ht, ok2 := arr.DataType().(*arrow.TimestampType)
	if ok1 && ok2 {
		ts := arr.(*array.Timestamp)
		b := array.NewTimestampBuilder(memory.DefaultAllocator, wt)
		defer b.Release()
		for i := 0; i < ts.Len(); i++ {
			if ts.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.Append(arrow.Timestamp(ts.Value(i).ToTime(ht.Unit).UnixMicro()))
		}
		return b.NewArray(), nil
	}
	if arrow.TypeEqual(arr.DataType(), arrow.BinaryTypes.Binary) && arrow.TypeEqual(want, arrow.BinaryTypes.String) {
		return array.MakeFromData(array.NewData(want, arr.Len(), arr.Data().Buffers(), nil, arr.NullN(), arr.Data().Offset())), nil
	}
	return nil, fmt.Errorf("file has type %s, table schema says %s", arr.DataType(), want)
}

// partitionArray repeats a partition value n times, typed as the column.
func partitionArray(t arrow.DataType, v *string, n int) (arrow.Array, error) {
	b := array.NewBuilder(memory.DefaultAllocator, t)
	defer b.Release()
	if v == nil {
		b.AppendNulls(n)
		return b.NewArray(), nil
	}
	var appendOne func() error
	switch bb := b.(type) {
	case *array.TimestampBuilder:
		ts, err := parsePartitionTimestamp(*v)
		if err != nil {
			return nil, err
		}
		appendOne = func() error { bb.Append(arrow.Timestamp(ts.UnixMicro())); return nil }
	case *array.Date32Builder:
		d, err := time.Parse("2006-01-02", *v)
		if err != nil {
			return nil, err
		}
		appendOne = func() error { bb.Append(arrow.Date32FromTime(d)); return nil }
	default:
		appendOne = func() error { return b.AppendValueFromString(*v) }
	}
	for i := 0; i < n; i++ {
		if err := appendOne(); err != nil {
			return nil, fmt.Errorf("value %q: %w", *v, err)
		}
	}
	return b.NewArray(), nil
}

// parsePartitionTimestamp reads the protocol's "yyyy-MM-dd HH:mm:ss[.ffffff]"
// (UTC) or an ISO-8601 instant.
func parsePartitionTimestamp(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse("2006-01-02 15:04:05.999999999", s)
}

// WriterOptions tune data files.
type WriterOptions struct {
	// Codec is "zstd" (default) or "snappy".
	Codec string
	// RowGroupRows caps rows per row group (default 1,000,000: few, large
	// row groups read fastest).
	RowGroupRows int64
}

// DataWriter writes one parquet data file for a table and gathers the
// statistics of its add action while it writes.
type DataWriter struct {
	st    Storage
	name  string
	w     io.WriteCloser
	cw    *countingWriter
	pw    *pqarrow.FileWriter
	stats *statsCollector
}

// NewDataWriter starts a data file with a unique name under the table root.
// The file is invisible to readers until an add action names it.
func (t *Table) NewDataWriter(ctx context.Context, schema *arrow.Schema, opts WriterOptions) (*DataWriter, error) {
	codec := compress.Codecs.Zstd
	ext := "zstd"
	if opts.Codec == "snappy" {
		codec, ext = compress.Codecs.Snappy, "snappy"
	} else if opts.Codec != "" && opts.Codec != "zstd" {
		return nil, fmt.Errorf("unknown parquet codec %q (zstd or snappy)", opts.Codec)
	}
	rg := opts.RowGroupRows
	if rg <= 0 {
		rg = 1_000_000
	}
	name := fmt.Sprintf("part-00000-%s-c000.%s.parquet", uuid.NewString(), ext)
	w, err := t.Storage.Create(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("create data file in %s: %w", t.Location, err)
	}
	cw := &countingWriter{w: w}
	props := parquet.NewWriterProperties(parquet.WithCompression(codec), parquet.WithMaxRowGroupLength(rg),
		parquet.WithCreatedBy("tweet-sentiment lake (arrow-go)"))
	pw, err := pqarrow.NewFileWriter(schema, cw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithCoerceTimestamps(arrow.Microsecond)))
	if err != nil {
		w.Close()
		return nil, err
	}
	return &DataWriter{st: t.Storage, name: name, w: w, cw: cw, pw: pw, stats: newStatsCollector(schema)}, nil
}

// Write appends a batch of rows.
func (d *DataWriter) Write(rec arrow.RecordBatch) error {
	d.stats.add(rec)
	return d.pw.WriteBuffered(rec)
}

// Close finishes the file and returns its add action.
func (d *DataWriter) Close() (AddFile, error) {
	if err := d.pw.Close(); err != nil { // also closes d.cw → d.w
		return AddFile{}, fmt.Errorf("write %s: %w", d.name, err)
	}
	return AddFile{
		Path:             url.PathEscape(d.name),
		PartitionValues:  map[string]*string{},
		Size:             d.cw.n,
		ModificationTime: time.Now().UnixMilli(),
		DataChange:       true,
		Stats:            d.stats.json(),
	}, nil
}

// Abort closes and removes a file that will not be committed.
func (d *DataWriter) Abort(ctx context.Context) {
	d.pw.Close()
	d.st.Remove(ctx, d.name)
}

type countingWriter struct {
	w io.WriteCloser
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Close() error { return c.w.Close() }

// statsCollector keeps numRecords, nullCount and min/max for the column types
// Delta readers use for data skipping. String bounds are cut to 32 characters
// as Spark does: a prefix is still a valid minimum; a maximum that had to be
// cut is left out rather than stated wrongly.
type statsCollector struct {
	schema   *arrow.Schema
	rows     int64
	nulls    []int64
	min, max []any
	maxCut   []bool
}

const statsStringPrefix = 32

func newStatsCollector(s *arrow.Schema) *statsCollector {
	n := len(s.Fields())
	return &statsCollector{schema: s, nulls: make([]int64, n), min: make([]any, n), max: make([]any, n), maxCut: make([]bool, n)}
}

func (c *statsCollector) add(rec arrow.RecordBatch) {
	c.rows += rec.NumRows()
	for ci, col := range rec.Columns() {
		c.nulls[ci] += int64(col.NullN())
		for i := 0; i < col.Len(); i++ {
			if col.IsNull(i) {
				continue
			}
			switch a := col.(type) {
			case *array.String:
				s := a.Value(i)
				if c.min[ci] == nil || s < c.min[ci].(string) {
					c.min[ci] = s
				}
				if c.max[ci] == nil || s > c.max[ci].(string) {
					c.max[ci] = s
				}
			case *array.Int64:
				c.updateInt(ci, a.Value(i))
			case *array.Int32:
				c.updateInt(ci, int64(a.Value(i)))
			case *array.Float64:
				v := a.Value(i)
				if math.IsNaN(v) {
					continue
				}
				if c.min[ci] == nil || v < c.min[ci].(float64) {
					c.min[ci] = v
				}
				if c.max[ci] == nil || v > c.max[ci].(float64) {
					c.max[ci] = v
				}
			case *array.Timestamp:
				c.updateInt(ci, int64(a.Value(i)))
			}
		}
	}
}

func (c *statsCollector) updateInt(ci int, v int64) {
	if c.min[ci] == nil || v < c.min[ci].(int64) {
		c.min[ci] = v
	}
	if c.max[ci] == nil || v > c.max[ci].(int64) {
		c.max[ci] = v
	}
}

func (c *statsCollector) json() string {
	type stats struct {
		NumRecords int64          `json:"numRecords"`
		MinValues  map[string]any `json:"minValues"`
		MaxValues  map[string]any `json:"maxValues"`
		NullCount  map[string]any `json:"nullCount"`
	}
	s := stats{NumRecords: c.rows, MinValues: map[string]any{}, MaxValues: map[string]any{}, NullCount: map[string]any{}}
	for i, f := range c.schema.Fields() {
		s.NullCount[f.Name] = c.nulls[i]
		if c.min[i] == nil {
			continue
		}
		lo, hi := c.min[i], c.max[i]
		switch f.Type.(type) {
		case *arrow.TimestampType: // ISO-8601, truncated to milliseconds
			lo = time.UnixMicro(lo.(int64)).UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
			hiT := time.UnixMicro(hi.(int64)).UTC()
			if hiT.Truncate(time.Millisecond) != hiT { // round up so it still bounds
				hiT = hiT.Truncate(time.Millisecond).Add(time.Millisecond)
			}
			hi = hiT.Format("2006-01-02T15:04:05.000Z07:00")
		case *arrow.StringType:
			lo = prefixRunes(lo.(string), statsStringPrefix)
			if h := hi.(string); utf8.RuneCountInString(h) > statsStringPrefix {
				hi = nil
			}
		}
		s.MinValues[f.Name] = lo
		if hi != nil {
			s.MaxValues[f.Name] = hi
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func prefixRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// convertNested shapes a struct, list or map array to want: struct fields
// matched as columns are (fileField; missing ones read as nulls), list
// elements and map keys and values converted in turn. Validity and offsets
// are kept as the file has them.
func convertNested(arr arrow.Array, want arrow.DataType) (arrow.Array, error) {
	if arr.Data().Offset() != 0 { // children are rebuilt whole: start from offset 0
		flat, err := array.Concatenate([]arrow.Array{arr}, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		defer flat.Release()
		arr = flat
	}
	d := arr.Data()
	switch w := want.(type) {
	case *arrow.StructType:
		a, ok := arr.(*array.Struct)
		if !ok {
			return nil, fmt.Errorf("file has type %s, table schema says %s", arr.DataType(), want)
		}
		have := a.DataType().(*arrow.StructType).Fields()
		children := make([]arrow.ArrayData, w.NumFields())
		for i, f := range w.Fields() {
			var child arrow.Array
			if j := fileField(have, f); j >= 0 {
				c, err := convertType(a.Field(j), f.Type)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", f.Name, err)
				}
				child = c
			} else {
				child = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, a.Len())
			}
			children[i] = child.Data()
			defer child.Release()
		}
		return array.MakeFromData(array.NewData(want, a.Len(), d.Buffers()[:1], children, a.NullN(), 0)), nil
	case *arrow.ListType:
		a, ok := arr.(*array.List)
		if !ok {
			return nil, fmt.Errorf("file has type %s, table schema says %s", arr.DataType(), want)
		}
		values, err := convertType(a.ListValues(), w.Elem())
		if err != nil {
			return nil, fmt.Errorf("elements: %w", err)
		}
		defer values.Release()
		return array.MakeFromData(array.NewData(want, a.Len(), d.Buffers(), []arrow.ArrayData{values.Data()}, a.NullN(), 0)), nil
	case *arrow.MapType:
		a, ok := arr.(*array.Map)
		if !ok {
			return nil, fmt.Errorf("file has type %s, table schema says %s", arr.DataType(), want)
		}
		keys, err := convertType(a.Keys(), w.KeyType())
		if err != nil {
			return nil, fmt.Errorf("map keys: %w", err)
		}
		defer keys.Release()
		items, err := convertType(a.Items(), w.ItemType())
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		defer items.Release()
		entries := a.ListValues().Data()
		pairs := array.NewData(w.Elem(), entries.Len(), []*memory.Buffer{nil}, []arrow.ArrayData{keys.Data(), items.Data()}, 0, 0)
		defer pairs.Release()
		return array.MakeFromData(array.NewData(want, a.Len(), d.Buffers(), []arrow.ArrayData{pairs}, a.NullN(), 0)), nil
	}
	return nil, fmt.Errorf("file has type %s, table schema says %s", arr.DataType(), want)
}
