package transforms

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
)

// The table schemas, following the course's data dictionary. Timestamps are
// microseconds since the epoch, UTC, in rows and in the tables.
var (
	BronzeSchema = lake.NewSchema(
		"date", lake.TypeString, "user", lake.TypeString, "text", lake.TypeString, "sentiment", lake.TypeString,
		"source_file", lake.TypeString, "processing_time", lake.TypeTimestamp)
	SilverSchema = lake.NewSchema(
		"timestamp", lake.TypeTimestamp, "mention", lake.TypeString, "cleaned_text", lake.TypeString,
		"sentiment", lake.TypeString)
	QuarantineSchema = lake.NewSchema(
		"stage", lake.TypeString, "source_file", lake.TypeString, "record", lake.TypeString,
		"reason", lake.TypeString, "processing_time", lake.TypeTimestamp)
)

// BronzeRow is one raw tweet as ingested: the source's strings (nil where
// absent or null), where it came from, when it was read, and any unknown
// top-level fields by column name.
type BronzeRow struct {
	Date, User, Text, Sentiment *string
	SourceFile                  string
	ProcessingTime              int64 // µs since the epoch, UTC
	Extra                       map[string]string
}

// SilverRow is one (tweet, mention) pair.
type SilverRow struct {
	Timestamp   int64 // µs since the epoch, UTC
	Mention     string
	CleanedText string
	Sentiment   *string
}

// QuarantineRow is a record that could not go on, and why.
type QuarantineRow struct {
	Stage          string // "bronze" or "silver"
	SourceFile     string
	Record         string // the raw record, truncated
	Reason         string // "<category>: <detail>"
	ProcessingTime int64
}

func appendOpt(b array.Builder, s *string) {
	if s == nil {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(*s)
}

func appendTS(b array.Builder, us int64) {
	b.(*array.TimestampBuilder).Append(arrow.Timestamp(us))
}

func (r BronzeRow) ShardKey() string { return r.SourceFile }

func (r BronzeRow) ExtraColumns() []string {
	if len(r.Extra) == 0 {
		return nil
	}
	out := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		out = append(out, k)
	}
	return out
}

func (r BronzeRow) AppendTo(b *array.RecordBuilder) {
	appendOpt(b.Field(0), r.Date)
	appendOpt(b.Field(1), r.User)
	appendOpt(b.Field(2), r.Text)
	appendOpt(b.Field(3), r.Sentiment)
	b.Field(4).(*array.StringBuilder).Append(r.SourceFile)
	appendTS(b.Field(5), r.ProcessingTime)
	fields := b.Schema().Fields()
	for i := len(BronzeSchema.Fields); i < len(fields); i++ {
		if v, ok := r.Extra[fields[i].Name]; ok {
			b.Field(i).(*array.StringBuilder).Append(v)
		} else {
			b.Field(i).AppendNull()
		}
	}
}

// ShardKey puts a mention's rows in one file, which is what readers of
// silver (per-mention aggregation) want.
func (r SilverRow) ShardKey() string       { return r.Mention }
func (r SilverRow) ExtraColumns() []string { return nil }

func (r SilverRow) AppendTo(b *array.RecordBuilder) {
	appendTS(b.Field(0), r.Timestamp)
	b.Field(1).(*array.StringBuilder).Append(r.Mention)
	b.Field(2).(*array.StringBuilder).Append(r.CleanedText)
	appendOpt(b.Field(3), r.Sentiment)
}

func (r QuarantineRow) ShardKey() string       { return r.SourceFile }
func (r QuarantineRow) ExtraColumns() []string { return nil }

func (r QuarantineRow) AppendTo(b *array.RecordBuilder) {
	b.Field(0).(*array.StringBuilder).Append(r.Stage)
	b.Field(1).(*array.StringBuilder).Append(r.SourceFile)
	b.Field(2).(*array.StringBuilder).Append(r.Record)
	b.Field(3).(*array.StringBuilder).Append(r.Reason)
	appendTS(b.Field(4), r.ProcessingTime)
}

// Gold and application schemas (the course's data dictionary).
var (
	GoldSchema = lake.NewSchema(
		"timestamp", lake.TypeTimestamp, "mention", lake.TypeString, "cleaned_text", lake.TypeString,
		"sentiment", lake.TypeString, "predicted_score", lake.TypeDouble, "predicted_sentiment", lake.TypeString,
		"sentiment_id", lake.TypeInteger, "predicted_sentiment_id", lake.TypeInteger)
	ApplicationSchema = lake.NewSchema(
		"mention", lake.TypeString, "min_timestamp", lake.TypeTimestamp, "max_timestamp", lake.TypeTimestamp,
		"negative", lake.TypeLong, "neutral", lake.TypeLong, "positive", lake.TypeLong, "total", lake.TypeLong)
)

// GoldRow is a silver row with the model's prediction.
type GoldRow struct {
	Timestamp            int64
	Mention, CleanedText string
	Sentiment            *string
	PredictedScore       float64 // 0–100
	PredictedSentiment   string  // negative, neutral or positive
	// The two ids are int32 columns but int64 here: the Go SDK writes an
	// int32 field of a schema row as a 64-bit varint, so -1 takes 10 bytes,
	// and Java runners (Flink, Spark) decode INT32 as a 32-bit varint and
	// fail ("varint overflow") on every row whose id is -1.
	SentimentID          int64 // given: 1 positive, 0 negative, -1 otherwise
	PredictedSentimentID int64 // 1 positive, 0 negative, -1 neutral
}

// ApplicationRow aggregates gold per mention.
type ApplicationRow struct {
	Mention                     string
	MinTimestamp, MaxTimestamp  int64
	Negative, Neutral, Positive int64
	Total                       int64
}

func (r GoldRow) ShardKey() string       { return r.Mention }
func (r GoldRow) ExtraColumns() []string { return nil }

func (r GoldRow) AppendTo(b *array.RecordBuilder) {
	appendTS(b.Field(0), r.Timestamp)
	b.Field(1).(*array.StringBuilder).Append(r.Mention)
	b.Field(2).(*array.StringBuilder).Append(r.CleanedText)
	appendOpt(b.Field(3), r.Sentiment)
	b.Field(4).(*array.Float64Builder).Append(r.PredictedScore)
	b.Field(5).(*array.StringBuilder).Append(r.PredictedSentiment)
	b.Field(6).(*array.Int32Builder).Append(int32(r.SentimentID))
	b.Field(7).(*array.Int32Builder).Append(int32(r.PredictedSentimentID))
}

func (r ApplicationRow) ShardKey() string       { return r.Mention }
func (r ApplicationRow) ExtraColumns() []string { return nil }

func (r ApplicationRow) AppendTo(b *array.RecordBuilder) {
	b.Field(0).(*array.StringBuilder).Append(r.Mention)
	appendTS(b.Field(1), r.MinTimestamp)
	appendTS(b.Field(2), r.MaxTimestamp)
	for i, v := range []int64{r.Negative, r.Neutral, r.Positive, r.Total} {
		b.Field(3 + i).(*array.Int64Builder).Append(v)
	}
}

// WriteDataFile writes rows as one data file of the table (not yet
// committed: the caller's commit names it), for the small writes made
// outside a Beam sink: application's rewrite, an abandoned batch's
// quarantine rows. No rows, no file.
func WriteDataFile[R interface{ AppendTo(*array.RecordBuilder) }](ctx context.Context, tbl *lake.Table, schema lake.Schema, rows []R) ([]lake.AddFile, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	as, err := schema.ArrowSchema()
	if err != nil {
		return nil, err
	}
	w, err := tbl.NewDataWriter(ctx, as, lake.WriterOptions{})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", tbl.Location, err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	for _, r := range rows {
		r.AppendTo(b)
	}
	rec := b.NewRecordBatch()
	err = w.Write(rec)
	rec.Release()
	if err != nil {
		w.Abort(ctx)
		return nil, fmt.Errorf("write %s: %w", tbl.Location, err)
	}
	add, err := w.Close()
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", tbl.Location, err)
	}
	return []lake.AddFile{add}, nil
}

// Tally is a count that travels as data to a table's commit (see
// deltaio.WriteTallied): bronze and silver emit them, and the batch's
// bronze and silver commits record their sums, so the run's accounting
// holds on runners that retry bundles (whose counters count twice).
type Tally = deltaio.Tally

// Tally names, also the commitInfo.operationParameters keys they are
// recorded under.
const (
	TallyFilesRead    = "medallion.files_read"
	TallyHiddenFiles  = "medallion.hidden_files_skipped"
	TallyRawRecords   = "medallion.raw_records"
	TallyWithMentions = "medallion.tweets_with_mentions"
	TallyNoMentions   = "medallion.tweets_without_mentions"
)

// BronzeTallies are the tallies a batch's bronze commit records;
// SilverTallies its silver commit's.
var (
	BronzeTallies = []string{TallyFilesRead, TallyHiddenFiles, TallyRawRecords}
	SilverTallies = []string{TallyWithMentions, TallyNoMentions}
)
