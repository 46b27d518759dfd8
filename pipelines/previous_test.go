package pipelines

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// A lake written by the command of the previous main (testdata/compat/
// previous-main, made by scripts/make-compat-lake.sh from commit 778b876:
// a batch, a rescore, a raw:bronze batch and a stage offset from bronze)
// is carried on by this code: new files become the next batch, the stage
// offset and rescore ledgers go on from their last records, and every
// table then equals a fresh run's over the same files. [the previous
// main's own code as the writer; a fresh run of ours as the expectation]
func TestCarriesOnPreviousLake(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	root := t.TempDir()
	fixture := filepath.Join("..", "testdata", "compat", "previous-main")
	lk, raw := filepath.Join(root, "lake"), filepath.Join(root, "raw")
	for _, d := range []string{"lake", "raw"} {
		if err := lake.CopyDir(ctx, filepath.Join(fixture, d), filepath.Join(root, d)); err != nil {
			t.Fatal(err)
		}
	}
	// The plans name the raw files where they were; they are here now.
	plans, err := filepath.Glob(filepath.Join(lk, plansLedger("").dir, "*.json"))
	if err != nil || len(plans) != 2 {
		t.Fatalf("the fixture's plans: %v %v", plans, err)
	}
	for _, p := range plans {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(data), "/FIXTURE", root)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gen.Generate(gen.Options{Out: raw, Tweets: 12, PerFile: 4, Format: "ndjson", Seed: 83, First: 200}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: raw, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}

	// The previous main left the bronze offset after batch 1 done: nothing
	// is pending for the stages from bronze.
	fromBronze := cfg
	fromBronze.Stages = Stages{transforms.BronzeSilver, transforms.GoldApplication}.String()
	if sum, err := Run(ctx, fromBronze, prismRunner(ctx)); err != nil || sum.Batch >= 0 {
		t.Fatalf("stages from bronze on the previous lake: %+v, %v; want nothing to do", sum, err)
	}
	sum, err := Run(ctx, cfg, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if sum.FirstBatch != 2 || sum.Files != 3 {
		t.Errorf("the new files ran as batch %d with %d files; want batch 2 with 3 (the previous main planned 0 and 1)", sum.FirstBatch, sum.Files)
	}
	res, err := Rescore(ctx, cfg, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != 1 || res.Redo {
		t.Errorf("rescore %d (redo %v); want rescore 1 after the previous main's 0", res.Seq, res.Redo)
	}

	fresh := cfg
	fresh.Lake = t.TempDir()
	if _, err := Run(ctx, fresh, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range transforms.Tables {
		a, b := rowsByFile(t, tbl.Location(fresh.Lake)), rowsByFile(t, tbl.Location(lk))
		if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 {
			t.Errorf("%s: %d rows in a fresh lake, %d in the carried-on one", tbl.Name, len(a), len(b))
		}
	}
}

// rowsByFile is tableMultiset with source_file reduced to the file's name:
// the previous main read the same files in another folder.
func rowsByFile(t *testing.T, dir string) []string {
	t.Helper()
	return tableMultisetOf(t, dir, func(r map[string]any) {
		if f, ok := r["source_file"].(string); ok {
			r["source_file"] = filepath.Base(f)
		}
	})
}
