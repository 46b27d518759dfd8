// Package s3fs registers s3:// with Beam's filesystem registry, built on the
// lake's S3 client, so that Beam's fileio reads raw input from the same
// stores the lake writes to. Beam's own s3 filesystem cannot reach
// S3-compatible servers that need path-style addressing (MinIO, versitygw,
// Ceph): its client takes no options. Import it for its side effect.
package s3fs

import (
	"context"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/tweetsentiment/medallion/lake"
)

func init() {
	filesystem.Register("s3", func(context.Context) filesystem.Interface { return fs{} })
}

type fs struct{}

func (fs) Close() error { return nil }

func (fs) List(ctx context.Context, glob string) ([]string, error) {
	files, err := lake.Glob(ctx, glob, nil)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out, nil
}

func (fs) OpenRead(ctx context.Context, name string) (io.ReadCloser, error) {
	return lake.OpenStream(ctx, name)
}

func (fs) OpenWrite(ctx context.Context, name string) (io.WriteCloser, error) {
	return lake.CreateFile(ctx, name)
}

func (fs) Size(ctx context.Context, name string) (int64, error) {
	size, _, err := lake.Stat(ctx, name)
	return size, err
}

func (fs) LastModified(ctx context.Context, name string) (time.Time, error) {
	_, mod, err := lake.Stat(ctx, name)
	return mod, err
}

var _ filesystem.LastModifiedGetter = fs{}
