package pipelines

import (
	"context"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// Two pipelines run side by side in one process, each with its own lake
// and runner (prism and the direct runner), from values alone: nothing is
// read from or written to Beam's global flags, so neither sees the other's
// settings, and both commit the same tables as each would alone. [wiring:
// our own runs as the expectation]
func TestTwoPipelinesInOneProcess(t *testing.T) {
	needRuntime(t)
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 120, PerFile: 3, Format: "ndjson", Seed: 71, Bad: 0.05}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	envs := []Env{{}, {Runner: "direct"}}
	lakes := make([]string, len(envs))
	errs := make(chan error, len(envs))
	for i, env := range envs {
		lakes[i] = t.TempDir()
		cfg := Config{Input: in, Lake: lakes[i], Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1,
			Monitoring: t.TempDir(), Env: env}
		go func() {
			sum, err := Run(ctx, cfg, env.Executor(ctx))
			if err == nil && sum.RawRecords != 120 {
				t.Errorf("%s: %d raw records, want 120", env.RunnerName(), sum.RawRecords)
			}
			errs <- err
		}()
	}
	for range envs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, tbl := range transforms.Tables {
		a, b := tableMultiset(t, tbl.Location(lakes[0])), tableMultiset(t, tbl.Location(lakes[1]))
		if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 && tbl.Name != transforms.QuarantineTable.Name {
			t.Errorf("%s: prism committed %d rows, the direct runner %d", tbl.Name, len(a), len(b))
		}
	}
}
