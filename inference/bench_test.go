package inference

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
)

// BenchmarkPredict measures texts/s of the demo model by batch size, on
// generated tweet texts (mixed lengths). Run:
//
//	go test -run '^$' -bench Predict -benchtime 3x ./inference/
func BenchmarkPredict(b *testing.B) {
	if _, err := RuntimeVersion(); err != nil {
		b.Skip("SKIPPED: " + err.Error())
	}
	dir := b.TempDir()
	truth := filepath.Join(dir, "t.csv")
	if _, err := gen.Generate(gen.Options{Out: filepath.Join(dir, "raw"), Tweets: 4096, PerFile: 4096, Format: "ndjson", Seed: 505, Truth: truth}); err != nil {
		b.Fatal(err)
	}
	truths, err := gen.ReadTruth(truth)
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	for _, r := range truths {
		texts = append(texts, r.Text)
	}
	for _, bs := range []int{1, 8, 16, 32, 64, 128, 256} {
		b.Run(fmt.Sprintf("batch=%d", bs), func(b *testing.B) {
			m, err := Load(demoModel, Options{BatchSize: bs})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Predict(texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "texts/s")
		})
	}
}
