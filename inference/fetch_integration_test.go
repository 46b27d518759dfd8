//go:build integration

package inference

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/laketest"
)

// A model folder on a real S3 server (versitygw): the driver's Mirror and
// the workers' Fetch give a copy whose digest is the local folder's; Fetch
// downloads once for many concurrent callers and not again; a folder changed
// after the digest was taken is refused with both digests named, and leaves
// nothing in the cache. Wiring test of our code against a real S3 API.
func TestFetchModelFromS3(t *testing.T) {
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "models")
	ctx := context.Background()
	loc := "s3://" + bucket + "/tweet-sentiment/demo"
	if err := lake.CopyDir(context.Background(), demoModel, loc); err != nil {
		t.Fatal(err)
	}
	want, err := LocalDigest(demoModel)
	if err != nil {
		t.Fatal(err)
	}

	// The driver: one download, then the listing is recognised.
	t.Setenv(CacheEnv, t.TempDir())
	before := fetches.Load()
	dir, digest, err := Mirror(ctx, loc)
	if err != nil || digest != want {
		t.Fatalf("Mirror = %s, %s, %v; want the local folder's digest %s", dir, digest, err, want)
	}
	if got, err := LocalDigest(dir); err != nil || got != want || dir != filepath.Join(CacheDir(), want) {
		t.Errorf("mirrored copy %s has digest %s (%v), want %s in the cache", dir, got, err, want)
	}
	if _, _, err := Mirror(ctx, loc); err != nil || fetches.Load() != before+1 {
		t.Errorf("second Mirror: %v; %d downloads, want 1", err, fetches.Load()-before)
	}

	// A worker process with an empty cache: eight DoFn instances set up at
	// once download the folder once between them.
	cache := t.TempDir()
	t.Setenv(CacheEnv, cache)
	before = fetches.Load()
	var wg sync.WaitGroup
	dirs, errs := make([]string, 8), make([]error, 8)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = Fetch(ctx, loc, want)
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != filepath.Join(cache, want) {
			t.Fatalf("Fetch %d = %s, %v", i, dirs[i], errs[i])
		}
	}
	if n := fetches.Load() - before; n != 1 {
		t.Errorf("8 concurrent Fetches downloaded %d times, want 1", n)
	}
	st, _ := os.Stat(dirs[0])
	if got, err := LocalDigest(dirs[0]); err != nil || got != want {
		t.Errorf("fetched folder digest %s (%v), want %s", got, err, want)
	}
	// A later set-up reuses the verified folder: no download, same folder.
	if d, err := Fetch(ctx, loc, want); err != nil || d != dirs[0] || fetches.Load()-before != 1 {
		t.Errorf("Fetch again = %s, %v after %d downloads; want the cached folder, 1 download", d, err, fetches.Load()-before)
	}
	if st2, _ := os.Stat(dirs[0]); !os.SameFile(st, st2) || !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the cached folder was replaced")
	}

	// The model changes after the driver's digest: a worker with an empty
	// cache refuses it, naming both digests, and caches nothing.
	if err := lake.WriteFile(context.Background(), lake.Join(loc, "config.json"), []byte(`{"tampered": true}`)); err != nil {
		t.Fatal(err)
	}
	cache = t.TempDir()
	t.Setenv(CacheEnv, cache)
	_, err = Fetch(ctx, loc, want)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "changed after the driver resolved it") {
		t.Fatalf("Fetch of a changed model: %v; want ErrDigestMismatch naming %s", err, want)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("a refused download left %d entries in the cache: %v", len(entries), entries)
	}
	// The driver sees the change: a new listing, a new digest.
	if _, d, err := Mirror(ctx, loc); err != nil || d == want {
		t.Errorf("Mirror after the change = %s, %v; want a new digest", d, err)
	}
	if _, err := Fetch(ctx, loc, "not-a-digest"); err == nil {
		t.Error("Fetch with an invalid digest: no error")
	}
	if _, err := Fetch(ctx, "s3://"+bucket+"/nothing-here", want); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Fetch of an empty prefix: %v, want not exist", err)
	}
}
