package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// stripTallies rewrites a table's last commit as one made before commits
// recorded tallies: its medallion.* operationParameters removed.
func stripTallies(t *testing.T, dir string) {
	t.Helper()
	name := filepath.Join(dir, "_delta_log", fmt.Sprintf("%020d.json", latest(t, dir)))
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var action map[string]map[string]any
		if err := json.Unmarshal([]byte(line), &action); err != nil {
			t.Fatal(err)
		}
		if ci, ok := action["commitInfo"]; ok {
			params, _ := ci["operationParameters"].(map[string]any)
			for k := range params {
				if strings.HasPrefix(k, "medallion.") {
					delete(params, k)
				}
			}
			b, err := json.Marshal(action)
			if err != nil {
				t.Fatal(err)
			}
			line = string(b)
		}
		out = append(out, line)
	}
	if err := os.WriteFile(name, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBatchTallies: the summary's files, raw records and tweets with and
// without mentions come from the tallies the batch's commits recorded, never
// from the runner's counters (which a runner that retries bundles inflates),
// so they equal the pure oracle's (reference: the oracle, a second reading
// of the input) and the accounting check passes: on a fresh run; on a run
// whose first attempt failed in bronze and in gold after emitting output (the
// test-only fault switch) and its rerun; and on a redo whose bronze and
// quarantine commits came from an earlier run. A redo whose bronze commit
// predates tallies says those numbers are unknown and names the commit.
func TestBatchTallies(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	in := t.TempDir()
	written, err := gen.Generate(gen.Options{Out: in, Tweets: 60, PerFile: 3, Format: "ndjson", Seed: 61, Bad: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	want := oracle(t, in)
	if want.bronzeQ == 0 || want.silverQ == 0 || want.noMentions == 0 {
		t.Fatalf("the input should exercise both quarantines and tweets without mentions: %+v", want)
	}
	cfg := func(lk string) Config {
		return Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	}
	check := func(t *testing.T, sum *Summary, untallied []string) {
		t.Helper()
		files, raw := int64(written.Files), want.raw
		if len(untallied) > 0 {
			files, raw = 0, 0 // unknown
		}
		got := map[string]int64{
			"files": sum.Files, "raw": sum.RawRecords, "bronze": sum.table(transforms.BronzeTable.Name).Rows, "bronze quarantine": sum.BronzeQuarantined,
			"silver quarantine": sum.SilverQuarantined, "with mentions": sum.TweetsWithMentions, "without": sum.NoMentions,
			"silver rows": sum.table(transforms.SilverTable.Name).Rows,
		}
		wantM := map[string]int64{
			"files": files, "raw": raw, "bronze": want.bronze, "bronze quarantine": want.bronzeQ,
			"silver quarantine": want.silverQ, "with mentions": want.withMentions, "without": want.noMentions,
			"silver rows": int64(len(want.silver)),
		}
		for k, w := range wantM {
			if got[k] != w {
				t.Errorf("%s = %d, want %d", k, got[k], w)
			}
		}
		if !slices.Equal(sum.Untallied, untallied) {
			t.Errorf("untallied %v, want %v", sum.Untallied, untallied)
		}
	}
	t.Run("fresh", func(t *testing.T) {
		sum, err := Run(ctx, cfg(t.TempDir()), prismRunner(ctx))
		if err != nil {
			t.Fatal(err) // Run checks the accounting
		}
		check(t, sum, nil)
	})
	t.Run("first attempts failed", func(t *testing.T) {
		t.Setenv(transforms.FaultEnv, "bronze,gold:"+t.TempDir())
		c := cfg(t.TempDir())
		// Each run stops at the first failed attempt; the next redoes the
		// batch, and attempts that failed before pass.
		failed := map[string]int{}
		var sum *Summary
		for sum == nil {
			s, err := Run(ctx, c, prismRunner(ctx))
			if err == nil {
				sum = s
				continue
			}
			step, _, _ := strings.Cut(strings.TrimPrefix(err.Error(), "batch 0 failed: "), " ")
			if !strings.Contains(err.Error(), transforms.ErrInjected.Error()) || step != "bronze" && step != "gold" {
				t.Fatalf("run: %v, want an injected fault in bronze or gold", err)
			}
			failed[step]++
			if failed["bronze"]+failed["gold"] > 40 {
				t.Fatalf("still failing after %v", failed)
			}
		}
		if failed["bronze"] == 0 || failed["gold"] == 0 {
			t.Errorf("runs failed %v, want failures in bronze and in gold", failed)
		}
		t.Logf("runs that failed before the batch committed: %v", failed)
		if !sum.Redo {
			t.Errorf("the rerun did not redo the failed batch")
		}
		check(t, sum, nil)
	})
	t.Run("redo after bronze and quarantine committed", func(t *testing.T) {
		c := cfg(t.TempDir())
		halfCommitted(t, c, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
		sum, err := Run(ctx, c, prismRunner(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if !sum.Redo || sum.Held != 2 {
			t.Errorf("redo %v with %d tables holding the batch, want a redo with 2", sum.Redo, sum.Held)
		}
		check(t, sum, nil)
	})
	t.Run("redo of a bronze commit without tallies", func(t *testing.T) {
		c := cfg(t.TempDir())
		halfCommitted(t, c, transforms.SilverTable.Name, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
		stripTallies(t, c.table(transforms.BronzeTable.Name))
		sum, err := Run(ctx, c, prismRunner(ctx))
		if err != nil {
			t.Fatal(err)
		}
		check(t, sum, transforms.BronzeTallies)
		var out strings.Builder
		sum.Print(&out)
		if line := "not known: " + strings.Join(transforms.BronzeTallies, ", ") + " (bronze v0 committed before commits recorded tallies"; !strings.Contains(out.String(), line) {
			t.Errorf("the summary does not say which numbers are unknown and why (%q):\n%s", line, out.String())
		}
	})
	// A commit this run made always records its tallies: one that does not
	// is an error, never a silent fall back to counters.
	t.Run("a commit of this run without tallies", func(t *testing.T) {
		c := cfg(t.TempDir())
		run := prismRunner(ctx)
		_, err := Run(ctx, c, func(p *beam.Pipeline) (beam.PipelineResult, error) {
			res, err := run(p)
			stripTallies(t, c.table(transforms.BronzeTable.Name))
			return res, err
		})
		if err == nil || !strings.Contains(err.Error(), "committed by this run, does not record tally "+transforms.TallyFilesRead) {
			t.Fatalf("Run: %v; want an error naming the missing tally", err)
		}
	})
}
