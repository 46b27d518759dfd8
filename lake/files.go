package lake

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// FileInfo describes one file found by Glob.
type FileInfo struct {
	Path string // a local path, or s3://bucket/key, gs://bucket/key
	Size int64
	Mod  time.Time
}

// Glob lists the files matching pattern, sorted by path: a local glob, or
// s3://bucket/raw/*.json and gs://… with path.Match rules (a * does not
// cross a /). An object-store folder is one listing of its prefix, sizes
// included, so 100,000 raw objects cost a hundred requests, not 100,000.
// Paths skip reports true for are left out, locally before they are
// stat'ed (skip may be nil).
func Glob(ctx context.Context, pattern string, skip func(path string) bool) ([]FileInfo, error) {
	if skip == nil {
		skip = func(string) bool { return false }
	}
	scheme, bucket, keyPattern := splitLocation(pattern)
	if scheme == "" {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("glob %s: %w", pattern, err)
		}
		out := make([]FileInfo, 0, len(matches))
		for _, m := range matches {
			if skip(m) {
				continue
			}
			st, err := os.Stat(m)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			out = append(out, FileInfo{Path: m, Size: st.Size(), Mod: st.ModTime()})
		}
		return out, nil
	}
	if _, err := path.Match(keyPattern, ""); err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	// List the deepest folder that holds no pattern character.
	literal := keyPattern
	if i := strings.IndexAny(keyPattern, `*?[\`); i >= 0 {
		literal = keyPattern[:i]
	}
	dir := ""
	if i := strings.LastIndex(literal, "/"); i >= 0 {
		dir = literal[:i]
	}
	root := scheme + "://" + bucket + "/" + dir
	var out []FileInfo
	err := StorageFor(root).Walk(ctx, func(name string, size int64, mod time.Time) error {
		k := name
		if dir != "" {
			k = dir + "/" + name
		}
		if ok, _ := path.Match(keyPattern, k); ok && !skip(scheme+"://"+bucket+"/"+k) {
			out = append(out, FileInfo{Path: scheme + "://" + bucket + "/" + k, Size: size, Mod: mod})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// IsDir reports whether location is a local directory or an object-store
// prefix with objects under it.
func IsDir(ctx context.Context, location string) bool {
	if !IsRemote(location) {
		st, err := os.Stat(location)
		return err == nil && st.IsDir()
	}
	found := false
	StorageFor(location).Walk(ctx, func(string, int64, time.Time) error {
		found = true
		return io.EOF // one is enough
	})
	return found
}

// parent splits a file's location into its folder's storage and its name.
func parent(location string) (Storage, string) {
	if IsRemote(location) {
		i := strings.LastIndex(location, "/")
		return StorageFor(location[:i]), location[i+1:]
	}
	return LocalStorage{Root: filepath.Dir(location)}, filepath.Base(location)
}

// objectFiles is what S3Storage and GCSStorage add to Storage for single
// files: a HEAD and a streaming GET.
type objectFiles interface {
	stat(ctx context.Context, name string) (int64, time.Time, error)
	stream(ctx context.Context, name string) (io.ReadCloser, error)
}

// objectAt returns the object store holding location, if it is on one.
func objectAt(location string) (objectFiles, string, bool) {
	st, name := parent(location)
	o, ok := st.(objectFiles)
	return o, name, ok
}

// Stat returns the size and modification time of the file at location.
func Stat(ctx context.Context, location string) (int64, time.Time, error) {
	if o, name, ok := objectAt(location); ok {
		return o.stat(ctx, name)
	}
	info, err := os.Stat(location)
	if err != nil {
		return 0, time.Time{}, err
	}
	if !info.Mode().IsRegular() {
		return 0, time.Time{}, fmt.Errorf("%s: not a regular file: %w", location, fs.ErrInvalid)
	}
	return info.Size(), info.ModTime(), nil
}

// OpenStream reads the file at location from start to end in one request.
func OpenStream(ctx context.Context, location string) (io.ReadCloser, error) {
	if o, name, ok := objectAt(location); ok {
		return o.stream(ctx, name)
	}
	return os.Open(location)
}

// CreateFile returns a writer for the file at location, visible whole on Close.
func CreateFile(ctx context.Context, location string) (io.WriteCloser, error) {
	st, name := parent(location)
	return st.Create(ctx, name)
}

// WriteFile writes data to the file at location (a path, s3:// or gs://),
// visible whole once written.
func WriteFile(ctx context.Context, location string, data []byte) error {
	w, err := CreateFile(ctx, location)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", location, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", location, err)
	}
	return nil
}

// CopyDir copies the files of a local folder, recursively, under location:
// how a model folder or a registry reaches an object store.
func CopyDir(ctx context.Context, dir, location string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return WriteFile(ctx, Join(location, filepath.ToSlash(rel)), data)
	})
}
