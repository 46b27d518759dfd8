// Command medallion runs the tweet sentiment medallion pipeline on Apache
// Beam: raw tweet JSON files → bronze → silver → gold → application, as Delta
// tables under --lake: bronze, silver, quarantine, gold (a transformer's
// prediction per row) and application (per-mention counts).
//
//	go run ./pipelines/medallion --input DIR --lake DIR [--runner=direct]
//
// Beam's own flags (--runner, --endpoint, --environment_type, ...) choose
// where it runs; the default is prism, in process.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
)

var (
	input   = flag.String("input", "", "folder (or glob) of raw tweet JSON files (required)")
	lakeF   = flag.String("lake", "", "folder of the Delta tables: bronze, silver, quarantine, gold, application (required)")
	shards  = flag.Int("shards", 4, "parallel writers per table (files per table per run)")
	codec   = flag.String("codec", "zstd", "parquet compression: zstd or snappy")
	verbose = flag.Bool("verbose", false, "log the runner's progress (prism logs every job step at info level)")

	model = flag.String("model", "models:/tweet-sentiment/Production",
		"model: models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS, or a model folder")
	registry  = flag.String("registry", "mlruns", "MLflow file store that models:/ URIs resolve in")
	batchSize = flag.Int("batch-size", DefaultBatchSize, "texts per ONNX Runtime run")
	threads   = flag.Int("inference-threads", 0, "ONNX Runtime intra-op threads per worker (0: all cores)")
)

// ownFlags are the flags this command defines (Beam adds many of its own).
var ownFlags = []string{"input", "lake", "model", "registry", "batch-size", "inference-threads", "shards", "codec", "verbose"}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: medallion --input DIR --lake DIR [flags]\n\n")
	for _, name := range ownFlags {
		f := flag.Lookup(name)
		fmt.Fprintf(os.Stderr, "  --%s\t%s", f.Name, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(os.Stderr, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(os.Stderr)
	}
	fmt.Fprintf(os.Stderr, "\nBeam flags choose the runner: --runner=direct|prism|universal, --endpoint=HOST:PORT, --environment_type=LOOPBACK, ...\n")
}

func main() {
	flag.Usage = usage
	flag.Parse()
	beam.Init()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	if *input == "" || *lakeF == "" {
		fmt.Fprintf(os.Stderr, "medallion: --input and --lake are required\n\n")
		usage()
		os.Exit(2)
	}
	cfg := Config{Input: *input, Lake: *lakeF, Shards: *shards, Codec: *codec,
		Model: *model, Registry: *registry, BatchSize: *batchSize, Threads: *threads}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "medallion: %v\n", err)
		os.Exit(2)
	}
	ctx := context.Background()
	start := time.Now()
	sum, err := Run(ctx, cfg, func(p *beam.Pipeline) (beam.PipelineResult, error) {
		return beamx.RunWithMetrics(ctx, p)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "medallion: %v\n", err)
		os.Exit(1)
	}
	sum.Elapsed = time.Since(start)
	sum.Print(os.Stdout)
	if err := sum.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "medallion: %v\n", err)
		os.Exit(1)
	}
}
