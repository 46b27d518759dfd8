package transforms

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/lake"
)

func init() {
	register.DoFn5x1[context.Context, PlannedFile, func(fileio.ReadableFile), func(QuarantineRow), func(Tally), error](&openPlannedFn{})
	register.Emitter1[fileio.ReadableFile]()
	beam.RegisterType(reflect.TypeOf((*PlannedFile)(nil)).Elem())
}

// PlannedFile is a file as its batch's plan recorded it. Size and ModTime
// are what the file was when planned; Known is false for plans written
// before they were recorded, whose files are checked for existence only.
type PlannedFile struct {
	Path    string
	Size    int64
	ModTime int64 // Unix nanoseconds
	Known   bool
}

// FileFault says why a planned file cannot be read as planned: it
// vanished, or it changed (size or modification time) after planning.
type FileFault struct {
	Category string // ReasonVanished or ReasonChanged
	Detail   string
}

func (f *FileFault) Error() string { return f.Category + ": " + f.Detail }

// CheckPlanned compares a planned file with what is there now. It returns a
// *FileFault when the file vanished or changed, another error when it could
// not be looked at (a storage failure is not the user's deletion).
func CheckPlanned(ctx context.Context, p PlannedFile) (size int64, mod time.Time, err error) {
	size, mod, err = lake.Stat(ctx, p.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, time.Time{}, &FileFault{ReasonVanished, "the file was planned for this batch and is gone"}
	case err != nil:
		return 0, time.Time{}, fmt.Errorf("planned file %s: %w", p.Path, err)
	case p.Known && (size != p.Size || !sameTime(p.Path, mod, time.Unix(0, p.ModTime))):
		return size, mod, &FileFault{ReasonChanged, fmt.Sprintf("planned at %d bytes modified %s, now %d bytes modified %s",
			p.Size, time.Unix(0, p.ModTime).UTC().Format(time.RFC3339Nano), size, mod.UTC().Format(time.RFC3339Nano))}
	}
	return size, mod, nil
}

// OpenPlanned turns a batch's planned files into readable files for Bronze.
// A file that vanished or changed since planning becomes one bronze
// quarantine row (it counts as one raw record, as an unreadable file does,
// so raw records = bronze rows + bronze quarantine still holds) when
// skipFaults is set, which the pipeline sets only when no table holds the
// batch yet: once a table committed the batch from the file's old content,
// the others must not be finished without it, and the DoFn fails instead.
// The raw record is tallied (tallies, for bronze's commit) as data. A
// storage failure that is not a FileFault fails the bundle, to be retried.
func OpenPlanned(s beam.Scope, planned beam.PCollection, skipFaults bool) (files, quarantine, tallies beam.PCollection) {
	s = s.Scope("OpenPlanned")
	return beam.ParDo3(s, &openPlannedFn{SkipFaults: skipFaults}, planned)
}

type openPlannedFn struct {
	SkipFaults bool
}

func (f *openPlannedFn) ProcessElement(ctx context.Context, p PlannedFile, emit func(fileio.ReadableFile), quarantine func(QuarantineRow), tally func(Tally)) error {
	size, mod, err := CheckPlanned(ctx, p)
	var fault *FileFault
	if errors.As(err, &fault) && f.SkipFaults {
		rawRecords.Inc(ctx, 1)
		bronzeQuaranted.Inc(ctx, 1)
		tally(Tally{Name: TallyRawRecords, N: 1})
		quarantine(QuarantineRow{Stage: BronzeTable.Name, SourceFile: p.Path, Reason: fault.Error(), ProcessingTime: time.Now().UnixMicro()})
		return nil
	}
	if err != nil {
		return fmt.Errorf("planned file %s: %w", p.Path, err)
	}
	emit(fileio.ReadableFile{Metadata: fileio.FileMetadata{Path: p.Path, Size: size, LastModified: mod}})
	return nil
}

// sameTime compares modification times; object stores give whole seconds in
// some answers (HEAD) and milliseconds in others (LIST).
func sameTime(path string, a, b time.Time) bool {
	if lake.IsRemote(path) {
		return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
	}
	return a.Equal(b)
}
