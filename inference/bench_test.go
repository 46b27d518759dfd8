package inference

import (
	"fmt"
	"testing"
)

// BenchmarkPredict measures texts/s of the demo model by batch size, on
// generated tweet texts (mixed lengths). How base-size models compare with
// an independent ceiling is scripts/bench-realistic.sh's measure, not ours.
// Run:
//
//	go test -run '^$' -bench Predict -benchtime 3x ./inference/
func BenchmarkPredict(b *testing.B) {
	if _, err := RuntimeVersion(); err != nil {
		b.Skip("SKIPPED: " + err.Error())
	}
	texts := generatedTexts(b, 4096, 505)
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
