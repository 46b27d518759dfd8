package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// GCSStorage keeps a table under a prefix of a Google Cloud Storage bucket.
// Commits are uploads with ifGenerationMatch=0, which GCS fails with 412
// when the object exists.
type GCSStorage struct {
	Bucket string
	Prefix string
	// Client is used when set; otherwise one client per process is made
	// from application-default credentials (STORAGE_EMULATOR_HOST points it
	// at an emulator).
	Client *storage.Client
}

// gcsClients holds one client per STORAGE_EMULATOR_HOST (normally none).
var gcsClients sync.Map

func (g *GCSStorage) bucket(ctx context.Context) (*storage.BucketHandle, error) {
	if g.Bucket == "" {
		return nil, errEmptyBucket
	}
	if g.Client != nil {
		return g.Client.Bucket(g.Bucket), nil
	}
	id := os.Getenv("STORAGE_EMULATOR_HOST")
	if c, ok := gcsClients.Load(id); ok {
		return c.(*storage.Client).Bucket(g.Bucket), nil
	}
	// The client outlives ctx: it is shared by every table in the process.
	c, err := storage.NewClient(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("gcs client: %w", err)
	}
	actual, loaded := gcsClients.LoadOrStore(id, c)
	if loaded {
		c.Close()
	}
	return actual.(*storage.Client).Bucket(g.Bucket), nil
}

func (g *GCSStorage) uri(name string) string { return "gs://" + g.Bucket + "/" + key(g.Prefix, name) }

func gcsStatus(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

func (g *GCSStorage) ReadFile(ctx context.Context, name string) ([]byte, error) {
	r, err := g.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (g *GCSStorage) listKeys(ctx context.Context, p string, delimited bool, fn func(key string, size int64, mod time.Time) error) error {
	b, err := g.bucket(ctx)
	if err != nil {
		return err
	}
	q := &storage.Query{Prefix: p}
	if delimited {
		q.Delimiter = "/"
	}
	it := b.Objects(ctx, q)
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list gs://%s/%s: %w", g.Bucket, p, err)
		}
		if attrs.Name == "" { // a "directory" prefix
			continue
		}
		if err := fn(attrs.Name, attrs.Size, attrs.Updated); err != nil {
			return err
		}
	}
}

func (g *GCSStorage) List(ctx context.Context, dir string) ([]string, error) {
	return listDir(ctx, g, g.Prefix, dir, g.uri(dir))
}

func (g *GCSStorage) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	b, err := g.bucket(ctx)
	if err != nil {
		return err
	}
	return retryConflicts(ctx, func() (bool, error) {
		w := b.Object(key(g.Prefix, name)).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		_, err := w.Write(data)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		switch {
		case err == nil:
			return false, nil
		case gcsStatus(err) == http.StatusPreconditionFailed:
			return false, fmt.Errorf("put %s: %w", g.uri(name), ErrExist)
		case gcsStatus(err) == http.StatusConflict || gcsStatus(err) == http.StatusTooManyRequests:
			return true, fmt.Errorf("put %s: %w", g.uri(name), err)
		default:
			return false, fmt.Errorf("put %s: %w", g.uri(name), err)
		}
	})
}

func (g *GCSStorage) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	b, err := g.bucket(ctx)
	if err != nil {
		return nil, err
	}
	return newSpoolWriter(func(r io.ReadSeeker, _ int64) error {
		w := b.Object(key(g.Prefix, name)).NewWriter(ctx)
		_, err := io.Copy(w, r)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", g.uri(name), err)
		}
		return nil
	})
}

func (g *GCSStorage) Open(ctx context.Context, name string) (File, int64, error) {
	b, err := g.bucket(ctx)
	if err != nil {
		return nil, 0, err
	}
	obj := b.Object(key(g.Prefix, name))
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil, 0, notExist("open", g.uri(name))
		}
		return nil, 0, fmt.Errorf("open %s: %w", g.uri(name), err)
	}
	obj = obj.Generation(attrs.Generation) // the object must not change under the reader
	f, err := newRangeFile(attrs.Size, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		r, err := obj.NewRangeReader(ctx, off, n)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", g.uri(name), err)
		}
		return r, nil
	}, ctx)
	if err != nil {
		return nil, 0, err
	}
	return f, attrs.Size, nil
}

func (g *GCSStorage) Remove(ctx context.Context, name string) error {
	b, err := g.bucket(ctx)
	if err != nil {
		return err
	}
	if err := b.Object(key(g.Prefix, name)).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("remove %s: %w", g.uri(name), err)
	}
	return nil
}

func (g *GCSStorage) Walk(ctx context.Context, fn func(name string, size int64, mod time.Time) error) error {
	return walkKeys(ctx, g, g.Prefix, fn)
}

func (g *GCSStorage) stat(ctx context.Context, name string) (int64, time.Time, error) {
	b, err := g.bucket(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	attrs, err := b.Object(key(g.Prefix, name)).Attrs(ctx)
	if err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return 0, time.Time{}, notExist("stat", g.uri(name))
		}
		return 0, time.Time{}, fmt.Errorf("stat %s: %w", g.uri(name), err)
	}
	return attrs.Size, attrs.Updated, nil
}

func (g *GCSStorage) stream(ctx context.Context, name string) (io.ReadCloser, error) {
	b, err := g.bucket(ctx)
	if err != nil {
		return nil, err
	}
	r, err := b.Object(key(g.Prefix, name)).NewReader(ctx)
	if err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil, notExist("read", g.uri(name))
		}
		return nil, fmt.Errorf("read %s: %w", g.uri(name), err)
	}
	return r, nil
}
