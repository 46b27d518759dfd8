package transforms

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
)

func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init() // prism.Execute needs it (TestBronzeTransientReadRetried)
	// Prism logs a failed bundle's whole plan, which one test causes on purpose.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

const tweetJSON = `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"@a hi","sentiment":"positive"}`

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// failingReader gives n bytes of data, then err.
type failingReader struct {
	data []byte
	n    int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := copy(p, r.data[:min(r.n, len(r.data))])
	r.data, r.n = r.data[k:], r.n-k
	return k, nil
}

func (r *failingReader) Close() error { return nil }

// setOpenStored replaces how raw files are opened for the test's duration.
func setOpenStored(t *testing.T, open func(ctx context.Context, path string) (io.ReadCloser, error)) {
	t.Helper()
	old := openStored
	openStored = open
	t.Cleanup(func() { openStored = old })
}

// TestBronzeReadFaults checks which read failures quarantine the file (its
// bytes are bad in themselves) and which fail the bundle (storage did not
// give the bytes), through bronzeFn's read with injected storage.
func TestBronzeReadFaults(t *testing.T) {
	good := gzipped(t, tweetJSON)
	connReset := fmt.Errorf("read tcp 10.0.0.1:443: %w", syscall.ECONNRESET)
	cases := []struct {
		name, file string
		open       func() (io.ReadCloser, error)
		maxBytes   int64
		want       string // "ok", "storage" or a reason category
	}{
		{"plain file", "a.json", func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(tweetJSON)), nil }, 0, "ok"},
		{"gzip file", "a.json.gz", func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(good)), nil }, 0, "ok"},
		{"open fails with EIO", "a.json", func() (io.ReadCloser, error) { return nil, &os.PathError{Op: "open", Path: "a.json", Err: syscall.EIO} }, 0, "storage"},
		{"permission denied", "a.json", func() (io.ReadCloser, error) {
			return nil, &os.PathError{Op: "open", Path: "a.json", Err: os.ErrPermission}
		}, 0, "storage"},
		{"connection dropped mid-read", "a.json", func() (io.ReadCloser, error) {
			return &failingReader{data: []byte(tweetJSON), n: 10, err: io.ErrUnexpectedEOF}, nil
		}, 0, "storage"},
		{"connection reset mid-read of a gzip file", "a.json.gz", func() (io.ReadCloser, error) {
			return &failingReader{data: good, n: 15, err: connReset}, nil
		}, 0, "storage"},
		{"storage fails in the gzip header", "a.json.gz", func() (io.ReadCloser, error) {
			return &failingReader{data: good, n: 3, err: connReset}, nil
		}, 0, "storage"},
		{"truncated gzip file", "a.json.gz", func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(good[:len(good)-12])), nil
		}, 0, ReasonReadFailed},
		{"not gzip at all", "a.json.gz", func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(tweetJSON)), nil }, 0, ReasonReadFailed},
		{"gzip decompresses past the limit", "a.json.gz", func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(gzipped(t, strings.Repeat(" ", 4096)+tweetJSON))), nil
		}, 1024, ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setOpenStored(t, func(context.Context, string) (io.ReadCloser, error) { return c.open() })
			lim := DefaultLimits
			if c.maxBytes > 0 {
				lim.MaxFileBytes = c.maxBytes
			}
			data, err := (&bronzeFn{Limits: lim}).read(context.Background(), fileio.ReadableFile{Metadata: fileio.FileMetadata{Path: c.file, Size: 100}})
			var se *storageError
			var re *RecordError
			switch {
			case c.want == "ok":
				if err != nil || string(data) != tweetJSON {
					t.Fatalf("read = %q, %v; want the tweet", data, err)
				}
			case c.want == "storage":
				if !errors.As(err, &se) {
					t.Fatalf("read error %v (%T), want a storage error (the bundle fails)", err, err)
				}
			default:
				if !errors.As(err, &re) || re.Category != c.want || errors.As(err, &se) {
					t.Fatalf("read error %v, want a %s quarantine reason", err, c.want)
				}
			}
		})
	}
}

// TestBronzeTransientReadRetried runs OpenPlanned and Bronze on prism into
// two Delta tables (rows, quarantine) with one file whose storage fails once
// in the middle of the read: the job fails naming the file (or the runner
// retries the bundle), and the next run ingests every record with no
// quarantine row, its tallies equal to the rows.
func TestBronzeTransientReadRetried(t *testing.T) {
	ctx := context.Background()
	in, lk := t.TempDir(), t.TempDir()
	var planned []PlannedFile
	for i := range 3 {
		p := filepath.Join(in, fmt.Sprintf("%d.ndjson", i))
		if err := os.WriteFile(p, []byte(tweetJSON+"\n"+tweetJSON+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		size, mod, err := lake.Stat(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		planned = append(planned, PlannedFile{Path: p, Size: size, ModTime: mod.UnixNano(), Known: true})
	}
	flaky := planned[1].Path
	var failed atomic.Int32
	setOpenStored(t, func(ctx context.Context, path string) (io.ReadCloser, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if path == flaky && failed.CompareAndSwap(0, 1) {
			return &failingReader{data: data, n: 20, err: fmt.Errorf("read %s: %w", path, syscall.EIO)}, nil
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	rowsTable, quarantineTable := BronzeTable.Location(lk), QuarantineTable.Location(lk)
	run := func() error {
		p, s := beam.NewPipelineWithRoot()
		files, missing, missingTallies := OpenPlanned(s, beam.CreateList(s, planned), true)
		rows, quarantine, tallies := Bronze(s, files, DefaultLimits)
		deltaio.WriteTallied(s, deltaio.Config{Location: rowsTable, BaseSchema: BronzeSchema, Shards: 2, AppID: "test", Version: 0, Tallies: BronzeTallies},
			rows, beam.Flatten(s, missingTallies, tallies))
		deltaio.Write(s, deltaio.Config{Location: quarantineTable, BaseSchema: QuarantineSchema, Shards: 1, AppID: "test", Version: 0},
			beam.Flatten(s, missing, quarantine))
		_, err := prism.Execute(ctx, p)
		return err
	}
	err := run()
	if failed.Load() != 1 {
		t.Fatal("the flaky read was never attempted")
	}
	if err != nil {
		if !strings.Contains(err.Error(), "raw file "+flaky) || !strings.Contains(err.Error(), "input/output error") {
			t.Fatalf("first run failed with %v, want the flaky file's storage error", err)
		}
		if ok, _ := lake.Open(rowsTable).Exists(ctx); ok {
			t.Fatal("the failed run committed bronze")
		}
		if err := run(); err != nil {
			t.Fatalf("rerun: %v", err)
		}
	} // else the runner retried the bundle itself
	bronze := lake.Open(rowsTable)
	snap, err := bronze.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := snap.NumRecords(); n != 6 {
		t.Errorf("bronze has %d rows, want 6", n)
	}
	qsnap, err := lake.Open(quarantineTable).Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := qsnap.NumRecords(); n != 0 {
		t.Errorf("quarantine has %d rows, want none: a storage failure is not the file's fault", n)
	}
	h, err := bronze.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{TallyFilesRead: 3, TallyRawRecords: 6, TallyHiddenFiles: 0}
	for name, w := range want {
		if got, ok, err := deltaio.ReadTally(h[len(h)-1].Info.OperationParameters, name); err != nil || !ok || got != w {
			t.Errorf("bronze commit tally %s = %d (recorded %v, %v), want %d", name, got, ok, err, w)
		}
	}
}
