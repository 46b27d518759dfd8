package inference

// Model folders on an object store. A worker on another machine cannot open
// a folder on the driver's disk, so a model on s3:// or gs:// is fetched by
// each worker process into a local cache keyed by the folder's content
// digest, which the driver computed when it resolved the model: every
// worker then runs exactly the model the driver resolved, or fails saying
// that it changed.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tweetsentiment/medallion/lake"
)

// CacheEnv names the variable that overrides where fetched models are kept.
const CacheEnv = "MEDALLION_MODEL_CACHE"

// ErrDigestMismatch is returned when a fetched model's content is not the
// one the driver resolved.
var ErrDigestMismatch = errors.New("model content digest mismatch")

// CacheDir is where fetched model folders are kept, one folder per content
// digest: $MEDALLION_MODEL_CACHE, else the user's cache folder
// (os.UserCacheDir()/medallion/models), else a folder in the temporary one
// (a worker may run without a home).
func CacheDir() string {
	if env := os.Getenv(CacheEnv); env != "" {
		return env
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "medallion", "models")
	}
	return filepath.Join(os.TempDir(), "medallion-models")
}

// fileDigest is one line of a model folder's manifest.
type fileDigest struct {
	Name   string // slash-separated, relative to the folder
	Size   int64
	SHA256 string
}

// manifestDigest is a folder's content digest: the hex SHA-256 of its
// manifest, one "name size sha256" line per file, sorted by name. Names
// and sizes are in it so that moving bytes between files changes it too.
func manifestDigest(files []fileDigest) string {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b fileDigest) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s %d %s\n", f.Name, f.Size, f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LocalDigest is the content digest of a model folder on this machine. It
// reads every file: for a base-size model (~500 MB) that takes seconds.
func LocalDigest(dir string) (string, error) {
	var files []fileDigest
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p) // follows links: a layout view digests what it points at
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		files = append(files, fileDigest{Name: filepath.ToSlash(rel), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digest model %s: %w", dir, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("digest model %s: no files", dir)
	}
	return manifestDigest(files), nil
}

// validDigest accepts what manifestDigest makes, so that a digest can name
// a folder of the cache.
func validDigest(d string) bool {
	if len(d) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(d)
	return err == nil && strings.ToLower(d) == d
}

// remoteFile is one object of a remote model folder as listed.
type remoteFile struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	ModNano int64  `json:"mod"`
}

// listRemote lists the objects under location, sorted by name. Folder
// markers (keys ending in "/") are skipped; a name that would leave the
// folder once written to disk is refused.
func listRemote(ctx context.Context, location string) ([]remoteFile, error) {
	var files []remoteFile
	err := lake.StorageFor(location).Walk(ctx, func(name string, size int64, mod time.Time) error {
		if strings.HasSuffix(name, "/") {
			return nil
		}
		if !fs.ValidPath(name) {
			return fmt.Errorf("object %q under %s is not a file name inside the folder", name, location)
		}
		files = append(files, remoteFile{Name: name, Size: size, ModNano: mod.UnixNano()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no objects under %s: %w", location, fs.ErrNotExist)
	}
	slices.SortFunc(files, func(a, b remoteFile) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}

// fetches counts the model folders this process downloaded (for tests).
var fetches atomic.Int64

// download copies the listed files of location into dst, hashing them as
// they arrive, and returns the digest of what it wrote.
func download(ctx context.Context, location string, files []remoteFile, dst string) (string, error) {
	fetches.Add(1)
	digests := make([]fileDigest, 0, len(files))
	for _, rf := range files {
		d, err := downloadFile(ctx, lake.Join(location, rf.Name), filepath.Join(dst, filepath.FromSlash(rf.Name)))
		if err != nil {
			return "", err
		}
		d.Name = rf.Name
		digests = append(digests, d)
	}
	return manifestDigest(digests), nil
}

func downloadFile(ctx context.Context, src, dst string) (fileDigest, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fileDigest{}, err
	}
	r, err := lake.OpenStream(ctx, src)
	if err != nil {
		return fileDigest{}, err
	}
	defer r.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fileDigest{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fileDigest{}, fmt.Errorf("download %s: %w", src, err)
	}
	return fileDigest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// fetchLocks serialises fetches of one key within the process, so that the
// DoFn instances of a worker process download a model once between them.
var fetchLocks sync.Map // key → *sync.Mutex

func lockKey(key string) (unlock func()) {
	m, _ := fetchLocks.LoadOrStore(key, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Fetch returns a local folder holding the model folder at location (s3://
// or gs://) whose content digest is digest: the cache's folder for that
// digest, downloaded first if this machine has none. A download goes to a
// temporary folder, is checked against digest, and is renamed into place,
// so the cache only ever holds complete, verified folders, which are then
// reused as they are. Concurrent calls in a process download once; two
// processes sharing a cache may both download, and the first rename wins.
func Fetch(ctx context.Context, location, digest string) (string, error) {
	if !validDigest(digest) {
		return "", fmt.Errorf("fetch model %s: invalid content digest %q", location, digest)
	}
	defer lockKey(digest)()
	root := CacheDir()
	dir := filepath.Join(root, digest)
	if isDir(dir) {
		return dir, nil
	}
	files, err := listRemote(ctx, location)
	if err != nil {
		return "", fmt.Errorf("fetch model %s: %w", location, err)
	}
	start := time.Now()
	if _, err := downloadInto(ctx, root, location, files, digest); err != nil {
		return "", fmt.Errorf("fetch model %s: %w", location, err)
	}
	slog.Info("model fetched", "location", location, "digest", digest, "dir", dir, "files", len(files), "elapsed", time.Since(start))
	return dir, nil
}

// downloadInto downloads the files into a temporary folder of root and
// renames it to root/<its digest>, which it returns. With want set, a
// download whose digest is another is refused and not kept.
func downloadInto(ctx context.Context, root, location string, files []remoteFile, want string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	sweepFetches(root, 24*time.Hour)
	tmp, err := os.MkdirTemp(root, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // nothing is left there once renamed
	digest, err := download(ctx, location, files, tmp)
	if err != nil {
		return "", err
	}
	if want != "" && digest != want {
		return "", fmt.Errorf("its content digest is %s, but the driver resolved %s: the model changed after the driver resolved it; "+
			"rerun to resolve it again (and do not change the files of a registered version): %w", digest, want, ErrDigestMismatch)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(root, digest)
	// A rename onto a folder another process completed first fails: that
	// folder holds the same content.
	if err := os.Rename(tmp, final); err != nil && !isDir(final) {
		return "", fmt.Errorf("move the download into the cache: %w", err)
	}
	return digest, nil
}

// sweepFetches removes temporary folders of downloads that a killed process
// left, once they are older than any download in progress can be.
func sweepFetches(root string, minAge time.Duration) {
	old, _ := filepath.Glob(filepath.Join(root, ".fetch-*"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > minAge {
			os.RemoveAll(p)
		}
	}
}

// sourceRecord remembers which digest a remote folder had when listed as
// files: the driver then need not download it again to know its digest.
type sourceRecord struct {
	Location string       `json:"location"`
	Files    []remoteFile `json:"files"`
	Digest   string       `json:"digest"`
}

// Mirror is the driver's side of Fetch: it computes the content digest of
// the model folder at location (s3:// or gs://) and returns it with a
// local copy in the cache, which workers in this process (prism, LOOPBACK)
// then reuse. Computing a content digest means reading every byte, so a
// folder whose listing (names, sizes, modification times) is the one seen
// before is not downloaded again; the workers verify what they download
// whatever the listing said.
func Mirror(ctx context.Context, location string) (dir, digest string, err error) {
	defer lockKey("location " + location)()
	files, err := listRemote(ctx, location)
	if err != nil {
		return "", "", fmt.Errorf("model %s: %w", location, err)
	}
	root := CacheDir()
	sum := sha256.Sum256([]byte(location))
	recPath := filepath.Join(root, ".sources", hex.EncodeToString(sum[:12])+".json")
	var rec sourceRecord
	if data, err := os.ReadFile(recPath); err == nil && json.Unmarshal(data, &rec) == nil &&
		rec.Location == location && slices.Equal(rec.Files, files) && validDigest(rec.Digest) && isDir(filepath.Join(root, rec.Digest)) {
		return filepath.Join(root, rec.Digest), rec.Digest, nil
	}
	digest, err = downloadInto(ctx, root, location, files, "")
	if err != nil {
		return "", "", fmt.Errorf("model %s: %w", location, err)
	}
	data, _ := json.Marshal(sourceRecord{Location: location, Files: files, Digest: digest})
	if err := writeAtomic(recPath, data); err != nil {
		slog.Warn("model cache: cannot record the folder's digest", "location", location, "err", err)
	}
	return filepath.Join(root, digest), digest, nil
}

func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
