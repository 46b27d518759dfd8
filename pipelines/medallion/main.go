// Command medallion runs the tweet sentiment medallion pipeline on Apache
// Beam: raw tweet JSON files → bronze → silver → gold → application, as Delta
// tables under --lake: bronze, silver, quarantine, gold (a transformer's
// prediction per row) and application (per-mention counts).
//
//	medallion run --input DIR --lake DIR [flags]
//	medallion stream --input DIR --lake DIR [flags]
//	medallion help [COMMAND]
//
// Beam's own flags (--runner, --endpoint, --environment_type, ...) choose
// where a pipeline runs; the default is prism, in this process. Exit codes:
// 0 done, 1 a run failed, 2 bad usage or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/pipelines"
	"github.com/tweetsentiment/medallion/transforms"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a run failed, or its accounting does not add up
	exitUsage  = 2 // bad usage or configuration
)

// command is one subcommand: its flags and what it does.
type command struct {
	name, args, summary string
	flags               func(fs *flag.FlagSet, o *options)
	run                 func(ctx context.Context, o *options) error
}

var commands = []command{
	{"run", "--input DIR --lake DIR", "ingest what --input holds now (or what the upstream table of --stages gained), batch after batch, then exit",
		func(fs *flag.FlagSet, o *options) { o.inputFlags(fs); o.metricsFlag(fs); o.pipelineFlags(fs) }, runBatch},
	{"stream", "--input DIR --lake DIR", "watch --input and commit what lands every --trigger, until idle, stopped or interrupted",
		func(fs *flag.FlagSet, o *options) { o.inputFlags(fs); o.streamFlags(fs); o.pipelineFlags(fs) }, runStream},
	{"status", "--lake DIR", "whether a stream runs on the lake, with its last progress", nil,
		func(_ context.Context, o *options) error { return status(o.lake) }},
	{"stop", "--lake DIR", "ask the stream on the lake to stop after its current batch", nil, stopStream},
	{"rescore", "--lake DIR [--model URI]", "recompute gold from the whole silver table with --model (one overwrite), and application from it; reads no raw file",
		func(fs *flag.FlagSet, o *options) { o.pipelineFlags(fs) }, rescore},
	{"rebuild", "--lake DIR", "recompute silver (and quarantine's silver rows) from the whole bronze table with this build's rules, then gold and application; reads no raw file",
		func(fs *flag.FlagSet, o *options) { o.limitFlags(fs, true); o.pipelineFlags(fs) }, rebuild},
	{"abandon", "--lake DIR --batch N", "close unfinished batch N in the tables that lack it (when a planned file is gone for good)",
		func(fs *flag.FlagSet, o *options) {
			fs.Int64Var(&o.batch, "batch", -1, "the unfinished batch to close (required)")
		}, abandon},
	{"reset", "--lake DIR", "remove the tables, checkpoints and monitoring under the lake", nil,
		reset},
	{"optimize", "--lake DIR", "compact each table's files into one (readers see the same rows)",
		func(fs *flag.FlagSet, o *options) { o.codecFlag(fs) },
		func(ctx context.Context, o *options) error {
			return optimize(ctx, o)
		}},
	{"vacuum", "--lake DIR", "remove files no commit names (failed batches, compacted files) older than --retention",
		func(fs *flag.FlagSet, o *options) {
			fs.DurationVar(&o.retention, "retention", lake.DefaultRetention, "keep unreferenced files younger than this")
		},
		func(ctx context.Context, o *options) error {
			return vacuum(ctx, o)
		}},
}

// removedFlags are the verb flags the command had before it had
// subcommands, with the subcommand that does each now.
var removedFlags = map[string]string{
	"mode": "run or medallion stream", "stop": "stop", "status": "status", "reset": "reset", "optimize": "optimize",
	"vacuum": "vacuum", "rescore": "rescore", "rebuild": "rebuild", "abandon-batch": "abandon --batch N",
}

// options are every command's flags; each command registers its own.
type options struct {
	lake, input string
	verbose     bool

	model, registry        string
	sharedPaths, quantized bool
	batchSize, threads     int
	shards                 int
	codec                  string
	monitoring, cpuProfile string
	metricsAddr            string
	jobOptions             pipelines.JobOptions

	stages        string
	maxBatchBytes int64
	limits        transforms.Limits
	kafka         pipelines.KafkaOptions

	trigger, idleTimeout, monitor time.Duration
	microBatch                    bool

	batch     int64
	retention time.Duration

	own []string // the flags this command defines, for its help
}

func (o *options) inputFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.input, "input", "", "folder (or glob) of raw tweet JSON files: a path, s3://bucket/prefix or gs://bucket/prefix; or a Kafka topic: kafka://HOST:PORT[,HOST:PORT]/TOPIC (required unless --stages starts from a table)")
	fs.StringVar(&o.stages, "stages", pipelines.StagesAll, "the stages to run, consecutive ones of "+pipelines.StagesAll+"; stages that do not start at raw:bronze read what was appended to their upstream table since their last run")
	fs.Int64Var(&o.maxBatchBytes, "max-batch-bytes", 8<<20, "raw input per batch (one Beam job); more input runs as more batches, so memory stays bounded")
	o.limitFlags(fs, false)
	o.kafkaFlags(fs)
}

// kafkaFlags configure a kafka:// --input. The SASL password is read from
// $MEDALLION_KAFKA_PASSWORD, never a flag (flags show in ps).
func (o *options) kafkaFlags(fs *flag.FlagSet) {
	k := &o.kafka
	fs.StringVar(&k.StartingOffsets, "kafka-starting-offsets", "earliest", "where a topic's partitions start the first time the lake reads it: earliest, latest, or an RFC 3339 time (the first message at or after it)")
	fs.Int64Var(&k.MaxMessages, "kafka-max-messages", 0, "offsets one batch plans at most, shared between partitions by their backlog (0: no cap)")
	fs.StringVar(&k.LostOffsets, "kafka-lost-offsets", "fail", "offsets retention deleted before any batch read them: fail (stop, naming them) or quarantine (a quarantine row per partition, then go on)")
	fs.BoolVar(&k.Source.TLS, "kafka-tls", false, "connect to the brokers with TLS")
	fs.StringVar(&k.Source.CAFile, "kafka-tls-ca", "", "PEM file of the CA that signs the brokers' certificates (default: the system's roots)")
	fs.StringVar(&k.Source.CertFile, "kafka-tls-cert", "", "PEM client certificate, when the brokers ask for one")
	fs.StringVar(&k.Source.KeyFile, "kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	fs.StringVar(&k.Source.SASLMechanism, "kafka-sasl", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password from $MEDALLION_KAFKA_PASSWORD)")
	fs.StringVar(&k.Source.SASLUser, "kafka-user", "", "SASL user name")
	fs.StringVar(&k.Group, "kafka-group", "", "consumer group to commit each finished batch's offsets to, so that lag tools see the lake's progress (it decides nothing: the lake's plans do)")
}

// limitFlags are the quarantine limits; a rebuild applies silver's only.
func (o *options) limitFlags(fs *flag.FlagSet, silverOnly bool) {
	o.limits = transforms.DefaultLimits
	if !silverOnly {
		fs.Int64Var(&o.limits.MaxFileBytes, "max-file-bytes", o.limits.MaxFileBytes, "a larger raw file is quarantined")
		fs.IntVar(&o.limits.MaxRecordBytes, "max-record-bytes", o.limits.MaxRecordBytes, "a larger raw record is quarantined")
		fs.IntVar(&o.limits.MaxRecordsPerFile, "max-records-per-file", o.limits.MaxRecordsPerFile, "records past this in one file are quarantined")
	}
	fs.IntVar(&o.limits.MaxMentions, "max-mentions", o.limits.MaxMentions, "a tweet with more distinct mentions is quarantined")
}

func (o *options) streamFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.trigger, "trigger", 10*time.Second, "how often new files are committed")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 60*time.Second, "stop after this long without a new file (0: run until stopped)")
	fs.BoolVar(&o.microBatch, "micro-batch", false, "run a batch job per trigger instead of one streaming job (for --stages that do not start at raw:bronze, and --runner=direct)")
	fs.DurationVar(&o.monitor, "monitor", 10*time.Second, "how often stream metrics are printed")
	o.metricsFlag(fs)
}

func (o *options) metricsFlag(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics and a live status page at / while the command runs (e.g. 127.0.0.1:9464)")
}

func (o *options) codecFlag(fs *flag.FlagSet) {
	fs.StringVar(&o.codec, "codec", "zstd", "parquet compression: zstd or snappy")
}

// pipelineFlags are the model's and the runner's, with Beam's own flags
// (--runner, --endpoint, ...) accepted as given.
func (o *options) pipelineFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.model, "model", "models:/tweet-sentiment/Production",
		"model: models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS, or a model folder (a path, s3://bucket/prefix or gs://bucket/prefix)")
	fs.StringVar(&o.registry, "registry", "mlruns", "MLflow file store (a folder, or a copy on s3:// or gs://), or http(s):// tracking server, that models:/ URIs resolve in")
	fs.BoolVar(&o.sharedPaths, "shared-paths", false, "the local paths given (--lake, --input, the model folder) are on a file system every worker mounts at the same path; without it they are refused when workers run elsewhere (a job server's non-LOOPBACK environment)")
	fs.IntVar(&o.batchSize, "batch-size", pipelines.DefaultBatchSize, "texts per ONNX Runtime run")
	fs.BoolVar(&o.quantized, "quantized", false, "run the model folder's int8 onnx/model_quantized.onnx instead of onnx/model.onnx")
	fs.IntVar(&o.threads, "inference-threads", 1, "ONNX Runtime intra-op threads per inference; a worker runs cores / threads inferences at once on one session (0: one at a time on all cores)")
	fs.IntVar(&o.shards, "shards", 0, "parallel writers per table and inference groups (0: the CPUs in process; 4 × --parallelism on a job server, or 16 when it is not given)")
	o.codecFlag(fs)
	fs.StringVar(&o.monitoring, "monitoring", "", "folder for the monitoring series and charts (default: LAKE/_monitoring, or ./_monitoring for an s3:// or gs:// lake)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (go tool pprof) to this file")
	o.jobOptions = pipelines.JobOptions{}
	fs.Func("job-option", "NAME=VALUE: a pipeline option for a job server's runner that Beam's Go SDK does not pass, e.g. sdk_worker_parallelism=2 (SDK worker processes per Flink task manager or Spark executor) or checkpointing_interval=10000 (Flink, ms); repeatable. A streaming job sends streaming=true, max_bundle_time_mills (a tenth of --trigger, 100 to 1000) and shutdown_sources_after_idle_ms=0 unless given", func(s string) error {
		name, v, err := pipelines.ParseJobOption(s)
		if err == nil {
			o.jobOptions[name] = v
		}
		return err
	})
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	// Beam's flags, registered on the process's flag set by its packages,
	// set the same variables through this command's flag set.
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if !own[f.Name] {
			fs.Var(f.Value, f.Name, f.Usage)
			beamFlags[f.Name] = true
		}
	})
}

// beamFlags are the flags a command took from Beam (left out of its help).
var beamFlags = map[string]bool{}

// env is where the pipeline runs, from Beam's flags as parsed.
func (o *options) env() pipelines.Env {
	return pipelines.Env{Runner: *runners.Runner, Endpoint: *jobopts.Endpoint,
		EnvironmentType: *jobopts.EnvironmentType, EnvironmentConfig: *jobopts.EnvironmentConfig,
		WorkerBinary: *jobopts.WorkerBinary, Parallelism: *jobopts.Parallelism, JobName: *jobopts.JobName,
		Experiments: jobopts.GetExperiments(), JobOptions: o.jobOptions}
}

// config is the pipeline's configuration; fromTable is what a rescore or
// a rebuild reads ("": the run reads --input or its stages' upstream).
func (o *options) config(fromTable string) pipelines.Config {
	return pipelines.Config{Input: o.input, Lake: o.lake, Shards: o.shards, Codec: o.codec,
		Model: o.model, Registry: o.registry, BatchSize: o.batchSize, Threads: o.threads, Quantized: o.quantized,
		MaxBatchBytes: o.maxBatchBytes, Monitoring: o.monitoring, Stages: o.stages, FromTable: fromTable,
		SharedPaths: o.sharedPaths, Limits: o.limits, Env: o.env(), Kafka: o.kafkaOptions()}
}

// kafkaOptions are the Kafka flags with the SASL password from the
// environment.
func (o *options) kafkaOptions() pipelines.KafkaOptions {
	k := o.kafka
	k.Source.SASLPassword = os.Getenv("MEDALLION_KAFKA_PASSWORD")
	return k
}

func main() {
	args := os.Args[1:]
	if isWorker(args) {
		// A job server started this binary as an SDK worker (PROCESS or
		// DOCKER environment): beam.Init runs the worker and exits.
		flag.Parse()
		beam.Init()
		return
	}
	os.Exit(dispatch(args))
}

// isWorker reports whether Beam's boot program started this process as a
// worker (--worker=true).
func isWorker(args []string) bool {
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "worker", "worker=true":
			return strings.HasPrefix(a, "-")
		}
	}
	return false
}

// dispatch runs the command args name and returns the exit code.
func dispatch(args []string) int {
	if len(args) == 0 {
		printCommands(os.Stderr)
		return exitUsage
	}
	name := args[0]
	if strings.HasPrefix(name, "-") {
		if name == "-h" || name == "--help" || name == "-help" {
			printCommands(os.Stdout)
			return exitOK
		}
		if msg := removedFlag(args); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
			return exitUsage
		}
		fmt.Fprintf(os.Stderr, "medallion: name a command first, e.g. medallion run %s\n\n", strings.Join(args, " "))
		printCommands(os.Stderr)
		return exitUsage
	}
	if name == "help" {
		if len(args) < 2 {
			printCommands(os.Stdout)
			return exitOK
		}
		cmd, ok := lookup(args[1])
		if !ok {
			fmt.Fprintf(os.Stderr, "medallion help: no command %q (medallion help lists them)\n", args[1])
			return exitUsage
		}
		fs, o := newFlagSet(cmd)
		printUsage(os.Stdout, cmd, fs, o)
		return exitOK
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "medallion: no command %q\n\n", name)
		printCommands(os.Stderr)
		return exitUsage
	}
	if msg := removedFlag(args[1:]); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		return exitUsage
	}
	fs, o := newFlagSet(cmd)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(os.Stdout, cmd, fs, o)
			return exitOK
		}
		fmt.Fprintf(os.Stderr, "medallion %s: %v (medallion help %s lists its flags)\n", cmd.name, err, cmd.name)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "medallion %s: unexpected argument %q (flags only; medallion help %s lists them)\n", cmd.name, fs.Arg(0), cmd.name)
		return exitUsage
	}
	if o.lake == "" {
		fmt.Fprintf(os.Stderr, "medallion %s: --lake is required\n", cmd.name)
		return exitUsage
	}
	beam.Init()
	pipelines.QuietLogs(os.Stderr, o.verbose)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := cmd.run(ctx, o); err != nil {
		return fail(err, o.verbose)
	}
	return exitOK
}

func lookup(name string) (command, bool) {
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return commands[i], true
}

// removedFlag returns the line that refuses a verb flag of the command's
// flags-only days, naming its subcommand ("" when args have none).
func removedFlag(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if sub, ok := removedFlags[name]; ok {
			return fmt.Sprintf("medallion: --%s is now a subcommand: medallion %s [flags] (medallion help lists the commands)", name, sub)
		}
	}
	return ""
}

// newFlagSet is cmd's flags: --lake and --verbose, then its own.
func newFlagSet(cmd command) (*flag.FlagSet, *options) {
	o := &options{}
	fs := flag.NewFlagSet("medallion "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed by dispatch
	fs.StringVar(&o.lake, "lake", "", "where the Delta tables live: a folder, s3://bucket/prefix or gs://bucket/prefix (required)")
	fs.BoolVar(&o.verbose, "verbose", false, "show the runner's logs and a failure's full error; without it a failure is one line and a hint")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !beamFlags[f.Name] {
			o.own = append(o.own, f.Name)
		}
	})
	return fs, o
}

func printCommands(w io.Writer) {
	fmt.Fprintf(w, "medallion: the tweet sentiment medallion pipeline (raw tweets → bronze → silver → gold → application, as Delta tables)\n\nusage: medallion COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-9s %s\n\nmedallion help COMMAND (or medallion COMMAND --help) lists a command's flags.\n", "help", "this list, or one command's flags")
	fmt.Fprintf(w, "Exit codes: 0 done, 1 a run failed, 2 bad usage or configuration.\n")
}

func printUsage(w io.Writer, cmd command, fs *flag.FlagSet, o *options) {
	fmt.Fprintf(w, "usage: medallion %s %s [flags]\n\n%s\n\nflags:\n", cmd.name, cmd.args, cmd.summary)
	for _, name := range o.own {
		f := fs.Lookup(name)
		fmt.Fprintf(w, "  --%s\t%s", f.Name, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	}
	if len(o.own) < countFlags(fs) {
		fmt.Fprintf(w, "\nBeam's flags choose the runner: --runner=prism|direct|universal|flink|spark|dataflow, --endpoint=HOST:PORT,\n"+
			"--environment_type=LOOPBACK|PROCESS|DOCKER, --environment_config, --worker_binary, --parallelism, --job_name, ...\n")
	}
}

func countFlags(fs *flag.FlagSet) int {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n
}

// startProfile starts a CPU profile when asked; stop ends it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		return nil, usageError{fmt.Errorf("--cpuprofile: %w", err)}
	}
	return pprof.StopCPUProfile, nil
}

// usageError marks an error of the command line or configuration (exit 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// opened opens a configuration (its settings checked, its model resolved
// and loaded) before any run: what fails here is a usage or configuration
// error.
func opened(ctx context.Context, c pipelines.Config) (pipelines.Config, error) {
	if err := c.Open(ctx); err != nil {
		return c, usageError{err}
	}
	return c, nil
}

// prepare opens the pipeline's configuration (fromTable: what a rescore or
// rebuild reads) and starts the CPU profile when asked; stop ends it.
func prepare(ctx context.Context, o *options, fromTable string) (cfg pipelines.Config, stop func(), err error) {
	cfg = o.config(fromTable)
	stopMetrics := serveMetrics(&cfg, o.metricsAddr)
	if cfg, err = opened(ctx, cfg); err != nil {
		stopMetrics()
		return cfg, nil, err
	}
	stopProfile, err := startProfile(o.cpuProfile)
	if err != nil {
		stopMetrics()
		return cfg, nil, err
	}
	return cfg, func() { stopProfile(); stopMetrics() }, nil
}

// serveMetrics serves the run's metrics and live page on addr, when given.
// An address it cannot listen on is one line: the run goes on without.
func serveMetrics(cfg *pipelines.Config, addr string) (stop func()) {
	if addr == "" {
		return func() {}
	}
	m := pipelines.NewMetrics()
	url, stop, err := m.Serve(addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "medallion: %v; the run goes on without metrics\n", err)
		return func() {}
	}
	cfg.Metrics = m
	fmt.Printf("metrics at %smetrics, live page at %s\n", url, url)
	return stop
}

func runBatch(ctx context.Context, o *options) error {
	cfg, stop, err := prepare(ctx, o, "")
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	env := cfg.Env
	if st, err := pipelines.ParseStages(cfg.Stages); err == nil && st.First == transforms.RawBronze {
		if n, err := firstBatchFiles(cfg); err == nil {
			var done func()
			env.Progress, done = progressBar(n)
			defer done()
		}
	}
	sum, err := pipelines.Run(ctx, cfg, env.Executor(ctx))
	if err != nil {
		return err
	}
	sum.Elapsed = time.Since(start)
	sum.Print(os.Stdout)
	if sum.Batch >= 0 {
		if err := pipelines.MonitorBatch(cfg.Monitoring, sum, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "medallion: monitoring: %v\n", err)
		}
	}
	return nil
}

// progressBar shows files read and texts inferred while a job runs, when
// stdout is a terminal (nil otherwise); done clears it. A batch's counters
// start again from zero, and so does the bar.
func progressBar(files int) (progress func(read, inferred int64), done func()) {
	if !term.IsTerminal(int(os.Stdout.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(files, progressbar.OptionSetDescription("batch"), progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	var last int64
	return func(read, inferred int64) {
		if read < last {
			bar.Reset()
		}
		last = read
		bar.Describe(fmt.Sprintf("files read; %s texts inferred", pipelines.FormatCount(inferred)))
		bar.Set64(read)
	}, func() { bar.Finish() }
}

func runStream(ctx context.Context, o *options) error {
	cfg, stop, err := prepare(ctx, o, "")
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	// SIGINT asks the stream to stop: its jobs themselves must not be
	// cancelled, or the batches in flight would be lost.
	jobCtx := context.WithoutCancel(ctx)
	res, err := pipelines.Stream(ctx, cfg, cfg.Env.Executor(jobCtx), pipelines.StreamOptions{Trigger: o.trigger, IdleTimeout: o.idleTimeout,
		Monitor: o.monitor, MicroBatch: o.microBatch, JobRunner: cfg.Env.ForStream(o.trigger).Executor(jobCtx)}, os.Stdout)
	if err != nil {
		return err
	}
	fmt.Printf("stream stopped (%s): bronze %s, silver %s, gold %s rows; elapsed %s\n", res.Stopped,
		pipelines.FormatCount(res.Totals[transforms.BronzeTable.Stream]), pipelines.FormatCount(res.Totals[transforms.SilverTable.Stream]), pipelines.FormatCount(res.Totals[transforms.GoldTable.Stream]), time.Since(start).Round(time.Millisecond))
	return nil
}

func stopStream(_ context.Context, o *options) error {
	if err := pipelines.RequestStop(o.lake); err != nil {
		return err
	}
	fmt.Printf("asked the stream on %s to stop; it commits its current batch first (medallion status shows when it has)\n", o.lake)
	return nil
}

func rescore(ctx context.Context, o *options) error {
	o.stages = pipelines.StagesAll
	cfg, stop, err := prepare(ctx, o, transforms.SilverTable.Name)
	if err != nil {
		return err
	}
	defer stop()
	res, err := pipelines.Rescore(ctx, cfg, cfg.Env.Executor(ctx))
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}

func rebuild(ctx context.Context, o *options) error {
	o.stages = pipelines.StagesAll
	cfg, stop, err := prepare(ctx, o, transforms.BronzeTable.Name)
	if err != nil {
		return err
	}
	defer stop()
	res, err := pipelines.RebuildSilver(ctx, cfg, cfg.Env.Executor(ctx))
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}

func abandon(ctx context.Context, o *options) error {
	if o.batch < 0 {
		return usageError{errors.New("--batch N is required: the unfinished batch to close (medallion status, or the run's error, names it)")}
	}
	rec, err := pipelines.AbandonBatch(ctx, o.lake, o.batch)
	if err != nil {
		return err
	}
	held := "no table"
	if len(rec.Held) > 0 {
		held = strings.Join(rec.Held, ", ")
	}
	fmt.Printf("batch %d abandoned: closed in %s (held by %s); record in %s", rec.Batch, strings.Join(rec.Closed, ", "), held, rec.Record)
	if slices.Contains(rec.Closed, transforms.QuarantineTable.Name) {
		fmt.Printf("; %d planned file(s) in quarantine as %q", len(rec.Files), pipelines.ReasonAbandoned)
	}
	fmt.Println()
	return nil
}

// status prints whether a stream runs on the lake, with its last progress.
func status(lakeDir string) error {
	hb, err := pipelines.Status(lakeDir)
	if err != nil || hb == nil {
		if err == nil {
			fmt.Printf("no stream has run against %s\n", lakeDir)
		}
		return err
	}
	state := hb.State
	if hb.Silent(time.Now()) {
		state = "not responding (killed? its last heartbeat is old; a new run finishes its batch)"
	}
	fmt.Printf("stream on %s: %s\n  pid %d on %s, reading %s, started %s, last progress %s\n  batches %d (last %d)",
		lakeDir, state, hb.PID, hb.Host, hb.Input, hb.Started.Local().Format(time.DateTime), hb.Updated.Local().Format(time.DateTime),
		hb.Batches, hb.LastBatch)
	if hb.Reason != "" {
		fmt.Printf(", stopped: %s", hb.Reason)
	}
	fmt.Println()
	for _, t := range transforms.Tables {
		if t.Stream != "" {
			fmt.Printf("  %-14s %10s rows\n", t.Stream, pipelines.FormatCount(hb.Totals[t.Stream]))
		}
	}
	return nil
}

func reset(ctx context.Context, o *options) error {
	removed, err := pipelines.Reset(ctx, o.lake)
	switch {
	case len(removed) == 0 && err == nil:
		fmt.Printf("nothing to remove under %s\n", o.lake)
	case lake.IsRemote(o.lake):
		fmt.Printf("removed %d objects under %s\n", len(removed), o.lake)
	default:
		for _, p := range removed {
			fmt.Printf("removed %s\n", p)
		}
	}
	return err
}

func optimize(ctx context.Context, o *options) error {
	done, err := pipelines.Optimize(ctx, o.lake, o.codec)
	for _, c := range done {
		if c.Version < 0 {
			fmt.Printf("%-12s %d file(s): nothing to compact\n", c.Table, c.Before)
		} else {
			fmt.Printf("%-12s %d files → %d (version %d)\n", c.Table, c.Before, c.After, c.Version)
		}
	}
	return err
}

func vacuum(ctx context.Context, o *options) error {
	done, err := pipelines.Vacuum(ctx, o.lake, o.retention)
	for _, v := range done {
		fmt.Printf("%-12s removed %d unreferenced file(s) older than %s\n", v.Table, len(v.Removed), o.retention)
	}
	return err
}

// settingFlags are the flags that give the pipeline's settings: a
// Failure names settings by their Config, Env or StreamOptions field.
var settingFlags = map[string]string{
	"Lake": "lake", "Input": "input", "Codec": "codec", "Shards": "shards", "Stages": "stages", "Quantized": "quantized",
	"Model": "model", "Registry": "registry", "SharedPaths": "shared-paths", "MicroBatch": "micro-batch", "Verbose": "verbose",
	"KafkaLostOffsets": "kafka-lost-offsets", "KafkaStartingOffsets": "kafka-starting-offsets", "KafkaMaxMessages": "kafka-max-messages",
	"Runner": "runner", "EnvironmentType": "environment_type", "Endpoint": "endpoint", "WorkerBinary": "worker_binary",
}

// flagOf names a setting by its flag.
func flagOf(setting string) string {
	if f, ok := settingFlags[setting]; ok {
		return "--" + f
	}
	return setting
}

// fail prints err as one line (the root cause, not the runner's plan dumps)
// and, when it has one, a hint on the next; verbose adds the full error. It
// returns the exit code: 2 for usage and configuration, 1 otherwise.
func fail(err error, verbose bool) int {
	code := exitFailed
	if errors.As(err, new(usageError)) {
		code = exitUsage
	}
	var f *pipelines.Failure
	if errors.As(err, &f) {
		// What wraps the failure, then the failure with its settings named
		// by their flags.
		context := strings.TrimSuffix(err.Error(), f.Error())
		fmt.Fprintf(os.Stderr, "medallion: %s%s\n", context, pipelines.Render(f.Msg, flagOf))
		if f.Hint != "" {
			fmt.Fprintf(os.Stderr, "  next: %s\n", pipelines.Render(f.Hint, flagOf))
		}
	} else {
		cause := pipelines.RootCause(err)
		fmt.Fprintf(os.Stderr, "medallion: %s\n", cause)
		if hint := pipelines.HintFor(cause); hint != "" {
			fmt.Fprintf(os.Stderr, "  next: %s\n", pipelines.Render(hint, flagOf))
		}
	}
	if verbose {
		fmt.Fprintf(os.Stderr, "full error: %+v\n", err)
	}
	return code
}

// firstBatchFiles is what the progress bar counts up to: the first batch's
// files (a Kafka topic's batches have none).
func firstBatchFiles(cfg pipelines.Config) (int, error) {
	if transforms.IsKafka(cfg.Input) {
		return 0, fmt.Errorf("kafka input: no files to count")
	}
	return pipelines.FirstBatchFiles(cfg.Input, cfg.MaxBatchBytes)
}
