package inference

import "github.com/prometheus/client_golang/prometheus"

// The model's Prometheus metrics, kept by every session run of this
// process. A pipeline that serves metrics registers Collectors; they count
// the inference of the worker processes that share its process (prism's
// and the job servers' LOOPBACK workers), not that of workers elsewhere.
var (
	textsInferred = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "medallion_inference_texts_total",
		Help: "Texts the model classified (a session run's batch members; cached predictions are not counted).",
	})
	batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "medallion_inference_batch_seconds",
		Help:    "Time of one ONNX Runtime session run over a batch of texts.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms to 8 s
	})
)

// Collectors are the model's metrics, for a registry to serve.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{textsInferred, batchSeconds}
}
