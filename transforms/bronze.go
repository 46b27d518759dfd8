package transforms

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn4x1[context.Context, fileio.ReadableFile, func(BronzeRow), func(QuarantineRow), error](&bronzeFn{})
	register.Emitter1[BronzeRow]()
	register.Emitter1[QuarantineRow]()
	beam.RegisterType(reflect.TypeOf((*BronzeRow)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*SilverRow)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*QuarantineRow)(nil)).Elem())
}

var (
	filesRead       = beam.NewCounter("bronze", "files")
	workerFiles     = workerCounter("files")
	filesSkipped    = beam.NewCounter("bronze", "hidden_files_skipped")
	rawRecords      = beam.NewCounter("bronze", "raw_records")
	bronzeRows      = beam.NewCounter("bronze", "rows")
	bronzeQuaranted = beam.NewCounter("bronze", "quarantined")
	// Processing time per stream, in microseconds, for stream monitoring
	// (the runner's own execution-time metrics are not reliable on prism).
	bronzeMicros = beam.NewCounter("bronze", "processing_us")
)

// Bronze reads raw tweet files into bronze rows. Every raw record becomes a
// bronze row or a quarantine row with the reason, so that
// raw records = bronze rows + bronze quarantine rows.
func Bronze(s beam.Scope, files beam.PCollection, lim Limits) (rows, quarantine beam.PCollection) {
	s = s.Scope("Bronze")
	return beam.ParDo2(s, &bronzeFn{Limits: lim}, files)
}

// IsHidden reports names that writers use for files still being written
// (".tmp-…", "_temporary", "_SUCCESS"): they are not input.
func IsHidden(p string) bool {
	base := path.Base(strings.ReplaceAll(p, "\\", "/"))
	return strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")
}

// bronzeFn reads one file and cuts it into records.
type bronzeFn struct {
	Limits Limits
}

func (f *bronzeFn) ProcessElement(ctx context.Context, rf fileio.ReadableFile, emit func(BronzeRow), quarantine func(QuarantineRow)) error {
	src := rf.Metadata.Path
	if IsHidden(src) {
		filesSkipped.Inc(ctx, 1)
		slog.Debug("skipping hidden file", "file", src)
		return nil
	}
	filesRead.Inc(ctx, 1)
	workerFiles.Inc(ctx, 1)
	start := time.Now()
	defer func() { bronzeMicros.Inc(ctx, time.Since(start).Microseconds()) }()
	now := start.UnixMicro()
	q := func(data []byte, err error) {
		rawRecords.Inc(ctx, 1)
		bronzeQuaranted.Inc(ctx, 1)
		quarantine(QuarantineRow{
			Stage: "bronze", SourceFile: src, Reason: err.Error(), ProcessingTime: now,
			Record: Truncate(strings.ToValidUTF8(string(data), string(utf8.RuneError)), f.Limits.MaxQuarantined),
		})
	}
	if f.Limits.MaxFileBytes > 0 && rf.Metadata.Size > f.Limits.MaxFileBytes {
		q(nil, recordErr(ReasonTooLarge, "file is %d bytes, limit %d", rf.Metadata.Size, f.Limits.MaxFileBytes))
		return nil
	}
	data, err := readAll(ctx, rf, f.Limits.MaxFileBytes)
	if err != nil {
		// An unreadable file is quarantined, not retried forever: the reason
		// says what failed, and a rerun picks it up again.
		q(nil, recordErr(ReasonReadFailed, "%v", err))
		return nil
	}
	for _, rec := range SplitRecords(data) {
		if f.Limits.MaxRecordsPerFile > 0 && rec.Index >= f.Limits.MaxRecordsPerFile {
			q(rec.Data, recordErr(ReasonTooMany, "record %d: the file has more than %d records", rec.Index, f.Limits.MaxRecordsPerFile))
			continue
		}
		if rec.Err != nil {
			q(rec.Data, rec.Err)
			continue
		}
		t, err := DecodeTweet(rec.Data, f.Limits)
		if err != nil {
			q(rec.Data, atRecord(err, rec.Index))
			continue
		}
		rawRecords.Inc(ctx, 1)
		bronzeRows.Inc(ctx, 1)
		emit(BronzeRow{
			Date: t.Date, User: t.User, Text: t.Text, Sentiment: t.Sentiment,
			SourceFile: src, ProcessingTime: now, Extra: t.Extra,
		})
	}
	return nil
}

// atRecord adds the record's position in its file to the reason's detail.
func atRecord(err error, i int) error {
	re, ok := err.(*RecordError)
	if !ok {
		re = &RecordError{Category: Category(err), Detail: err.Error()}
	}
	return &RecordError{Category: re.Category, Detail: fmt.Sprintf("record %d: %s", i, re.Detail)}
}

func readAll(ctx context.Context, rf fileio.ReadableFile, limit int64) ([]byte, error) {
	r, err := rf.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer r.Close()
	if limit > 0 {
		// A compressed file may grow past the limit when read.
		data, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil && int64(len(data)) > limit {
			return nil, fmt.Errorf("decompressed content exceeds %d bytes", limit)
		}
		return data, err
	}
	return io.ReadAll(r)
}
