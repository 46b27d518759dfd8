//go:build integration

package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	reforacle "github.com/tweetsentiment/medallion/internal/oracle"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// A tweet bronze as Spark keeps one from nested tweet JSON (user and
// entities structs, a map, column mapping by name, deletion vectors on, a
// column renamed and one dropped: scripts/oracles/spark_bronze.py, written
// by delta-spark from our own bronze's tweets) goes through
// --stages bronze:silver,silver:gold,gold:application to the same silver,
// gold and application as our own bronze gave. Spark wrote the input; the
// expected tables are our own full run's (the stages' logic is ours on both
// sides: what is checked is that Spark's table reads as the same tweets).
func TestSparkNestedBronze(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	root := t.TempDir()
	in := filepath.Join(root, "raw")
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 300, PerFile: 30, Format: "ndjson", Seed: 91, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	ours := Config{Input: in, Lake: filepath.Join(root, "ours"), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	if _, err := Run(ctx, ours, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	spark := Config{Lake: filepath.Join(root, "spark"), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1,
		Stages: "bronze:silver,silver:gold,gold:application"}
	var made struct{ Version int64 }
	out := reforacle.Run(t, "spark_bronze.py", ours.table(transforms.BronzeTable.Name), spark.table(transforms.BronzeTable.Name))
	if err := json.Unmarshal(out, &made); err != nil || made.Version < 3 {
		t.Fatalf("spark_bronze.py: %s (%v)", out, err)
	}
	sum, err := Run(ctx, spark, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	bronzeRows := int64(len(readTable(t, ours.table(transforms.BronzeTable.Name))))
	if sum.UpstreamRows != bronzeRows {
		t.Errorf("the stages read %d bronze rows from Spark's table, ours has %d", sum.UpstreamRows, bronzeRows)
	}
	for _, name := range []string{transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name} {
		got, want := tableMultiset(t, spark.table(name)), tableMultiset(t, ours.table(name))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s from Spark's nested bronze: %d rows, from ours %d; they differ", name, len(got), len(want))
		}
	}
	// Quarantine: silver's rows, for the same tweets and reasons (the record
	// text differs: Spark's user is a struct).
	quarantined := func(dir string) []string {
		var out []string
		for _, r := range readTable(t, dir) {
			if r["stage"] == transforms.SilverTable.Name {
				out = append(out, fmt.Sprint(r["source_file"], " ", r["reason"]))
			}
		}
		slices.Sort(out)
		return out
	}
	got, want := quarantined(spark.table(transforms.QuarantineTable.Name)), quarantined(ours.table(transforms.QuarantineTable.Name))
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("silver quarantine from Spark's bronze:\n%v\nfrom ours:\n%v", got, want)
	}
}
