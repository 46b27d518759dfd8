package transforms

import (
	"context"
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/inference"
)

func init() {
	register.DoFn1x2[SilverRow, int, SilverRow](&textShardFn{})
	register.DoFn4x1[context.Context, int, func(*SilverRow) bool, func(GoldRow), error](&inferFn{})
	register.Emitter1[GoldRow]()
	register.Iter1[SilverRow]()
	beam.RegisterType(reflect.TypeOf((*GoldRow)(nil)).Elem())
}

var (
	goldRows      = beam.NewCounter(GoldTable.Name, "rows")
	textsInferred = beam.NewCounter(GoldTable.Name, "texts_inferred")
	workerTexts   = workerCounter("texts")
	inferMillis   = beam.NewDistribution(GoldTable.Name, "inference_ms_per_batch")
	goldMicros    = beam.NewCounter(GoldTable.Name, "processing_us")
)

// InferenceConfig says which model gold runs and how.
type InferenceConfig struct {
	ModelDir string // a resolved model folder, readable by every worker
	// ModelLocation is a model folder on an object store (s3://, gs://),
	// which each worker process fetches into its cache (inference.Fetch)
	// and checks against ModelDigest, its content digest as the driver
	// resolved it. It replaces ModelDir.
	ModelLocation string
	ModelDigest   string
	BatchSize     int // texts per ONNX Runtime run
	Threads       int // ONNX Runtime intra-op threads per worker process (0: all cores)
	Shards        int // parallel inference groups
	// Quantized runs onnx/model_quantized.onnx (int8) when the folder has one.
	Quantized bool
}

// Options are the inference options every worker loads the model with; a
// process that acquires the model with the same ones shares its session.
func (c InferenceConfig) Options() inference.Options {
	return inference.Options{BatchSize: c.BatchSize, IntraOpThreads: c.Threads, PreferQuantized: c.Quantized}
}

// Gold classifies every silver row with the transformer. Rows are keyed by
// a hash of cleaned_text, so all rows sharing a text meet in one shard and
// the text is inferred once. Batching uses a GroupByKey, not state or timers,
// so gold also runs on the direct runner.
func Gold(s beam.Scope, silver beam.PCollection, cfg InferenceConfig) beam.PCollection {
	s = s.Scope("Gold")
	shards := cfg.Shards
	if shards <= 0 {
		shards = 4
	}
	keyed := beam.ParDo(s, &textShardFn{Shards: shards}, silver)
	return beam.ParDo(s, &inferFn{ModelDir: cfg.ModelDir, ModelLocation: cfg.ModelLocation, ModelDigest: cfg.ModelDigest,
		BatchSize: cfg.BatchSize, Threads: cfg.Threads, Quantized: cfg.Quantized}, beam.GroupByKey(s, keyed))
}

type textShardFn struct{ Shards int }

func (f *textShardFn) ProcessElement(r SilverRow) (int, SilverRow) {
	h := fnv.New32a()
	h.Write([]byte(r.CleanedText))
	return int(h.Sum32() % uint32(f.Shards)), r
}

// SentimentID encodes a sentiment as gold's integer columns do.
func SentimentID(s string) int64 {
	switch s {
	case inference.Positive:
		return 1
	case inference.Negative:
		return 0
	}
	return -1
}

// GoldFrom joins a silver row and its prediction.
func GoldFrom(r SilverRow, p inference.Prediction) GoldRow {
	given := int64(-1)
	if r.Sentiment != nil {
		given = SentimentID(*r.Sentiment)
	}
	return GoldRow{
		Timestamp: r.Timestamp, Mention: r.Mention, CleanedText: r.CleanedText, Sentiment: r.Sentiment,
		PredictedScore: p.Score, PredictedSentiment: p.Sentiment,
		SentimentID: given, PredictedSentimentID: SentimentID(p.Sentiment),
	}
}

// inferFn runs the model over one shard. The model is loaded once per
// worker process (inference.Acquire) and shared by every instance.
type inferFn struct {
	ModelDir      string
	ModelLocation string // on an object store: fetched once per worker process
	ModelDigest   string // ModelLocation's content digest, checked after the fetch
	BatchSize     int
	Threads       int
	Quantized     bool

	model *inference.Model
}

func (f *inferFn) Setup(ctx context.Context) error {
	dir := f.ModelDir
	if f.ModelLocation != "" {
		var err error
		if dir, err = inference.Fetch(ctx, f.ModelLocation, f.ModelDigest); err != nil {
			return fmt.Errorf("gold: %w", err)
		}
	}
	m, err := inference.Acquire(dir, InferenceConfig{BatchSize: f.BatchSize, Threads: f.Threads, Quantized: f.Quantized}.Options())
	if err != nil {
		return fmt.Errorf("gold: %w", err)
	}
	f.model = m
	return nil
}

func (f *inferFn) ProcessElement(ctx context.Context, shard int, rows func(*SilverRow) bool, emit func(GoldRow)) error {
	start := time.Now()
	defer func() { goldMicros.Inc(ctx, time.Since(start).Microseconds()) }()
	batch := f.BatchSize
	if batch <= 0 {
		batch = inference.DefaultBatchSize
	}
	// Texts are gathered 64 batches at a time, so Predict can sort them by
	// length and pad each batch only to its longest member (8 batches reached
	// 7% less throughput: docs/BENCHMARKS.md).
	chunk := batch * 64
	pending := map[string][]SilverRow{}
	var order []string
	flush := func() error {
		if len(order) == 0 {
			return nil
		}
		start := time.Now()
		preds, inferred, err := f.model.PredictCached(order)
		if err != nil {
			return fmt.Errorf("gold: %w", err)
		}
		if inferred > 0 {
			batches := (inferred + batch - 1) / batch
			inferMillis.Update(ctx, time.Since(start).Milliseconds()/int64(batches))
			textsInferred.Inc(ctx, int64(inferred))
			workerTexts.Inc(ctx, int64(inferred))
		}
		for i, text := range order {
			for _, r := range pending[text] {
				emit(GoldFrom(r, preds[i]))
				goldRows.Inc(ctx, 1)
			}
			delete(pending, text)
		}
		order = order[:0]
		return nil
	}
	var r SilverRow
	for rows(&r) {
		// A text this worker has classified before (in this batch or an
		// earlier one) is not inferred again.
		if p, ok := f.model.Cached(r.CleanedText); ok {
			emit(GoldFrom(r, p))
			goldRows.Inc(ctx, 1)
			continue
		}
		if _, ok := pending[r.CleanedText]; !ok {
			order = append(order, r.CleanedText)
		}
		pending[r.CleanedText] = append(pending[r.CleanedText], r)
		if len(order) >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return failFirstAttempt("gold", strconv.Itoa(shard))
}
