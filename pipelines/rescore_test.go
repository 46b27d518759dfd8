package pipelines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// otherModel is a second model whose predictions differ from the demo's.
const otherModel = "../testdata/models/tiny-roberta-bpe"

// generate writes tweets into each of dirs (the same files in each).
func generate(t *testing.T, o gen.Options, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		o.Out = d
		if _, err := gen.Generate(o); err != nil {
			t.Fatal(err)
		}
	}
}

// multisetAt is tableMultiset of a table at a version (time travel).
func multisetAt(t *testing.T, dir string, version int64) []string {
	t.Helper()
	ctx := context.Background()
	tbl := lake.Open(dir)
	snap, err := tbl.Snapshot(ctx, version)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tbl.Rows(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		delete(r, "processing_time")
		out = append(out, fmt.Sprint(r)) // fmt sorts map keys
	}
	slices.Sort(out)
	return out
}

func latest(t *testing.T, dir string) int64 {
	t.Helper()
	v, err := latestVersion(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lastCommit is a table's newest commit and its lineage.
func lastCommit(t *testing.T, dir string) (lake.Commit, transforms.Lineage) {
	t.Helper()
	h, err := lake.Open(dir).History(context.Background(), latest(t, dir))
	if err != nil || len(h) != 1 {
		t.Fatalf("history of %s: %v (%d commits)", dir, err, len(h))
	}
	l, ok, err := transforms.ParseLineage(h[0].Info.OperationParameters)
	if err != nil || !ok {
		t.Fatalf("%s v%d: no lineage (%v): %v", dir, h[0].Version, err, h[0].Info.OperationParameters)
	}
	return h[0], l
}

// dropLastCommit removes a table's newest commit: the state a run killed
// just before that commit leaves.
func dropLastCommit(t *testing.T, dir string) {
	t.Helper()
	v := latest(t, dir)
	log := filepath.Join(dir, "_delta_log")
	for _, f := range []string{fmt.Sprintf("%020d.json", v), fmt.Sprintf("%020d.checkpoint.parquet", v), "_last_checkpoint"} {
		if err := os.Remove(filepath.Join(log, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// sameAsFresh compares tables of two lakes row for row; source_file is
// compared relative to each lake's --input, as the two runs read copies of
// the same files from different folders.
func sameAsFresh(t *testing.T, got, want Config, tables ...string) {
	t.Helper()
	rel := func(rows []string, input string) []string {
		if input == "" {
			return rows
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = strings.ReplaceAll(r, "source_file="+input+string(filepath.Separator), "source_file=")
		}
		slices.Sort(out)
		return out
	}
	for _, name := range tables {
		g, w := rel(tableMultiset(t, got.table(name)), got.Input), rel(tableMultiset(t, want.table(name)), want.Input)
		if !slices.Equal(g, w) {
			t.Errorf("%s: %d rows, want %d rows of a fresh run (or the same count, different rows)", name, len(g), len(w))
		}
	}
}

// Promote a second model version and rescore: gold and application equal
// a fresh end-to-end run with that model, silver is untouched, no raw file
// is read (the raw folder is gone), time travel still shows the old gold,
// the commits say what they came from, a rescore killed between gold and
// application is finished by the next, and batches after it carry on.
func TestRescore(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	root := t.TempDir()
	in, fresh, reg := filepath.Join(root, "raw"), filepath.Join(root, "fresh-raw"), tracking.Registry{Root: filepath.Join(root, "mlruns")}
	generate(t, gen.Options{Tweets: 300, PerFile: 50, Format: "ndjson", Seed: 81, Bad: 0.05}, in, fresh)
	if _, err := reg.Register("tweet-sentiment", demoModel, "Production", ""); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: in, Lake: filepath.Join(root, "lake"), Shards: 2, Codec: "zstd", Model: "models:/tweet-sentiment/Production",
		Registry: reg.Root, BatchSize: 16, Threads: 1}
	if _, err := Run(ctx, cfg, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	silverV, goldV := latest(t, cfg.table(transforms.SilverTable.Name)), latest(t, cfg.table(transforms.GoldTable.Name))
	silverBefore, goldBefore := tableMultiset(t, cfg.table(transforms.SilverTable.Name)), tableMultiset(t, cfg.table(transforms.GoldTable.Name))
	goldAtV := multisetAt(t, cfg.table(transforms.GoldTable.Name), goldV)

	// Promote: version 2 goes to Production (the latest version in a stage wins).
	if _, err := reg.Register("tweet-sentiment", otherModel, "Production", ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(in, in+".gone"); err != nil { // a rescore reads no raw file
		t.Fatal(err)
	}
	rc := cfg
	rc.Input, rc.FromTable = "", transforms.SilverTable.Name
	res, err := Rescore(ctx, rc, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != 0 || res.Redo || res.SilverVersion != silverV || res.GoldVersion != goldV+1 || res.GoldRows != int64(len(goldBefore)) {
		t.Errorf("rescore result %+v: want seq 0 from silver v%d to gold v%d with %d rows", res, silverV, goldV+1, len(goldBefore))
	}

	// The fresh end-to-end run with version 2.
	want := Config{Input: fresh, Lake: filepath.Join(root, "fresh-lake"), Shards: 2, Codec: "zstd", Model: "models:/tweet-sentiment/2",
		Registry: reg.Root, BatchSize: 16, Threads: 1}
	if _, err := Run(ctx, want, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
	if got := tableMultiset(t, cfg.table(transforms.SilverTable.Name)); latest(t, cfg.table(transforms.SilverTable.Name)) != silverV || !slices.Equal(got, silverBefore) {
		t.Error("the rescore changed silver")
	}
	if slices.Equal(tableMultiset(t, cfg.table(transforms.GoldTable.Name)), goldBefore) {
		t.Fatal("the second model predicts as the first: the test proves nothing")
	}
	if !slices.Equal(multisetAt(t, cfg.table(transforms.GoldTable.Name), goldV), goldAtV) {
		t.Error("time travel to the old gold version does not show the old rows")
	}
	cm, l := lastCommit(t, cfg.table(transforms.GoldTable.Name))
	if cm.Info.Operation != "RESCORE" || l.Stage != "silver:gold" || l.Table != transforms.SilverTable.Name || l.To == nil || *l.To != silverV || l.Mode != "full" ||
		l.Model == nil || l.Model.Version != 2 || l.Model.Name != "tweet-sentiment" || len(cm.Removes) == 0 || cm.Txn.AppID != RescoreAppID {
		t.Errorf("gold's rescore commit: %s %+v (model %+v), %d removes, txn %+v", cm.Info.Operation, l, l.Model, len(cm.Removes), cm.Txn)
	}
	if _, l := lastCommit(t, cfg.table(transforms.ApplicationTable.Name)); l.Stage != "gold:application" || l.To == nil || *l.To != goldV+1 || l.Mode != "full" {
		t.Errorf("application's lineage %+v: want gold v%d, whole table", l, goldV+1)
	}

	// Killed between gold and application: the next rescore finishes it,
	// without a second gold commit.
	dropLastCommit(t, cfg.table(transforms.ApplicationTable.Name))
	res, err = Rescore(ctx, rc, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Redo || res.Seq != 0 || latest(t, cfg.table(transforms.GoldTable.Name)) != goldV+1 {
		t.Errorf("redo %+v: want rescore 0 finished, gold still v%d", res, goldV+1)
	}
	sameAsFresh(t, cfg, want, transforms.GoldTable.Name, transforms.ApplicationTable.Name)

	// New raw files after the promotion go through the usual batches (the
	// Production model is now version 2), and still equal a fresh run.
	if err := os.Rename(in+".gone", in); err != nil {
		t.Fatal(err)
	}
	generate(t, gen.Options{Tweets: 100, PerFile: 50, Format: "ndjson", Seed: 84, First: 500}, in, fresh)
	for _, c := range []Config{cfg, want} {
		if _, err := Run(ctx, c, prismRunner(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
}

// appendBronze appends rows to bronze as another writer would (a backfill,
// Spark): one data file, one commit, no txn of ours.
func appendBronze(t *testing.T, dir string, rows []transforms.BronzeRow) {
	t.Helper()
	ctx := context.Background()
	tbl := lake.Open(dir)
	as, err := transforms.BronzeSchema.ArrowSchema()
	if err != nil {
		t.Fatal(err)
	}
	w, err := tbl.NewDataWriter(ctx, as, lake.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	for _, r := range rows {
		r.Extra = nil // the backfill's writer keeps the base columns
		r.AppendTo(b)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	add, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Append(ctx, transforms.BronzeSchema, []lake.AddFile{add}, lake.WriteOptions{Operation: "WRITE"}); err != nil {
		t.Fatal(err)
	}
}

// Rows another writer appends to bronze reach silver, gold and
// application through the from-bronze stages, exactly once: equal to a
// fresh run over both sources, after a run killed between silver and gold,
// and after a compaction of bronze (which carries no new rows).
func TestStagesFromBronze(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	root := t.TempDir()
	in, other, all := filepath.Join(root, "raw"), filepath.Join(root, "other"), filepath.Join(root, "all")
	generate(t, gen.Options{Tweets: 200, PerFile: 50, Format: "ndjson", Seed: 82}, in, all)
	generate(t, gen.Options{Tweets: 120, PerFile: 40, Format: "ndjson", Seed: 83, First: 1000}, other, all)
	base := Config{Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	cfg, scratch, want := base, base, base
	cfg.Input, cfg.Lake = in, filepath.Join(root, "lake")
	scratch.Input, scratch.Lake = other, filepath.Join(root, "scratch")
	want.Input, want.Lake = all, filepath.Join(root, "fresh")
	for _, c := range []Config{cfg, scratch, want} {
		if _, err := Run(ctx, c, prismRunner(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	// The other writer's rows: the second source's bronze rows.
	sb := lake.Open(scratch.table(transforms.BronzeTable.Name))
	snap, err := sb.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	backfill, err := readRows(ctx, sb, snap.Version, snap.Files(), transforms.DecodeBronze)
	if err != nil || len(backfill) != 120 {
		t.Fatalf("backfill: %d rows, %v", len(backfill), err)
	}
	appendBronze(t, cfg.table(transforms.BronzeTable.Name), backfill)
	bronzeV := latest(t, cfg.table(transforms.BronzeTable.Name))

	sc := cfg
	sc.Input, sc.Stages = "", "bronze:silver,silver:gold,gold:application"
	res, err := Run(ctx, sc, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstBatch != 0 || res.Batch != 0 || res.Source != fmt.Sprintf("bronze v0–v%d", bronzeV) || res.UpstreamRows != 120 {
		t.Errorf("stage result %+v: want offset 0, bronze v0–v%d, 120 rows", res, bronzeV)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
	if cm, l := lastCommit(t, cfg.table(transforms.SilverTable.Name)); l.Stage != "bronze:silver" || l.Table != transforms.BronzeTable.Name || *l.From != 0 || *l.To != bronzeV ||
		cm.Txn.AppID != StageAppID || cm.Txn.Version != 0 {
		t.Errorf("silver's stage commit: lineage %+v, txn %+v", l, cm.Txn)
	}

	// A second backfill, and a run killed after silver committed it:
	// the rerun finishes the same offset, exactly once.
	rows := backfill[:0:0]
	for _, r := range backfill {
		if r.User != nil && len(rows) < 30 {
			rows = append(rows, r)
		}
	}
	// The fresh lake gets the same second backfill through the same stage,
	// so both hold the same rows: what is compared is the kill.
	appendBronze(t, cfg.table(transforms.BronzeTable.Name), rows)
	appendBronze(t, want.table(transforms.BronzeTable.Name), rows)
	wc := want
	wc.Input, wc.Stages = "", sc.Stages
	if _, err := Run(ctx, wc, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, sc, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	dropLastCommit(t, cfg.table(transforms.ApplicationTable.Name))
	dropLastCommit(t, cfg.table(transforms.GoldTable.Name))
	res, err = Run(ctx, sc, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if res.Batch != 1 || !res.Redo || res.UpstreamRows != int64(len(rows)) || res.Held != 2 {
		t.Errorf("redo %+v: want offset 1 redone with %d rows, silver and quarantine holding it", res, len(rows))
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)

	// A compaction of bronze (dataChange=false) brings no row twice.
	if _, _, _, err := lake.Open(cfg.table(transforms.BronzeTable.Name)).Optimize(ctx, lake.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, sc, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
	if res, err := Run(ctx, sc, prismRunner(ctx)); err != nil || res.Batch >= 0 {
		t.Errorf("nothing new: %+v, %v", res, err)
	}
}
