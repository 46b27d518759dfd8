package pipelines

import (
	"context"
	"errors"
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

// A configuration's failures name its settings by their fields, and a
// command renders them with its own names (the medallion command: its
// flags). [wiring: our own rule]
func TestFailuresNameSettings(t *testing.T) {
	flags := func(s string) string { return "--" + strings.ToLower(s) }
	for _, tc := range []struct {
		cfg            Config
		err, rendered  string
		hint, hintFlag string
	}{
		{Config{}, "Lake is required", "--lake is required", "", ""},
		{Config{Lake: "/l", Input: "/in", Codec: "lz4"}, `Codec "lz4": want zstd or snappy`, `--codec "lz4": want zstd or snappy`, "", ""},
		{Config{Lake: "/l", Input: "/in", Stages: "raw:bronze,silver:gold"}, `Stages "raw:bronze,silver:gold": the stages must follow`, `--stages "raw:bronze,silver:gold": the stages must follow`, "", ""},
		{Config{Lake: "/l", Input: "/in", Codec: "zstd", Env: Env{Runner: "flink", Endpoint: "h:1", EnvironmentType: "PROCESS"}},
			"Lake /l is a local path, but the workers may run on other machines (Runner flink, EnvironmentType PROCESS)",
			"--lake /l is a local path, but the workers may run on other machines (--runner flink, --environmenttype PROCESS)",
			"or set SharedPaths if every worker", "or set --sharedpaths if every worker"},
	} {
		err := tc.cfg.Validate()
		var f *Failure
		if !errors.As(err, &f) || !strings.HasPrefix(err.Error(), tc.err) || !strings.HasPrefix(Render(f.Msg, flags), tc.rendered) {
			t.Errorf("%+v: %v; want %q, rendered %q", tc.cfg, err, tc.err, tc.rendered)
			continue
		}
		if hint := Render(f.Hint, nil); !strings.Contains(hint, tc.hint) || !strings.Contains(Render(f.Hint, flags), tc.hintFlag) {
			t.Errorf("hint %q: want %q, rendered %q", f.Hint, tc.hint, tc.hintFlag)
		}
	}
}
