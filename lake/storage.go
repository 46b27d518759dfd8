package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/uuid"
)

// ErrExist is returned by Storage.PutIfAbsent when the name is taken: another
// writer committed that version first.
var ErrExist = fs.ErrExist

// Storage is what a table needs from where it lives. Names are slash-separated
// and relative to the table root. Object stores implement PutIfAbsent with a
// conditional write (S3 If-None-Match: *, GCS ifGenerationMatch=0).
type Storage interface {
	// ReadFile returns a whole file; a missing one gives an fs.ErrNotExist error.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// List returns the names of the files directly inside dir, sorted; a
	// missing dir gives an fs.ErrNotExist error.
	List(ctx context.Context, dir string) ([]string, error)
	// PutIfAbsent creates name with data atomically, or fails with ErrExist.
	PutIfAbsent(ctx context.Context, name string, data []byte) error
	// Create returns a writer for a new file that becomes visible, whole, on
	// Close. Data files have unique names, so no two writers share one.
	Create(ctx context.Context, name string) (io.WriteCloser, error)
	// Open returns a reader for random access (parquet footers) and the size.
	Open(ctx context.Context, name string) (File, int64, error)
	// Remove deletes a file; a missing file is not an error.
	Remove(ctx context.Context, name string) error
	// Walk calls fn for every file under the root, with its slash-separated
	// name, size and modification time.
	Walk(ctx context.Context, fn func(name string, size int64, mod time.Time) error) error
}

// File is an open file for random access.
type File interface {
	io.ReaderAt
	io.ReadSeeker
	io.Closer
}

// LocalStorage keeps a table in a directory of the local file system.
type LocalStorage struct{ Root string }

func (l LocalStorage) path(name string) string {
	return filepath.Join(l.Root, filepath.FromSlash(name))
}

func (l LocalStorage) ReadFile(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(l.path(name))
}

func (l LocalStorage) List(_ context.Context, dir string) ([]string, error) {
	entries, err := os.ReadDir(l.path(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// PutIfAbsent writes a temporary file and hard-links it to its final name:
// link(2) fails with EEXIST when the name is taken, which makes the commit
// atomic and exclusive on any POSIX file system.
func (l LocalStorage) PutIfAbsent(_ context.Context, name string, data []byte) error {
	final := l.path(name)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tmp-"+uuid.NewString())
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", name, ErrExist)
		}
		return err
	}
	return syncDir(dir)
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (l LocalStorage) Create(_ context.Context, name string) (io.WriteCloser, error) {
	final := l.path(name)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(final), ".tmp-"+uuid.NewString())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: f, tmp: tmp, final: final}, nil
}

// atomicFile renames its temporary file into place on Close, after an fsync,
// so a crash never leaves a half-written data file under its final name.
type atomicFile struct {
	*os.File
	tmp, final string
}

func (a *atomicFile) Close() error {
	if err := a.File.Sync(); err != nil {
		a.File.Close()
		os.Remove(a.tmp)
		return err
	}
	if err := a.File.Close(); err != nil {
		os.Remove(a.tmp)
		return err
	}
	return os.Rename(a.tmp, a.final)
}

func (l LocalStorage) Open(_ context.Context, name string) (File, int64, error) {
	f, err := os.Open(l.path(name))
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

func (l LocalStorage) Walk(_ context.Context, fn func(name string, size int64, mod time.Time) error) error {
	return filepath.WalkDir(l.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(l.Root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), info.Size(), info.ModTime())
	})
}

func (l LocalStorage) Remove(_ context.Context, name string) error {
	err := os.Remove(l.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
