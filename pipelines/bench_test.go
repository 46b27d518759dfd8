package pipelines

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// BenchmarkIngest measures raw → bronze → silver: the model-free half of a
// batch (listing excluded), as one Beam job on prism that writes the bronze,
// silver and quarantine tables. BENCH_INPUT names a folder of raw files
// (scripts/bench-course.sh makes the course-scale ones); without it, 10,000
// generated one-tweet files.
//
//	BENCH_INPUT=/tmp/bench-course/files100k go test -run '^$' -bench Ingest -benchtime 3x ./pipelines/
func BenchmarkIngest(b *testing.B) {
	in := os.Getenv("BENCH_INPUT")
	if in == "" {
		in = b.TempDir()
		if _, err := gen.Generate(gen.Options{Out: in, Tweets: 10000, PerFile: 1, Format: "object", Seed: 100}); err != nil {
			b.Fatal(err)
		}
	}
	files, err := listInput(in, nil)
	if err != nil {
		b.Fatal(err)
	}
	plan := &Plan{Batch: 0, Stages: Stages{transforms.RawBronze, transforms.BronzeSilver}.String()}
	for _, f := range files {
		plan.Files = append(plan.Files, f.Path)
	}
	ctx := context.Background()
	var bronze, silver int64
	for i := 0; i < b.N; i++ {
		c := Config{Input: in, Lake: filepath.Join(b.TempDir(), "lake"), Shards: 2, Codec: "zstd", Model: demoModel}
		if err := c.Open(ctx); err != nil {
			b.Fatal(err)
		}
		p, s := beam.NewPipelineWithRoot()
		Build(s, c, Batch{Plan: plan})
		res, err := prism.Execute(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		bronze, silver = counter(res, transforms.BronzeTable.Name, "rows"), counter(res, transforms.SilverTable.Name, "rows")
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(plan.Files))/sec, "files/s")
	b.ReportMetric(float64(bronze)/sec, "bronze_rows/s")
	b.ReportMetric(float64(silver)/sec, "silver_rows/s")
}

// counter sums a Beam counter of a finished job.
func counter(res beam.PipelineResult, namespace, name string) int64 {
	var n int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == namespace && c.Name() == name {
			n += c.Result()
		}
	}
	return n
}
