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
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// retriedResult is a job's result as a runner that ran every bundle times
// times (retries) reports it: counters fall back to attempted values, which
// count each attempt.
type retriedResult struct {
	beam.PipelineResult
	times int64
}

func (r retriedResult) Metrics() metrics.Results {
	all := r.PipelineResult.Metrics().AllMetrics()
	var counters []metrics.CounterResult
	for _, c := range all.Counters() {
		c.Attempted, c.Committed = c.Attempted*r.times, 0
		counters = append(counters, c)
	}
	return *metrics.NewResults(counters, all.Distributions(), all.Gauges(), all.Msecs(), all.PCols())
}

func retryingRunner(ctx context.Context, times int64) Runner {
	run := prismRunner(ctx)
	return func(p *beam.Pipeline) (beam.PipelineResult, error) {
		res, err := run(p)
		if err != nil {
			return nil, err
		}
		return retriedResult{res, times}, nil
	}
}

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

// TestBatchTalliesOutlastRetries runs batches on a runner whose counters
// count every bundle three times, as a runner that retried them reports:
// the summary's files, raw records and tweets with and without mentions
// come from the tallies the batch's commits recorded, so they equal the
// pure oracle's and the accounting check passes. A redo whose bronze and
// quarantine commits came from an earlier run takes bronze's tallies from
// that commit; one whose bronze commit predates tallies falls back to the
// counters and says so (Untallied).
func TestBatchTalliesOutlastRetries(t *testing.T) {
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
		got := map[string]int64{
			"files": sum.Files, "raw": sum.RawRecords, "bronze": sum.table(transforms.BronzeTable.Name).Rows, "bronze quarantine": sum.BronzeQuarantined,
			"silver quarantine": sum.SilverQuarantined, "with mentions": sum.TweetsWithMentions, "without": sum.NoMentions,
			"silver rows": sum.table(transforms.SilverTable.Name).Rows,
		}
		wantM := map[string]int64{
			"files": int64(written.Files), "raw": want.raw, "bronze": want.bronze, "bronze quarantine": want.bronzeQ,
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
		sum, err := Run(ctx, cfg(t.TempDir()), retryingRunner(ctx, 3))
		if err != nil {
			t.Fatal(err) // Run checks the accounting
		}
		check(t, sum, nil)
	})
	t.Run("redo after bronze and quarantine committed", func(t *testing.T) {
		c := cfg(t.TempDir())
		halfCommitted(t, c, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
		sum, err := Run(ctx, c, retryingRunner(ctx, 3))
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
		sum, err := Run(ctx, c, prismRunner(ctx)) // counters are exact on prism
		if err != nil {
			t.Fatal(err)
		}
		check(t, sum, transforms.BronzeTallies)
		var out strings.Builder
		sum.Print(&out)
		if !strings.Contains(out.String(), "from the runner's counters: "+strings.Join(transforms.BronzeTallies, ", ")) {
			t.Errorf("the summary does not say which numbers came from counters:\n%s", out.String())
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
