package transforms

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/lake"
)

func init() {
	register.DoFn3x1[context.Context, TableFile, func(BronzeRow), error](&readBronzeFn{})
	register.DoFn3x1[context.Context, TableFile, func(SilverRow), error](&readSilverFn{})
	register.DoFn3x1[context.Context, TableFile, func(QuarantineRow), error](&readQuarantineFn{})
	register.Emitter1[SilverRow]()
}

// TableFile is one data file of a Delta table, for a worker to read: stages
// that start from a table and rescores send the files, not their rows,
// through the job, so the driver holds no rows and the workers read in
// parallel from wherever the lake is.
type TableFile struct {
	Location string // the table's folder or object-store prefix
	Schema   string // the table's schema (Delta JSON) at the version read
	Add      string // the file's add action (JSON)
	// ColumnMapping is the table's delta.columnMapping.mode ("": none).
	ColumnMapping string `json:",omitempty"`
}

// NewTableFiles describes data files of the table at location, shaped to
// the snapshot's schema.
func NewTableFiles(location string, snap *lake.Snapshot, adds []lake.AddFile) ([]TableFile, error) {
	out := make([]TableFile, len(adds))
	schema, mapping := snap.Schema.String(), snap.Metadata.Configuration["delta.columnMapping.mode"]
	for i, a := range adds {
		data, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		out[i] = TableFile{Location: location, Schema: schema, Add: string(data), ColumnMapping: mapping}
	}
	return out, nil
}

// Read reads the file's rows, shaped to the schema (columns the file lacks
// are null).
func (f TableFile) Read(ctx context.Context) (arrow.RecordBatch, error) {
	var add lake.AddFile
	if err := json.Unmarshal([]byte(f.Add), &add); err != nil {
		return nil, fmt.Errorf("table %s: add action: %w", f.Location, err)
	}
	schema, err := lake.ParseSchema(f.Schema)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", f.Location, err)
	}
	as, err := schema.ReadSchema(f.ColumnMapping)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", f.Location, err)
	}
	return lake.Open(f.Location).ReadFile(ctx, add, as)
}

// ReadBronze reads bronze rows, unknown fields included, from files of the
// bronze table (spread them first: Reshuffle).
func ReadBronze(s beam.Scope, files beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("ReadBronze"), &readBronzeFn{}, files)
}

// ReadSilver reads silver rows from files of the silver table.
func ReadSilver(s beam.Scope, files beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("ReadSilver"), &readSilverFn{}, files)
}

// ReadQuarantine reads quarantine rows from files of the quarantine table,
// leaving out those of stage drop (a rebuild of silver replaces them).
func ReadQuarantine(s beam.Scope, files beam.PCollection, drop string) beam.PCollection {
	return beam.ParDo(s.Scope("ReadQuarantine"), &readQuarantineFn{Drop: drop}, files)
}

type readQuarantineFn struct{ Drop string }

func (f *readQuarantineFn) ProcessElement(ctx context.Context, tf TableFile, emit func(QuarantineRow)) error {
	return readEach(ctx, tf, DecodeQuarantine, func(r QuarantineRow) {
		if r.Stage != f.Drop {
			emit(r)
		}
	})
}

type readBronzeFn struct{}

func (readBronzeFn) ProcessElement(ctx context.Context, f TableFile, emit func(BronzeRow)) error {
	return readEach(ctx, f, DecodeBronze, emit)
}

type readSilverFn struct{}

func (readSilverFn) ProcessElement(ctx context.Context, f TableFile, emit func(SilverRow)) error {
	return readEach(ctx, f, DecodeSilver, emit)
}

func readEach[T any](ctx context.Context, f TableFile, decode func(arrow.RecordBatch) []T, emit func(T)) error {
	rec, err := f.Read(ctx)
	if err != nil {
		return err
	}
	defer rec.Release()
	for _, r := range decode(rec) {
		emit(r)
	}
	return nil
}

func column[A arrow.Array](rec arrow.RecordBatch, name string) A {
	return rec.Column(rec.Schema().FieldIndices(name)[0]).(A)
}

func optString(col *array.String, i int) *string {
	if col.IsNull(i) {
		return nil
	}
	v := col.Value(i)
	return &v
}

// jsonText renders a column's value as JSON text: how raw:bronze keeps a
// nested field, and how a bronze another writer made (Spark keeps nested
// tweet fields as structs) reads here.
func jsonText(col arrow.Array, i int) *string {
	if col.IsNull(i) {
		return nil
	}
	if s, ok := col.(*array.String); ok {
		v := s.Value(i)
		return &v
	}
	data, err := json.Marshal(lake.ValueAt(col, i))
	if err != nil {
		data = []byte(col.ValueStr(i))
	}
	v := string(data)
	return &v
}

// DecodeBronze decodes bronze rows, unknown fields (the columns after the
// base schema) included, as the bronze step emitted them.
func DecodeBronze(rec arrow.RecordBatch) []BronzeRow {
	str := func(n string) *array.String { return column[*array.String](rec, n) }
	date, text, sentiment := str("date"), str("text"), str("sentiment")
	user := rec.Column(rec.Schema().FieldIndices("user")[0]) // a struct in a bronze Spark made from nested JSON
	src, pt := str("source_file"), column[*array.Timestamp](rec, "processing_time")
	rows := make([]BronzeRow, 0, rec.NumRows())
	for i := 0; i < int(rec.NumRows()); i++ {
		r := BronzeRow{Date: optString(date, i), User: jsonText(user, i), Text: optString(text, i), Sentiment: optString(sentiment, i),
			SourceFile: src.Value(i), ProcessingTime: int64(pt.Value(i))}
		for j := len(BronzeSchema.Fields); j < int(rec.NumCols()); j++ {
			v := jsonText(rec.Column(j), i)
			if v == nil {
				continue
			}
			if r.Extra == nil {
				r.Extra = map[string]string{}
			}
			r.Extra[rec.Schema().Field(j).Name] = *v
		}
		rows = append(rows, r)
	}
	return rows
}

// DecodeSilver decodes silver rows, as the silver step emitted them.
func DecodeSilver(rec arrow.RecordBatch) []SilverRow {
	ts := column[*array.Timestamp](rec, "timestamp")
	mention, cleaned, sentiment := column[*array.String](rec, "mention"), column[*array.String](rec, "cleaned_text"), column[*array.String](rec, "sentiment")
	rows := make([]SilverRow, rec.NumRows())
	for i := range rows {
		rows[i] = SilverRow{Timestamp: int64(ts.Value(i)), Mention: mention.Value(i), CleanedText: cleaned.Value(i), Sentiment: optString(sentiment, i)}
	}
	return rows
}

// DecodeGoldCounts decodes what application counts of gold rows: mention,
// timestamp and predicted sentiment id.
func DecodeGoldCounts(rec arrow.RecordBatch) []GoldRow {
	ts, mention := column[*array.Timestamp](rec, "timestamp"), column[*array.String](rec, "mention")
	pred := column[*array.Int32](rec, "predicted_sentiment_id")
	rows := make([]GoldRow, rec.NumRows())
	for i := range rows {
		rows[i] = GoldRow{Timestamp: int64(ts.Value(i)), Mention: mention.Value(i), PredictedSentimentID: int64(pred.Value(i))}
	}
	return rows
}

// DecodeQuarantine decodes quarantine rows.
func DecodeQuarantine(rec arrow.RecordBatch) []QuarantineRow {
	str := func(n string) *array.String { return column[*array.String](rec, n) }
	stage, src, record, reason := str("stage"), str("source_file"), str("record"), str("reason")
	pt := column[*array.Timestamp](rec, "processing_time")
	rows := make([]QuarantineRow, rec.NumRows())
	for i := range rows {
		rows[i] = QuarantineRow{Stage: stage.Value(i), SourceFile: src.Value(i), Record: record.Value(i), Reason: reason.Value(i), ProcessingTime: int64(pt.Value(i))}
	}
	return rows
}
