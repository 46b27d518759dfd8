package lake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Storage keeps a table under a key prefix of an S3 bucket (or any
// S3-compatible store that honours conditional writes). Commits use
// PutObject with If-None-Match: *, which S3 has enforced since August 2024.
type S3Storage struct {
	Bucket string
	Prefix string
	// Client is used when set; otherwise one client per process is made
	// from the environment (see DefaultS3Client).
	Client *s3.Client
}

// s3Clients holds one client per environment: a process normally has one,
// tests that start several servers get one each.
var s3Clients sync.Map // endpoint|key id|region → *s3.Client

// DefaultS3Client is made from the standard AWS environment: credentials,
// AWS_REGION (us-east-1 when unset) and AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL. With an endpoint set (MinIO, versitygw, Ceph, R2…) it
// uses path-style addressing, which those stores expect.
func DefaultS3Client(ctx context.Context) (*s3.Client, error) {
	endpoint := cmp.Or(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"))
	id := endpoint + "|" + os.Getenv("AWS_ACCESS_KEY_ID") + "|" + os.Getenv("AWS_REGION") + "|" + os.Getenv("AWS_PROFILE")
	if c, ok := s3Clients.Load(id); ok {
		return c.(*s3.Client), nil
	}
	cfg, err := config.LoadDefaultConfig(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("s3 config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = endpoint != ""
		// Checksums only where the API requires them: S3-compatible
		// stores differ in which trailing checksums they accept.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	actual, _ := s3Clients.LoadOrStore(id, c)
	return actual.(*s3.Client), nil
}

func (s *S3Storage) client(ctx context.Context) (*s3.Client, error) {
	if s.Bucket == "" {
		return nil, errEmptyBucket
	}
	if s.Client != nil {
		return s.Client, nil
	}
	return DefaultS3Client(ctx)
}

func (s *S3Storage) uri(name string) string { return "s3://" + s.Bucket + "/" + key(s.Prefix, name) }

// s3Status returns the HTTP status of an S3 error, or 0.
func s3Status(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (s *S3Storage) ReadFile(ctx context.Context, name string) ([]byte, error) {
	r, err := s.stream(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// listKeys calls fn for every key under p (with a delimiter: only those directly
// inside it), with sizes and times for Walk.
func (s *S3Storage) listKeys(ctx context.Context, p string, delimited bool, fn func(key string, size int64, mod time.Time) error) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.Bucket}
	if p != "" {
		in.Prefix = aws.String(p)
	}
	if delimited {
		in.Delimiter = aws.String("/")
	}
	pages := s3.NewListObjectsV2Paginator(c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.Bucket, p, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *S3Storage) List(ctx context.Context, dir string) ([]string, error) {
	return listDir(ctx, s, s.Prefix, dir, s.uri(dir))
}

func (s *S3Storage) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	return retryConflicts(ctx, func() (bool, error) {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      &s.Bucket,
			Key:         aws.String(key(s.Prefix, name)),
			Body:        bytesReader(data),
			IfNoneMatch: aws.String("*"),
		})
		switch {
		case err == nil:
			return false, nil
		case s3Status(err) == http.StatusPreconditionFailed || s3Code(err) == "PreconditionFailed":
			return false, fmt.Errorf("put %s: %w", s.uri(name), ErrExist)
		case s3Status(err) == http.StatusConflict:
			return true, fmt.Errorf("put %s: %w", s.uri(name), err)
		default:
			return false, fmt.Errorf("put %s: %w", s.uri(name), err)
		}
	})
}

func (s *S3Storage) Create(ctx context.Context, name string) (io.WriteCloser, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	return newSpoolWriter(func(r io.ReadSeeker, size int64) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.Bucket,
			Key:           aws.String(key(s.Prefix, name)),
			Body:          r,
			ContentLength: aws.Int64(size),
		})
		if err != nil {
			return fmt.Errorf("write %s: %w", s.uri(name), err)
		}
		return nil
	})
}

func (s *S3Storage) Open(ctx context.Context, name string) (File, int64, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, 0, err
	}
	k := key(s.Prefix, name)
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &k})
	if err != nil {
		if s3Status(err) == http.StatusNotFound {
			return nil, 0, notExist("open", s.uri(name))
		}
		return nil, 0, fmt.Errorf("open %s: %w", s.uri(name), err)
	}
	size := aws.ToInt64(head.ContentLength)
	f, err := newRangeFile(size, func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{
			Bucket: &s.Bucket, Key: &k,
			Range:   aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
			IfMatch: head.ETag, // the object must not change under the reader
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.uri(name), err)
		}
		return out.Body, nil
	}, ctx)
	if err != nil {
		return nil, 0, err
	}
	return f, size, nil
}

func (s *S3Storage) Remove(ctx context.Context, name string) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: aws.String(key(s.Prefix, name))}); err != nil && s3Status(err) != http.StatusNotFound {
		return fmt.Errorf("remove %s: %w", s.uri(name), err)
	}
	return nil
}

func (s *S3Storage) Walk(ctx context.Context, fn func(name string, size int64, mod time.Time) error) error {
	return walkKeys(ctx, s, s.Prefix, fn)
}

func (s *S3Storage) stat(ctx context.Context, name string) (int64, time.Time, error) {
	c, err := s.client(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: aws.String(key(s.Prefix, name))})
	if err != nil {
		if s3Status(err) == http.StatusNotFound {
			return 0, time.Time{}, notExist("stat", s.uri(name))
		}
		return 0, time.Time{}, fmt.Errorf("stat %s: %w", s.uri(name), err)
	}
	return aws.ToInt64(head.ContentLength), aws.ToTime(head.LastModified), nil
}

func (s *S3Storage) stream(ctx context.Context, name string) (io.ReadCloser, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: aws.String(key(s.Prefix, name))})
	if err != nil {
		if s3Status(err) == http.StatusNotFound {
			return nil, notExist("read", s.uri(name))
		}
		return nil, fmt.Errorf("read %s: %w", s.uri(name), err)
	}
	return out.Body, nil
}
