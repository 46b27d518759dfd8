package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// StorageFor returns the storage behind a lake location: s3://bucket/prefix,
// gs://bucket/prefix, or a local directory. Object-store clients are made on
// first use from the environment (AWS_* variables and files, Google
// application-default credentials), so a location string is all a Beam
// worker needs to reach a table.
func StorageFor(location string) Storage {
	scheme, bucket, prefix := splitLocation(location)
	switch scheme {
	case "s3":
		return &S3Storage{Bucket: bucket, Prefix: prefix}
	case "gs":
		return &GCSStorage{Bucket: bucket, Prefix: prefix}
	default:
		return LocalStorage{Root: location}
	}
}

// IsRemote reports whether a location names an object store.
func IsRemote(location string) bool {
	scheme, _, _ := splitLocation(location)
	return scheme != ""
}

// Join appends slash-separated elements to a location: a path for a local
// directory, a key prefix for an object store.
func Join(location string, elem ...string) string {
	scheme, bucket, prefix := splitLocation(location)
	if scheme == "" {
		return filepath.Join(append([]string{location}, elem...)...)
	}
	return scheme + "://" + bucket + "/" + strings.TrimPrefix(path.Join(append([]string{prefix}, elem...)...), "/")
}

// splitLocation splits s3://bucket/a/b into ("s3", "bucket", "a/b"); a local
// path gives an empty scheme.
func splitLocation(location string) (scheme, bucket, prefix string) {
	for _, s := range []string{"s3", "gs"} {
		if rest, ok := strings.CutPrefix(location, s+"://"); ok {
			bucket, prefix, _ = strings.Cut(rest, "/")
			return s, bucket, strings.Trim(prefix, "/")
		}
	}
	return "", "", ""
}

// key maps a table-relative name to an object key under prefix.
func key(prefix, name string) string {
	if prefix == "" {
		return name
	}
	if name == "" {
		return prefix
	}
	return prefix + "/" + name
}

// dirPrefix is the listing prefix for the files directly inside dir.
func dirPrefix(prefix, dir string) string {
	k := key(prefix, strings.Trim(dir, "/"))
	if k == "" {
		return ""
	}
	return k + "/"
}

// notExist wraps a store's "no such key" into fs.ErrNotExist, so callers
// test for it one way whatever the backend.
func notExist(op, name string) error {
	return fmt.Errorf("%s %s: %w", op, name, fs.ErrNotExist)
}

// keyLister is an object store's listing: every key under a prefix, or with
// delimited only those directly inside it, with size and modification time.
type keyLister interface {
	listKeys(ctx context.Context, prefix string, delimited bool, fn func(key string, size int64, mod time.Time) error) error
}

// listDir is Storage.List for an object store: the names directly inside
// dir, sorted; no objects there reads as a missing folder.
func listDir(ctx context.Context, o keyLister, prefix, dir, uri string) ([]string, error) {
	p := dirPrefix(prefix, dir)
	var keys []string
	if err := o.listKeys(ctx, p, true, func(k string, _ int64, _ time.Time) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, notExist("list", uri)
	}
	return sortedNames(keys, p), nil
}

// walkKeys is Storage.Walk for an object store.
func walkKeys(ctx context.Context, o keyLister, prefix string, fn func(name string, size int64, mod time.Time) error) error {
	p := dirPrefix(prefix, "")
	return o.listKeys(ctx, p, false, func(k string, size int64, mod time.Time) error {
		return fn(k[len(p):], size, mod)
	})
}

// sortedNames returns the base names of keys directly inside listed, sorted.
func sortedNames(keys []string, listed string) []string {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		if n := strings.TrimPrefix(k, listed); n != "" && !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// rangeFile serves random access to an object through ranged reads, which is
// what a parquet reader wants: the footer first, then only the column chunks
// it needs.
type rangeFile struct {
	*io.SectionReader
}

func (rangeFile) Close() error { return nil }

type readAtFunc func(p []byte, off int64) (int, error)

func (f readAtFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }

// wholeFileBytes is the size up to which Open fetches an object in one
// request: a parquet reader makes several small reads (footer, then each
// column chunk), and one round trip beats many for checkpoints and the
// small files of a micro-batch.
var wholeFileBytes int64 = 8 << 20

func newRangeFile(size int64, read func(ctx context.Context, off, n int64) (io.ReadCloser, error), ctx context.Context) (File, error) {
	if size <= wholeFileBytes {
		r, err := read(ctx, 0, size)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return rangeFile{io.NewSectionReader(bytes.NewReader(buf), 0, size)}, nil
	}
	ra := readAtFunc(func(p []byte, off int64) (int, error) {
		if off >= size {
			return 0, io.EOF
		}
		n := int64(len(p))
		if off+n > size {
			n = size - off
		}
		r, err := read(ctx, off, n)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		got, err := io.ReadFull(r, p[:n])
		if err == nil && got < len(p) {
			err = io.EOF
		}
		return got, err
	})
	return rangeFile{io.NewSectionReader(ra, 0, size)}, nil
}

// spoolWriter collects a new object in a temporary file and uploads it whole
// on Close, so a data file is never visible half-written and large files do
// not sit in memory.
type spoolWriter struct {
	f      *os.File
	upload func(r io.ReadSeeker, size int64) error
	once   sync.Once
	err    error
}

func newSpoolWriter(upload func(r io.ReadSeeker, size int64) error) (*spoolWriter, error) {
	f, err := os.CreateTemp("", "lake-upload-*")
	if err != nil {
		return nil, err
	}
	return &spoolWriter{f: f, upload: upload}, nil
}

func (w *spoolWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *spoolWriter) Close() error {
	w.once.Do(func() {
		defer os.Remove(w.f.Name())
		defer w.f.Close()
		size, err := w.f.Seek(0, io.SeekCurrent)
		if err == nil {
			_, err = w.f.Seek(0, io.SeekStart)
		}
		if err == nil {
			err = w.upload(w.f, size)
		}
		w.err = err
	})
	return w.err
}

// putRetries bounds retries of a conditional put that the store answered
// with a conflict (S3's 409 ConditionalRequestConflict: another put of the
// same key was in flight); the retry then sees the winner and gets ErrExist.
const putRetries = 5

func retryConflicts(ctx context.Context, put func() (conflict bool, err error)) error {
	for i := 0; ; i++ {
		conflict, err := put()
		if !conflict || i == putRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10*(i+1)) * time.Millisecond):
		}
	}
}

var errEmptyBucket = errors.New("object store location has no bucket")

func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }
