//go:build integration

package transforms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/laketest"
)

const demoModel = "../testdata/models/tweet-sentiment-demo"

// A gold worker given only a model's location on S3 and its digest (what a
// worker on another machine gets) fetches it into its cache, loads it, and
// predicts as the local folder does; with a digest the folder no longer
// has, its set-up fails saying so. Wiring test of inferFn.Setup against a
// real S3 server (versitygw).
func TestInferFnFetchesRemoteModel(t *testing.T) {
	if _, err := inference.RuntimeVersion(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("SKIPPED: " + err.Error())
	}
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "models")
	ctx := context.Background()
	loc := "s3://" + bucket + "/demo"
	err := filepath.WalkDir(demoModel, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(demoModel, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := lake.CreateFile(ctx, lake.Join(loc, filepath.ToSlash(rel)))
		if err != nil {
			return err
		}
		w.Write(data)
		return w.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	digest, err := inference.LocalDigest(demoModel)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	t.Setenv(inference.CacheEnv, cache)

	f := &inferFn{ModelLocation: loc, ModelDigest: digest, BatchSize: 8, Threads: 1}
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if f.model.Dir != filepath.Join(cache, digest) {
		t.Errorf("model loaded from %s, want the cache's %s", f.model.Dir, filepath.Join(cache, digest))
	}
	local, err := inference.Acquire(demoModel, inference.Options{BatchSize: 8, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"what a great day", "this is awful", "the bus comes at nine"}
	got, err := f.model.Predict(texts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.Predict(texts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fetched model predicts %+v, the local folder %+v", got, want)
	}

	stale := &inferFn{ModelLocation: loc, ModelDigest: "0" + digest[1:], BatchSize: 8, Threads: 1}
	if digest[0] == '0' {
		stale.ModelDigest = "1" + digest[1:]
	}
	if err := stale.Setup(ctx); !errors.Is(err, inference.ErrDigestMismatch) {
		t.Errorf("Setup with a digest the folder does not have: %v, want ErrDigestMismatch", err)
	}
}
