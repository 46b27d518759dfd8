// Command medallion runs the tweet sentiment medallion pipeline on Apache
// Beam: raw tweet JSON files → bronze → silver (and quarantine), as Delta
// tables under --lake.
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
	lakeF   = flag.String("lake", "", "folder of the Delta tables: bronze, silver, quarantine (required)")
	shards  = flag.Int("shards", 4, "parallel writers per table (files per table per run)")
	codec   = flag.String("codec", "zstd", "parquet compression: zstd or snappy")
	verbose = flag.Bool("verbose", false, "log the runner's progress (prism logs every job step at info level)")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: medallion --input DIR --lake DIR [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	beam.Init()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	cfg := Config{Input: *input, Lake: *lakeF, Shards: *shards, Codec: *codec}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "medallion: %v\n\n", err)
		flag.Usage()
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
