package inference

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"testing"
)

// BenchmarkPredict measures texts/s of the demo model by batch size, on
// generated tweet texts (mixed lengths). Run:
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

// benchTexts are 256 generated tweet texts, or the JSON list of strings in
// BENCH_TEXTS (e.g. gold's distinct cleaned texts, to compare with a run).
func benchTexts(b *testing.B) []string {
	if p := os.Getenv("BENCH_TEXTS"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		var texts []string
		if err := json.Unmarshal(data, &texts); err != nil {
			b.Fatal(err)
		}
		return texts
	}
	return generatedTexts(b, 256, 606)
}

// benchModel is the model BenchmarkCeiling measures: BENCH_MODEL, or the
// demo model (scripts/make-bench-models.sh builds base-size ones).
func benchModel() string {
	if m := os.Getenv("BENCH_MODEL"); m != "" {
		return m
	}
	return demoModel
}

// BenchmarkCeiling compares, on the same 256 generated tweet texts:
//
//   - ceiling: ONNX Runtime alone on pre-tokenized, length-sorted batches;
//
//   - predict: Model.Predict (tokenize, sort by length, pad per batch, run, softmax);
//
//   - unsorted: batches in arrival order, padded to the longest in each.
//
//     BENCH_MODEL=.cache/bench-models/roberta-size go test -run '^$' -bench Ceiling -benchtime 2x ./inference/
func BenchmarkCeiling(b *testing.B) {
	if _, err := RuntimeVersion(); err != nil {
		b.Skip("SKIPPED: " + err.Error())
	}
	texts := benchTexts(b)
	for _, bs := range []int{16, 32} {
		// BENCH_QUANTIZED=1 measures the folder's onnx/model_quantized.onnx.
		m, err := Load(benchModel(), Options{BatchSize: bs, PreferQuantized: os.Getenv("BENCH_QUANTIZED") == "1"})
		if err != nil {
			b.Fatal(err)
		}
		enc := make([][]int64, len(texts))
		tokens := 0
		for i, t := range texts {
			enc[i], _ = m.Tokenizer().Encode(t, m.MaxLength)
			tokens += len(enc[i])
		}
		sorted := append([][]int64(nil), enc...)
		sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) < len(sorted[j]) })
		run := func(b *testing.B, seqs [][]int64) {
			for i := 0; i < b.N; i++ {
				for s := 0; s < len(seqs); s += bs {
					if _, err := m.Logits(seqs[s:min(s+bs, len(seqs))]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "seq/s")
		}
		b.Run(fmt.Sprintf("ceiling/batch=%d", bs), func(b *testing.B) { run(b, sorted) })
		b.Run(fmt.Sprintf("unsorted/batch=%d", bs), func(b *testing.B) { run(b, enc) })
		b.Run(fmt.Sprintf("predict/batch=%d", bs), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := m.Predict(texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "seq/s")
		})
		b.Logf("batch %d: %d texts, %.1f tokens on average", bs, len(texts), float64(tokens)/float64(len(texts)))
		m.Close()
	}
}
