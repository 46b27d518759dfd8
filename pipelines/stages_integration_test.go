//go:build integration

package pipelines

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// runStages runs cfg's lake through the given stages until nothing is
// new. Stages that do not start at raw:bronze get no --input, and stages
// that do not score get no model: they must need neither.
func runStages(t *testing.T, cfg Config, stages string) *Summary {
	t.Helper()
	ctx := context.Background()
	c := cfg
	c.Stages = stages
	if !strings.HasPrefix(stages, "raw:bronze") {
		c.Input = ""
	}
	if !strings.Contains(stages, "silver:gold") {
		c.Model = ""
	}
	sum, err := Run(ctx, c, prismRunner(ctx))
	if err != nil {
		t.Fatalf("--stages %s: %v", stages, err)
	}
	return sum
}

// Each stage run on its own, reading the table the stage before committed,
// ends with the lake a whole-chain run makes of the same files; so do
// stage runs mixed with whole-chain batches (whose commits they pass over)
// and a stream of the stages from bronze picking up another writer's
// commits as they land. A rescore refuses while a stage has rows to carry
// on. Wiring, not an oracle: the reference is our own whole-chain run,
// which the oracle tests check.
func TestStagesOnTheirOwn(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	root := t.TempDir()
	base, cfg, want := twoLakes(t, root, gen.Options{Tweets: 240, PerFile: 40, Format: "ndjson", Seed: 91, Bad: 0.05})
	in, all := cfg.Input, want.Input
	if _, err := Run(ctx, want, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}

	// One stage at a time.
	sum := runStages(t, cfg, "raw:bronze")
	if sum.Batch != 0 || latest(t, cfg.table(transforms.SilverTable.Name)) != -1 || latest(t, cfg.table(transforms.GoldTable.Name)) != -1 {
		t.Fatalf("raw:bronze: batch %d, silver v%d, gold v%d: want batch 0 and no silver or gold table", sum.Batch,
			latest(t, cfg.table(transforms.SilverTable.Name)), latest(t, cfg.table(transforms.GoldTable.Name)))
	}
	for _, r := range readTable(t, cfg.table(transforms.QuarantineTable.Name)) {
		if r["stage"] != transforms.BronzeTable.Name {
			t.Fatalf("raw:bronze quarantined a row at stage %v", r["stage"])
		}
	}
	bronzeN := sum.table(transforms.BronzeTable.Name).Rows
	sum = runStages(t, cfg, "bronze:silver")
	if sum.Batch != 0 || sum.Source != "bronze v0–v0" || sum.UpstreamRows != bronzeN || sum.table(transforms.SilverTable.Name).Rows == 0 {
		t.Errorf("bronze:silver: %+v; want offset 0 over bronze v0 with its %d rows", sum, bronzeN)
	}
	runStages(t, cfg, "silver:gold")
	runStages(t, cfg, "gold:application")
	sameAsFresh(t, cfg, want, transforms.TableNames()...)
	for _, c := range []struct{ table, stage, from, app string }{
		{transforms.SilverTable.Name, "bronze:silver", transforms.BronzeTable.Name, "medallion-bronze-to-silver"},
		{transforms.GoldTable.Name, "silver:gold", transforms.SilverTable.Name, "medallion-silver-to-gold"},
		{transforms.ApplicationTable.Name, "gold:application", transforms.GoldTable.Name, "medallion-gold-to-application"},
	} {
		cm, l := lastCommit(t, cfg.table(c.table))
		if l.Stage != c.stage || l.Table != c.from || l.From == nil || *l.From != 0 || l.To == nil || *l.To != 0 || l.Mode != "append" ||
			cm.Txn.AppID != c.app || cm.Txn.Version != 0 {
			t.Errorf("%s's commit: lineage %+v, txn %+v; want %s from %s v0, txn %s 0", c.table, l, cm.Txn, c.stage, c.from, c.app)
		}
		if c.table == transforms.GoldTable.Name && (l.Model == nil || l.Model.URI == "") {
			t.Errorf("gold's lineage names no model: %+v", l)
		}
	}
	for _, st := range []string{"raw:bronze", "bronze:silver", "silver:gold", "gold:application"} {
		if sum := runStages(t, cfg, st); sum.Batch >= 0 {
			t.Errorf("%s again: ran batch %d with nothing new", st, sum.Batch)
		}
	}

	// A whole-chain batch: the stages pass over its commits.
	wave := func(seed uint64, first int) {
		generate(t, gen.Options{Tweets: 80, PerFile: 40, Format: "ndjson", Seed: seed, First: first, Bad: 0.05}, in, all)
		if _, err := Run(ctx, want, prismRunner(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	wave(92, 1000)
	runStages(t, cfg, StagesAll)
	for _, st := range []string{"bronze:silver", "silver:gold", "gold:application"} {
		if sum := runStages(t, cfg, st); sum.Batch >= 0 {
			t.Errorf("%s after a whole-chain batch: ran offset %d, want none (the batch carried its rows on)", st, sum.Batch)
		}
	}
	sameAsFresh(t, cfg, want, transforms.TableNames()...)

	// Two runs of two stages each; a rescore waits for the second.
	wave(93, 2000)
	runStages(t, cfg, "raw:bronze,bronze:silver")
	rc := cfg
	rc.Input, rc.FromTable = "", transforms.SilverTable.Name
	_, err := Rescore(ctx, rc, prismRunner(ctx))
	var f *Failure
	flags := func(setting string) string { return "--" + strings.ToLower(setting) } // as the command names them
	if !errors.As(err, &f) || !strings.Contains(f.Msg, "silver:gold has not read") || !strings.Contains(Render(f.Hint, flags), "--stages silver:gold,gold:application") {
		t.Errorf("rescore with silver rows gold lacks: %v; want a refusal naming --stages silver:gold,gold:application", err)
	}
	runStages(t, cfg, "silver:gold,gold:application")
	sameAsFresh(t, cfg, want, transforms.TableNames()...)

	// A stream of the stages from bronze carries another writer's commits
	// on as they land, and stops when idle.
	scratch := base
	scratch.Input, scratch.Lake = filepath.Join(root, "other"), filepath.Join(root, "scratch")
	generate(t, gen.Options{Tweets: 120, PerFile: 40, Format: "ndjson", Seed: 94, First: 3000}, scratch.Input)
	runStages(t, scratch, "raw:bronze")
	sb := lake.Open(scratch.table(transforms.BronzeTable.Name))
	snap, err := sb.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	backfill, err := readRows(ctx, sb, snap.Version, snap.Files(), transforms.DecodeBronze)
	if err != nil || len(backfill) < 100 {
		t.Fatalf("backfill: %d rows, %v", len(backfill), err)
	}
	parts := [][]transforms.BronzeRow{backfill[:50], backfill[50:]}
	sc := cfg
	sc.Input, sc.Stages = "", "bronze:silver,silver:gold,gold:application"
	type ended struct {
		reason string
		err    error
	}
	done := make(chan ended, 1)
	go func() {
		_, reason, err := stream(ctx, sc, prismRunner(ctx), StreamOptions{Trigger: 100 * time.Millisecond, IdleTimeout: 3 * time.Second, Monitor: time.Hour, MicroBatch: true}, &strings.Builder{})
		done <- ended{reason, err}
	}()
	for _, part := range parts {
		appV := latest(t, cfg.table(transforms.ApplicationTable.Name))
		appendBronze(t, cfg.table(transforms.BronzeTable.Name), part)
		for deadline := time.Now().Add(time.Minute); latest(t, cfg.table(transforms.ApplicationTable.Name)) == appV; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the stream did not carry the backfill to application within a minute")
			}
		}
		appendBronze(t, want.table(transforms.BronzeTable.Name), part)
	}
	e := <-done
	if e.err != nil || e.reason != "no new bronze commit for 3s" {
		t.Fatalf("stream ended: %q, %v", e.reason, e.err)
	}
	runStages(t, want, sc.Stages)
	sameAsFresh(t, cfg, want, transforms.TableNames()...)
	if h, err := lake.Open(cfg.table(transforms.SilverTable.Name)).History(ctx, 0); err != nil {
		t.Fatal(err)
	} else if n := countTxn(h, StageAppID); n != 2 {
		t.Errorf("the stream committed silver %d times for two backfills, want 2 (one offset each)", n)
	}

	// Stages that do not follow one another are refused at once.
	stderr, _, code := cli(t, "run", "--stages", "bronze:silver,gold:application", "--lake", cfg.Lake)
	if code != 2 || !strings.Contains(stderr, "must follow one another") {
		t.Errorf("--stages bronze:silver,gold:application: exit %d, %s", code, stderr)
	}
}

// countTxn counts the commits that carry app's txn.
func countTxn(h []lake.Commit, app string) int {
	n := 0
	for _, cm := range h {
		if cm.HasTxn && cm.Txn.AppID == app {
			n++
		}
	}
	return n
}

// SIGKILL at a random point of each stage run on its own (in batch mode,
// and in every other trial as a stream), then a rerun of that stage, stage
// after stage: the lake ends equal to an uninterrupted
// whole-chain run, every row exactly once. Wiring against our own
// reference run, as TestCrashAndRerun.
func TestKilledStages(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 300, PerFile: 1, Format: "object", Seed: 95, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	ref := Config{Input: in, Lake: t.TempDir(), Shards: 3, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	if _, err := Run(ctx, ref, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	child := func(lk, stages string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_INPUT="+in, childEnv+"_LAKE="+lk, childEnv+"_STAGES="+stages)
		return cmd
	}
	stages := []string{"raw:bronze", "bronze:silver", "silver:gold", "gold:application"}
	// How long each stage takes uninterrupted, on a lake of its own.
	spans := map[string]time.Duration{}
	lk := t.TempDir()
	for _, st := range stages {
		start := time.Now()
		if out, err := child(lk, st).CombinedOutput(); err != nil {
			t.Fatalf("uninterrupted %s: %v\n%s", st, err, out)
		}
		spans[st] = time.Since(start)
	}
	sameAsFresh(t, Config{Lake: lk, Input: in}, ref, transforms.TableNames()...)

	rng := rand.New(rand.NewPCG(9, 9))
	const trials = 8
	killed, redone := 0, 0
	for trial := 0; trial < trials; trial++ {
		lk := t.TempDir()
		for _, st := range stages {
			cmd := child(lk, st)
			if trial%2 == 1 { // the stages as a stream (small batches, stop when idle)
				cmd.Env = append(cmd.Env, childEnv+"_STREAM=micro-batch")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rng.Int64N(int64(spans[st]))))
			cmd.Process.Kill()
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				killed++
			}
			for i := 0; ; i++ {
				out, err := child(lk, st).CombinedOutput()
				if err != nil {
					t.Fatalf("trial %d: rerun of %s: %v\n%s", trial, st, err, out)
				}
				m := childResult.FindStringSubmatch(string(out))
				if m == nil {
					t.Fatalf("trial %d: rerun of %s printed no result:\n%s", trial, st, out)
				}
				if i == 0 && m[2] == "true" {
					redone++
				}
				if m[1] == "-1" {
					break
				}
				if i > 3 {
					t.Fatalf("trial %d: %s still has work after %d reruns", trial, st, i)
				}
			}
		}
		for _, name := range transforms.TableNames() {
			got, want := tableMultiset(t, filepath.Join(lk, name)), tableMultiset(t, ref.table(name))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("trial %d: %s has %d rows, the uninterrupted run %d", trial, name, len(got), len(want))
			}
		}
	}
	t.Logf("%d stage runs killed at random (uninterrupted: %v): %d before finishing, %d left a batch or offset the rerun finished",
		trials*len(stages), spans, killed, redone)
	if killed < trials*len(stages)/2 {
		t.Errorf("only %d of %d stage runs were killed while running", killed, trials*len(stages))
	}
	if redone == 0 {
		t.Error("no kill left a batch or offset unfinished: the recovery path never ran")
	}
}
