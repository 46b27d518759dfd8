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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/pipelines"
	"github.com/tweetsentiment/medallion/transforms"
)

var (
	input   = flag.String("input", "", "folder (or glob) of raw tweet JSON files (required)")
	lakeF   = flag.String("lake", "", "where the Delta tables live: a folder, s3://bucket/prefix or gs://bucket/prefix (required)")
	shards  = flag.Int("shards", 0, "parallel writers per table and inference groups (0: the CPUs in process; 4 × --parallelism on a job server, or 16 when it is not given)")
	codec   = flag.String("codec", "zstd", "parquet compression: zstd or snappy")
	verbose = flag.Bool("verbose", false, "show the runner's logs (prism logs every job step at info level) and a failure's full error; without it a failure is one line and a hint")

	model = flag.String("model", "models:/tweet-sentiment/Production",
		"model: models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS, or a model folder (a path, s3://bucket/prefix or gs://bucket/prefix)")
	registry  = flag.String("registry", "mlruns", "MLflow file store (a folder, or a copy on s3:// or gs://), or http(s):// tracking server, that models:/ URIs resolve in")
	shared    = flag.Bool("shared-paths", false, "the local paths given (--lake, --input, the model folder) are on a file system every worker mounts at the same path; without it they are refused when workers run elsewhere (a job server's non-LOOPBACK environment)")
	batchSize = flag.Int("batch-size", pipelines.DefaultBatchSize, "texts per ONNX Runtime run")
	quantized = flag.Bool("quantized", false, "run the model folder's int8 onnx/model_quantized.onnx instead of onnx/model.onnx")
	threads   = flag.Int("inference-threads", 0, "ONNX Runtime intra-op threads per worker (0: all cores)")

	maxFileBytes   = flag.Int64("max-file-bytes", transforms.DefaultLimits.MaxFileBytes, "a larger raw file is quarantined")
	maxRecordBytes = flag.Int("max-record-bytes", transforms.DefaultLimits.MaxRecordBytes, "a larger raw record is quarantined")
	maxRecords     = flag.Int("max-records-per-file", transforms.DefaultLimits.MaxRecordsPerFile, "records past this in one file are quarantined")
	maxMentions    = flag.Int("max-mentions", transforms.DefaultLimits.MaxMentions, "a tweet with more distinct mentions is quarantined")
	maxBatchBytes  = flag.Int64("max-batch-bytes", 8<<20, "raw input per batch (one Beam job); more input runs as more batches, so memory stays bounded")

	mode        = flag.String("mode", "batch", "batch (ingest what is there, once) or stream (watch --input)")
	trigger     = flag.Duration("trigger", 10*time.Second, "stream: how often new files are committed")
	idleTimeout = flag.Duration("idle-timeout", 60*time.Second, "stream: stop after this long without a new file (0: run until stopped)")
	microBatch  = flag.Bool("micro-batch", false, "stream: run a batch job per trigger instead of one streaming job (for --stages that do not start at raw:bronze, and --runner=direct)")
	monitorF    = flag.Duration("monitor", 10*time.Second, "how often stream metrics are printed")
	stop        = flag.Bool("stop", false, "ask the stream running on --lake to stop after its current batch, and exit")
	status      = flag.Bool("status", false, "print whether a stream runs on --lake, with its last progress, and exit")
	reset       = flag.Bool("reset", false, "remove the tables, checkpoints and monitoring under --lake, and exit")
	optimize    = flag.Bool("optimize", false, "compact each table's files into one (readers see the same rows), and exit")
	vacuum      = flag.Bool("vacuum", false, "remove files no commit names (failed batches, compacted files) older than --retention, and exit")
	monitoring  = flag.String("monitoring", "", "folder for the monitoring series and charts (default: LAKE/_monitoring, or ./_monitoring for an s3:// or gs:// lake)")
	cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the run (go tool pprof) to this file")
	retention   = flag.Duration("retention", lake.DefaultRetention, "vacuum: keep unreferenced files younger than this")
	rescore     = flag.Bool("rescore", false, "recompute gold from the whole current silver table with --model (one overwrite of gold), rebuild application from it, and exit; reads no raw file")
	rebuild     = flag.String("rebuild", "", "silver: recompute silver (and quarantine's silver rows) from the whole bronze table with this build's silver rules and --max-mentions, then re-score gold and rebuild application, and exit; reads no raw file")
	stages      = flag.String("stages", pipelines.StagesAll, "the stages this run runs, consecutive ones of "+pipelines.StagesAll+"; stages that do not start at raw:bronze read what was appended to their upstream table since their last run (e.g. bronze:silver,silver:gold,gold:application carries another writer's bronze rows on)")
	abandon     = flag.Int64("abandon-batch", -1, "close unfinished batch N in the tables that lack it (when a planned file is gone for good), and exit")
	jobOptions  = pipelines.JobOptions{}
)

// ownFlags are the flags this command defines (Beam adds many of its own).
var ownFlags = []string{"input", "lake", "monitoring", "cpuprofile", "mode", "model", "registry", "shared-paths", "batch-size", "quantized", "inference-threads", "shards", "codec",
	"trigger", "idle-timeout", "monitor", "stop", "status", "reset", "optimize", "vacuum", "retention",
	"max-batch-bytes", "max-file-bytes", "max-record-bytes", "max-records-per-file", "max-mentions", "verbose", "abandon-batch", "rescore", "rebuild", "stages", "job-option"}

func init() {
	flag.Func("job-option", "NAME=VALUE: a pipeline option for a job server's runner that Beam's Go SDK does not pass, e.g. sdk_worker_parallelism=2 (SDK worker processes per Flink task manager or Spark executor) or checkpointing_interval=10000 (Flink, ms); repeatable. A streaming job sends streaming=true, max_bundle_time_mills (a tenth of --trigger, 100 to 1000) and shutdown_sources_after_idle_ms=0 unless given", func(s string) error {
		name, v, err := pipelines.ParseJobOption(s)
		if err == nil {
			jobOptions[name] = v
		}
		return err
	})
}

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
	pipelines.QuietLogs(os.Stderr, *verbose)

	if *lakeF != "" && (*stop || *status || *reset || *optimize || *vacuum || *abandon >= 0) {
		if err := utility(*lakeF); err != nil {
			fail(err, 1)
		}
		return
	}
	st, err := pipelines.ParseStages(*stages)
	if err != nil {
		fmt.Fprintf(os.Stderr, "medallion: %v\n", err)
		os.Exit(2)
	}
	fromTable := "" // the table a rescore or a rebuild reads
	switch {
	case *rebuild != "":
		if *rebuild != pipelines.SilverTable {
			fmt.Fprintf(os.Stderr, "medallion: --rebuild %q: only silver can be rebuilt (gold: --rescore; application follows either)\n", *rebuild)
			os.Exit(2)
		}
		fromTable = pipelines.BronzeTable
	case *rescore:
		fromTable = pipelines.SilverTable
	}
	if fromTable != "" && *mode != "batch" {
		fmt.Fprintf(os.Stderr, "medallion: --rescore and --rebuild run in --mode batch only\n")
		os.Exit(2)
	}
	if *input == "" && fromTable == "" && st.First == pipelines.RawBronze || *lakeF == "" {
		fmt.Fprintf(os.Stderr, "medallion: --input and --lake are required\n\n")
		usage()
		os.Exit(2)
	}
	cfg := pipelines.Config{Input: *input, Lake: *lakeF, Shards: *shards, Codec: *codec,
		Model: *model, Registry: *registry, BatchSize: *batchSize, Threads: *threads, Quantized: *quantized, MaxBatchBytes: *maxBatchBytes, Monitoring: *monitoring, Stages: *stages, FromTable: fromTable,
		SharedPaths: *shared}
	cfg.Limits = transforms.DefaultLimits
	cfg.Limits.MaxFileBytes, cfg.Limits.MaxRecordBytes = *maxFileBytes, *maxRecordBytes
	cfg.Limits.MaxRecordsPerFile, cfg.Limits.MaxMentions = *maxRecords, *maxMentions
	if err := cfg.Validate(); err != nil {
		fail(err, 2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "medallion: --cpuprofile: %v\n", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile() // a run that fails keeps no profile
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	jobCtx := ctx
	if *mode == "stream" {
		// SIGINT asks the stream to stop: its job itself must not be
		// cancelled, or the batches in flight would be lost.
		jobCtx = context.WithoutCancel(ctx)
	}
	run := func(p *beam.Pipeline) (beam.PipelineResult, error) { return beamx.RunWithMetrics(jobCtx, p) }
	if len(jobOptions) > 0 {
		run = pipelines.JobServerRunner(jobCtx, jobOptions)
	}
	streamJob := run // the streaming job's: the batch jobs' with the options a stream needs
	if opts := pipelines.StreamJobOptions(jobOptions, *trigger); len(opts) > 0 {
		streamJob = pipelines.JobServerRunner(jobCtx, opts)
	}
	switch {
	case *rebuild != "":
		res, err := pipelines.RebuildSilver(ctx, cfg, run)
		if err != nil {
			fail(err, 1)
		}
		res.Print(os.Stdout)
	case *rescore:
		res, err := pipelines.Rescore(ctx, cfg, run)
		if err != nil {
			fail(err, 1)
		}
		res.Print(os.Stdout)
	case *mode == "batch":
		if st.First == pipelines.RawBronze {
			if n, err := pipelines.FirstBatchFiles(cfg.Input, cfg.MaxBatchBytes); err == nil {
				if pr, ok := pipelines.ProgressRunner(ctx, n); ok {
					run = pr
				}
			}
		}
		sum, err := pipelines.Run(ctx, cfg, run)
		if err != nil {
			fail(err, 1)
		}
		sum.Elapsed = time.Since(start)
		sum.Print(os.Stdout)
		if sum.Batch >= 0 {
			if err := pipelines.MonitorBatch(cfg.Monitoring, sum, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "medallion: monitoring: %v\n", err)
			}
		}
	case *mode == "stream":
		totals, reason, err := pipelines.Stream(ctx, cfg, run, pipelines.StreamOptions{Trigger: *trigger, IdleTimeout: *idleTimeout, Monitor: *monitorF, MicroBatch: *microBatch, JobRunner: streamJob}, os.Stdout)
		if err != nil {
			fail(err, 1)
		}
		fmt.Printf("stream stopped (%s): bronze %s, silver %s, gold %s rows; elapsed %s\n", reason,
			pipelines.FormatCount(totals["bronze_stream"]), pipelines.FormatCount(totals["silver_stream"]), pipelines.FormatCount(totals["gold_stream"]), time.Since(start).Round(time.Millisecond))
	default:
		fmt.Fprintf(os.Stderr, "medallion: --mode %q: want batch or stream\n", *mode)
		os.Exit(2)
	}
}

// fail prints err as one line (the root cause, not the runner's plan dumps)
// and, when it has one, a hint on the next; --verbose adds the full error.
// It exits with code.
func fail(err error, code int) {
	var f *pipelines.Failure
	if errors.As(err, &f) {
		fmt.Fprintf(os.Stderr, "medallion: %s\n", err)
		if f.Hint != "" {
			fmt.Fprintf(os.Stderr, "  next: %s\n", f.Hint)
		}
	} else {
		cause := pipelines.RootCause(err)
		fmt.Fprintf(os.Stderr, "medallion: %s\n", cause)
		if hint := pipelines.HintFor(cause); hint != "" {
			fmt.Fprintf(os.Stderr, "  next: %s\n", hint)
		}
	}
	if *verbose {
		fmt.Fprintf(os.Stderr, "full error: %+v\n", err)
	}
	os.Exit(code)
}

// utility runs --stop, --status, --reset, --vacuum or --optimize.
func utility(lakeDir string) error {
	switch {
	case *stop:
		if err := pipelines.RequestStop(lakeDir); err != nil {
			return err
		}
		fmt.Printf("asked the stream on %s to stop; it commits its current batch first (--status shows when it has)\n", lakeDir)
		return nil
	case *status:
		return pipelines.PrintStatus(lakeDir, os.Stdout)
	case *reset:
		return pipelines.Reset(lakeDir, os.Stdout)
	case *vacuum:
		return pipelines.Vacuum(context.Background(), lakeDir, *retention, os.Stdout)
	case *abandon >= 0:
		return pipelines.AbandonBatch(context.Background(), lakeDir, *abandon, os.Stdout)
	default:
		return pipelines.Optimize(context.Background(), lakeDir, *codec, os.Stdout)
	}
}
