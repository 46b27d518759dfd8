//go:build integration

package pipelines

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/laketest"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// The whole pipeline with its lake on a real S3-compatible server
// (versitygw on loopback, reached through the standard AWS environment as a
// user's run would be): the tables equal a local run's, a stream on the
// same lake obeys a stop request made through S3, and the utilities work
// there too.
func TestLakeOnS3(t *testing.T) {
	needRuntime(t)
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "medallion")
	ctx := context.Background()
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 600, PerFile: 1, Format: "object", Seed: 61, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	cfg := func(lk string) Config {
		return Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}
	}
	local, remote := t.TempDir(), "s3://"+bucket+"/lake"
	if _, err := Run(ctx, cfg(local), prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(ctx, cfg(remote), prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Check(); err != nil {
		t.Error(err)
	}
	// The S3 tables, read over S3 and from the server's disk, equal the local run's.
	onDisk := filepath.Join(srv.Root, bucket, "lake")
	for _, name := range transforms.TableNames() {
		a := tableMultiset(t, filepath.Join(local, name))
		b, c := tableMultiset(t, lake.Join(remote, name)), tableMultiset(t, filepath.Join(onDisk, name))
		if strings.Join(a, "\n") != strings.Join(b, "\n") || strings.Join(b, "\n") != strings.Join(c, "\n") || len(a) == 0 && name != transforms.QuarantineTable.Name {
			t.Errorf("%s: %d rows locally, %d over S3, %d on the server's disk", name, len(a), len(b), len(c))
		}
	}
	// A rerun finds every file claimed: nothing is added twice.
	again, err := Run(ctx, cfg(remote), prismRunner(ctx))
	if err != nil || again.Files != 0 {
		t.Errorf("rerun on S3: %d files (%v), want 0", again.Files, err)
	}
	// Raw files on S3 too: the same tables, source_file naming the objects.
	entries, err := os.ReadDir(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(in, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, err := lake.CreateFile(ctx, "s3://"+bucket+"/raw/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	allS3 := cfg("s3://" + bucket + "/lake-s3-input")
	allS3.Input = "s3://" + bucket + "/raw"
	if sum, err := Run(ctx, allS3, prismRunner(ctx)); err != nil || sum.Files != int64(len(entries)) {
		t.Fatalf("run with S3 input: %v (%+v)", err, sum)
	}
	for _, name := range transforms.TableNames() {
		a := tableMultiset(t, filepath.Join(local, name))
		b := tableMultiset(t, lake.Join(allS3.Lake, name))
		for i := range b {
			b[i] = strings.ReplaceAll(b[i], "s3://"+bucket+"/raw/", in+"/")
		}
		sort.Strings(b)
		if strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("%s: %d rows from local files, %d from S3 objects", name, len(a), len(b))
		}
	}

	before := tableMultiset(t, lake.Join(remote, transforms.SilverTable.Name))
	if _, err := Optimize(ctx, remote, "zstd"); err != nil {
		t.Fatal(err)
	}
	if _, err := Vacuum(ctx, remote, 0); err != nil {
		t.Fatal(err)
	}
	if after := tableMultiset(t, lake.Join(remote, transforms.SilverTable.Name)); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("optimize and vacuum on S3 changed silver")
	}

	// A stream on an S3 lake stops when asked through S3, and says so in its heartbeat.
	sin := t.TempDir()
	slake := "s3://" + bucket + "/streamlake"
	sc := cfg(slake)
	sc.Input = sin
	if _, err := gen.Generate(gen.Options{Out: sin, Tweets: 50, PerFile: 1, Format: "object", Seed: 62}); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		_, reason, err := stream(ctx, sc, prismRunner(ctx), StreamOptions{Trigger: 200 * time.Millisecond, Monitor: time.Hour}, io.Discard)
		if err != nil {
			reason = err.Error()
		}
		done <- reason
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if n, _ := latestVersion(ctx, lake.Join(slake, transforms.ApplicationTable.Name)); n >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream on S3 committed nothing in 60 s")
		}
	}
	if err := RequestStop(slake); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-done:
		if !strings.Contains(reason, "stop") {
			t.Errorf("stream stopped because %q, want the stop request", reason)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the stream on S3 ignored the stop request")
	}
	if hb, err := Status(slake); err != nil || hb == nil || hb.State != "stopped" {
		t.Errorf("status over S3: %+v (%v)", hb, err)
	}
	if _, err := os.Stat(filepath.Join(sc.Monitoring, "rows.png")); err != nil {
		t.Errorf("monitoring of a stream on S3: %v", err)
	}
	if n := len(readTable(t, lake.Join(slake, transforms.BronzeTable.Name))); n != 50 {
		t.Errorf("stream bronze on S3: %d rows, want 50", n)
	}
	removed, err := Reset(ctx, slake)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := lake.Open(lake.Join(slake, transforms.BronzeTable.Name)).Exists(ctx); ok {
		t.Errorf("reset left the bronze table (removed %d objects)", len(removed))
	}
	if ok, _ := lake.Open(lake.Join(remote, transforms.BronzeTable.Name)).Exists(ctx); !ok {
		t.Error("reset of one lake removed another lake's table in the same bucket")
	}
}
