package transforms

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x1[context.Context, fileio.ReadableFile, func(BronzeRow), func(QuarantineRow), func(Tally), error](&bronzeFn{})
	register.Emitter1[BronzeRow]()
	register.Emitter1[QuarantineRow]()
	register.Emitter1[Tally]()
	beam.RegisterType(reflect.TypeOf((*BronzeRow)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*SilverRow)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*QuarantineRow)(nil)).Elem())
}

// Counters feed the live views (the progress bar, the stream monitor, the
// per-worker spread). A runner that retries a bundle keeps the failed
// attempt's increments, so they may overcount there: the run's accounting
// uses the tallies the commits record instead (see Tally).
var (
	filesRead       = beam.NewCounter(BronzeTable.Name, "files")
	workerFiles     = workerCounter("files")
	filesSkipped    = beam.NewCounter(BronzeTable.Name, "hidden_files_skipped")
	rawRecords      = beam.NewCounter(BronzeTable.Name, "raw_records")
	bronzeRows      = beam.NewCounter(BronzeTable.Name, "rows")
	bronzeQuaranted = beam.NewCounter(BronzeTable.Name, "quarantined")
	// Processing time per stream, in microseconds, for stream monitoring
	// (the runner's own execution-time metrics are not reliable on prism).
	bronzeMicros = beam.NewCounter(BronzeTable.Name, "processing_us")
)

// Bronze reads raw tweet files into bronze rows. Every raw record becomes a
// bronze row or a quarantine row with the reason, so that
// raw records = bronze rows + bronze quarantine rows; the tallies (files
// read, hidden files skipped, raw records) go to bronze's commit. A file
// whose storage fails to give its bytes fails the bundle (the runner
// retries it; else the run fails and the next redoes the batch): only bytes
// that are bad in themselves are quarantined.
func Bronze(s beam.Scope, files beam.PCollection, lim Limits) (rows, quarantine, tallies beam.PCollection) {
	s = s.Scope("Bronze")
	return beam.ParDo3(s, &bronzeFn{Limits: lim}, files)
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

func (f *bronzeFn) ProcessElement(ctx context.Context, rf fileio.ReadableFile, emit func(BronzeRow), quarantine func(QuarantineRow), tally func(Tally)) error {
	src := rf.Metadata.Path
	if IsHidden(src) {
		filesSkipped.Inc(ctx, 1)
		tally(Tally{Name: TallyHiddenFiles, N: 1})
		slog.Debug("skipping hidden file", "file", src)
		return nil
	}
	start := time.Now()
	defer func() { bronzeMicros.Inc(ctx, time.Since(start).Microseconds()) }()
	cut := &recordCutter{ctx: ctx, src: src, now: start.UnixMicro(), lim: f.Limits, emit: emit, quarantine: quarantine}
	data, err := f.read(ctx, rf)
	var se *storageError
	if errors.As(err, &se) {
		// Storage did not give the bytes: not the file's fault, and
		// quarantining it would lose it for good (its plan claimed it).
		// Fail the bundle: the runner retries it, or the run fails and the
		// next run redoes the batch and reads the file again.
		return fmt.Errorf("raw file %s: %w", src, err)
	}
	// The file is read (or bad in itself): it is counted, and its tallies
	// go out once its records are all emitted.
	filesRead.Inc(ctx, 1)
	workerFiles.Inc(ctx, 1)
	defer func() {
		tally(Tally{Name: TallyFilesRead, N: 1})
		tally(Tally{Name: TallyRawRecords, N: cut.records})
	}()
	if err != nil {
		cut.bad(nil, err)
		return nil
	}
	cut.cut(data)
	return failFirstAttempt("bronze", src)
}

// recordCutter cuts one source's bytes (a file, or a Kafka message) into
// raw records, each becoming a bronze row or a quarantine row with the
// reason, and counts them.
type recordCutter struct {
	ctx        context.Context
	src        string // source_file of the rows
	now        int64  // processing_time, Unix microseconds
	lim        Limits
	emit       func(BronzeRow)
	quarantine func(QuarantineRow)
	records    int64 // raw records so far
}

// bad quarantines one raw record (data may be nil: the whole source).
func (c *recordCutter) bad(data []byte, err error) {
	c.records++
	rawRecords.Inc(c.ctx, 1)
	bronzeQuaranted.Inc(c.ctx, 1)
	c.quarantine(QuarantineRow{
		Stage: BronzeTable.Name, SourceFile: c.src, Reason: err.Error(), ProcessingTime: c.now,
		Record: Truncate(strings.ToValidUTF8(string(data), string(utf8.RuneError)), c.lim.MaxQuarantined),
	})
}

// cut emits data's records: an object, an array of them, or NDJSON.
func (c *recordCutter) cut(data []byte) {
	for _, rec := range SplitRecords(data) {
		if c.lim.MaxRecordsPerFile > 0 && rec.Index >= c.lim.MaxRecordsPerFile {
			c.bad(rec.Data, recordErr(ReasonTooMany, "record %d: the file has more than %d records", rec.Index, c.lim.MaxRecordsPerFile))
			continue
		}
		if rec.Err != nil {
			c.bad(rec.Data, rec.Err)
			continue
		}
		t, err := DecodeTweet(rec.Data, c.lim)
		if err != nil {
			c.bad(rec.Data, atRecord(err, rec.Index))
			continue
		}
		c.records++
		rawRecords.Inc(c.ctx, 1)
		bronzeRows.Inc(c.ctx, 1)
		c.emit(BronzeRow{
			Date: t.Date, User: t.User, Text: t.Text, Sentiment: t.Sentiment,
			SourceFile: c.src, ProcessingTime: c.now, Extra: t.Extra,
		})
	}
}

// read returns a file's bytes, decompressed; its error is a *storageError
// (see readAll) or a *RecordError for a file that is bad in itself: over
// the size limit, or a compressed stream that does not decompress.
func (f *bronzeFn) read(ctx context.Context, rf fileio.ReadableFile) ([]byte, error) {
	if f.Limits.MaxFileBytes > 0 && rf.Metadata.Size > f.Limits.MaxFileBytes {
		return nil, recordErr(ReasonTooLarge, "file is %d bytes, limit %d", rf.Metadata.Size, f.Limits.MaxFileBytes)
	}
	data, err := readAll(ctx, rf, f.Limits.MaxFileBytes)
	var se *storageError
	var re *RecordError
	if err == nil || errors.As(err, &se) || errors.As(err, &re) {
		return data, err
	}
	return nil, recordErr(ReasonReadFailed, "%v", err)
}

// atRecord adds the record's position in its file to the reason's detail.
func atRecord(err error, i int) error {
	re, ok := err.(*RecordError)
	if !ok {
		re = &RecordError{Category: Category(err), Detail: err.Error()}
	}
	return &RecordError{Category: re.Category, Detail: fmt.Sprintf("record %d: %s", i, re.Detail)}
}

// storageError is a failure to get a file's stored bytes (opening it,
// reading it from the file system or object store), as opposed to bytes
// that are bad in themselves (a corrupt gzip stream, invalid JSON).
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// storageReader marks every error of the stored bytes' reader but io.EOF
// as a storageError, so that errors of a decompressor reading from it (a
// truncated gzip stream ends in io.ErrUnexpectedEOF) are told apart from
// the storage's own (a dropped connection may give io.ErrUnexpectedEOF too).
type storageReader struct{ r io.Reader }

func (s storageReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &storageError{err}
	}
	return n, err
}

// openStored opens a raw file's stored bytes through Beam's file systems
// (local, gs://, s3://). A variable so that tests can inject storage faults.
var openStored = func(ctx context.Context, path string) (io.ReadCloser, error) {
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	return fsys.OpenRead(ctx, path)
}

// readAll reads a raw file whole, decompressed. Its error is a *storageError
// when the storage failed, a *RecordError (too_large) when the content is
// over the limit, and otherwise the decompressor's (content that is bad in
// itself).
//
// Every storage failure counts as one, whatever its kind: a network or I/O
// error is transient, and a missing file (deleted after its plan was checked)
// or a permission error is not the content's fault either. Quarantining any
// of them would drop the file for good, since its plan claimed it, while a
// failed run names the file and the next run, once the file is readable (or
// gone: then it is quarantined as vanished), finishes the batch.
func readAll(ctx context.Context, rf fileio.ReadableFile, limit int64) ([]byte, error) {
	raw, err := openStored(ctx, rf.Metadata.Path)
	if err != nil {
		return nil, &storageError{fmt.Errorf("open: %w", err)}
	}
	defer raw.Close()
	var r io.Reader = storageReader{raw}
	// Gzip by the name's extension, as fileio.ReadableFile.Open decides.
	if filepath.Ext(rf.Metadata.Path) == ".gz" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, decompressErr(err)
		}
		defer zr.Close()
		r = zr
	}
	var data []byte
	if limit > 0 {
		// A compressed file may grow past the limit when read.
		data, err = io.ReadAll(io.LimitReader(r, limit+1))
		if err == nil && int64(len(data)) > limit {
			return nil, recordErr(ReasonTooLarge, "decompressed content exceeds %d bytes", limit)
		}
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return nil, decompressErr(err)
	}
	return data, nil
}

// decompressErr passes a storage failure on as it is and names any other
// error as the decompressor's.
func decompressErr(err error) error {
	var se *storageError
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("decompress: %w", err)
}
