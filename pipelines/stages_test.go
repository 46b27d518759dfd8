package pipelines

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// twoLakes writes the same tweets into ROOT/raw and ROOT/all and returns
// the base configuration and two from it: cfg (raw into ROOT/lake), the lake
// under test, and want (all into ROOT/fresh), the reference a fresh run makes.
func twoLakes(t *testing.T, root string, o gen.Options) (base, cfg, want Config) {
	t.Helper()
	in, all := filepath.Join(root, "raw"), filepath.Join(root, "all")
	generate(t, o, in, all)
	base = Config{Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	cfg, want = base, base
	cfg.Input, cfg.Lake = in, filepath.Join(root, "lake")
	want.Input, want.Lake = all, filepath.Join(root, "fresh")
	return base, cfg, want
}

// A change of silver's rules (here the mention limit, from 1 to the
// default) replayed over the whole bronze table: silver, quarantine, gold
// and application end equal to a fresh run under the new rules, bronze is
// untouched, no raw file is read, and a rebuild killed between silver and
// the rescore is finished by the next. Wiring, against our own fresh run.
func TestRebuildSilver(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	_, cfg, want := twoLakes(t, t.TempDir(), gen.Options{Tweets: 300, PerFile: 50, Format: "ndjson", Seed: 96, Bad: 0.05})
	in := cfg.Input
	old := cfg
	old.Limits = transforms.DefaultLimits
	old.Limits.MaxMentions = 1
	if _, err := Run(ctx, old, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, want, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	if sameRows(t, cfg, want, transforms.SilverTable.Name) {
		t.Fatal("the old rules make the same silver: the test proves nothing")
	}
	bronzeV, bronzeBefore := latest(t, cfg.table(transforms.BronzeTable.Name)), tableMultiset(t, cfg.table(transforms.BronzeTable.Name))
	if err := os.Rename(in, in+".gone"); err != nil { // a rebuild reads no raw file
		t.Fatal(err)
	}
	rb := cfg
	rb.Input, rb.FromTable = "", transforms.BronzeTable.Name
	res, err := RebuildSilver(ctx, rb, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != 0 || res.Redo || res.BronzeVersion != bronzeV || res.Rescore == nil || res.SilverRows != int64(len(tableMultiset(t, want.table(transforms.SilverTable.Name)))) {
		t.Errorf("rebuild result %+v", res)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
	if latest(t, cfg.table(transforms.BronzeTable.Name)) != bronzeV || strings.Join(tableMultiset(t, cfg.table(transforms.BronzeTable.Name)), "\n") != strings.Join(bronzeBefore, "\n") {
		t.Error("the rebuild changed bronze")
	}
	cm, l := lastCommit(t, cfg.table(transforms.SilverTable.Name))
	if cm.Info.Operation != "REBUILD" || l.Stage != "bronze:silver" || l.Mode != "full" || l.To == nil || *l.To != bronzeV || cm.Txn.AppID != RebuildAppID {
		t.Errorf("silver's rebuild commit: %s, lineage %+v, txn %+v", cm.Info.Operation, l, cm.Txn)
	}

	// Killed after silver and quarantine committed, before the rescore:
	// the next run rescored gold, and only that.
	dropLastCommit(t, cfg.table(transforms.ApplicationTable.Name))
	dropLastCommit(t, cfg.table(transforms.GoldTable.Name))
	if err := os.RemoveAll(filepath.Join(cfg.Lake, rescoreLedger("").dir)); err != nil {
		t.Fatal(err)
	}
	silverV := latest(t, cfg.table(transforms.SilverTable.Name))
	res, err = RebuildSilver(ctx, rb, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Redo || res.Rescore == nil || latest(t, cfg.table(transforms.SilverTable.Name)) != silverV {
		t.Errorf("redo %+v: want the rescore only, silver still v%d", res, silverV)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)

	// Everything carried on: a third run has nothing to finish and
	// rebuilds again (same rules, same rows).
	if res, err = RebuildSilver(ctx, rb, prismRunner(ctx)); err != nil || res.Seq != 1 || res.Redo {
		t.Fatalf("second rebuild: %+v, %v", res, err)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)

	// Killed between silver's and quarantine's commits: the redo commits
	// quarantine, leaves silver as it is, and rescores.
	for _, tbl := range []string{transforms.ApplicationTable.Name, transforms.GoldTable.Name, transforms.QuarantineTable.Name} {
		dropLastCommit(t, cfg.table(tbl))
	}
	if err := os.Remove(filepath.Join(cfg.Lake, rescoreLedger("").name(1))); err != nil {
		t.Fatal(err)
	}
	silverV = latest(t, cfg.table(transforms.SilverTable.Name))
	if res, err = RebuildSilver(ctx, rb, prismRunner(ctx)); err != nil || res.Seq != 1 || !res.Redo || latest(t, cfg.table(transforms.SilverTable.Name)) != silverV {
		t.Fatalf("redo of the second rebuild: %+v, %v (silver v%d, want v%d)", res, err, latest(t, cfg.table(transforms.SilverTable.Name)), silverV)
	}
	sameAsFresh(t, cfg, want, transforms.SilverTable.Name, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
}

// sameRows reports whether a table holds the same rows in two lakes.
func sameRows(t *testing.T, a, b Config, table string) bool {
	return strings.Join(tableMultiset(t, a.table(table)), "\n") == strings.Join(tableMultiset(t, b.table(table)), "\n")
}
