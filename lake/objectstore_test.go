package lake

import (
	"context"
	"errors"
	"testing"
)

func TestJoinAndStorageFor(t *testing.T) {
	cases := []struct{ loc, join, want string }{
		{"s3://bucket/lake", "events", "s3://bucket/lake/events"},
		{"s3://bucket", "events", "s3://bucket/events"},
		{"gs://b/a/", "scores", "gs://b/a/scores"},
		{"/tmp/lake", "mentions", "/tmp/lake/mentions"},
	}
	for _, c := range cases {
		if got := Join(c.loc, c.join); got != c.want {
			t.Errorf("Join(%q, %q) = %q, want %q", c.loc, c.join, got, c.want)
		}
	}
	if s, ok := StorageFor("s3://bucket/lake/events").(*S3Storage); !ok || s.Bucket != "bucket" || s.Prefix != "lake/events" {
		t.Errorf("StorageFor s3: %#v", s)
	}
	if s, ok := StorageFor("gs://b").(*GCSStorage); !ok || s.Bucket != "b" || s.Prefix != "" {
		t.Errorf("StorageFor gs: %#v", s)
	}
	if s, ok := StorageFor("lake/x").(LocalStorage); !ok || s.Root != "lake/x" {
		t.Errorf("StorageFor local: %#v", s)
	}
	if _, err := StorageFor("s3:///nobucket").ReadFile(context.Background(), "x"); !errors.Is(err, errEmptyBucket) {
		t.Errorf("empty bucket: %v", err)
	}
}
