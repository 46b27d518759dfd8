package pipelines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// input
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // file:// and plain paths

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	_ "github.com/tweetsentiment/medallion/lake/s3fs" // s3:// input
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// Config is one run of the pipeline.
type Config struct {
	Input string // folder or glob of raw files, or kafka://HOST:PORT[,HOST:PORT]/TOPIC
	// Kafka configures a kafka:// input (its brokers and topic come from Input).
	Kafka  KafkaOptions
	Lake   string // folder holding the tables, or s3://bucket/prefix, gs://bucket/prefix
	Shards int
	Codec  string
	Limits transforms.Limits // zero: transforms.DefaultLimits

	Model     string // models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS or a folder
	Registry  string // MLflow file store, or http(s):// tracking server, the models:/ URIs resolve in
	BatchSize int    // texts per ONNX Runtime run
	Threads   int    // ONNX Runtime intra-op threads (0: all cores)
	Quantized bool   // run onnx/model_quantized.onnx (int8) where the model folder has one
	// MaxBatchBytes caps the raw input one batch (one Beam job) takes; a run
	// goes on batch after batch until nothing new is left (0: no cap).
	MaxBatchBytes int64
	// Monitoring is the folder for the monitoring series and charts
	// (default LAKE/_monitoring; ./_monitoring for a lake on an object store).
	Monitoring string
	// Stages are the stages the run runs (--stages; "": the whole chain).
	// A run whose first stage is not raw:bronze reads its upstream table,
	// not --input.
	Stages string
	// FromTable is set when a rescore runs (silver): it reads silver, not
	// --input.
	FromTable string
	// SharedPaths declares that the local paths given (--lake, --input, the
	// model folder) are on a file system every worker mounts at the same
	// path. Without it, a local path is refused when the workers run
	// elsewhere (a job server's non-LOOPBACK environment).
	SharedPaths bool
	// Metrics, when set, are kept up to date as batches commit: what
	// --metrics-addr serves.
	Metrics *Metrics
	// Env is where the pipeline's jobs run (the zero Env: prism in this
	// process); validation uses it to tell whether workers run elsewhere.
	Env Env

	model  tracking.Resolved // set by Open
	stages Stages            // set by Validate
	opened bool              // Open has run
}

// Validate checks the settings and fills in defaults, without I/O, so
// mistakes fail with a clear message rather than inside a worker.
func (c *Config) Validate() error {
	if c.Lake == "" {
		return &Failure{Msg: "{Lake} is required"}
	}
	stages, err := ParseStages(c.Stages)
	if err != nil {
		return err
	}
	c.stages = stages
	if c.Input == "" && !c.fromTable() {
		return &Failure{Msg: "{Input} is required (unless the run starts from a table: a rescore, a rebuild, or {Stages} from bronze:silver on)"}
	}
	if c.Codec != "zstd" && c.Codec != "snappy" {
		return &Failure{Msg: fmt.Sprintf("{Codec} %q: want zstd or snappy", c.Codec)}
	}
	if c.Shards == 0 {
		c.Shards = c.Env.DefaultShards()
	}
	if c.Shards < 1 {
		return &Failure{Msg: fmt.Sprintf("{Shards} %d: want at least 1", c.Shards)}
	}
	if c.Limits == (transforms.Limits{}) {
		c.Limits = transforms.DefaultLimits
	}
	if c.kafka() && !c.fromTable() {
		if err := c.validateKafka(); err != nil {
			return err
		}
	}
	if c.Monitoring == "" {
		c.Monitoring = filepath.Join(c.Lake, monitoringDir)
		if lake.IsRemote(c.Lake) {
			c.Monitoring = monitoringDir
		}
	}
	// Workers resolve paths from their own working folder: a streaming
	// job's source lists --input on a worker, not here.
	for _, p := range []*string{&c.Lake, &c.Input} {
		if *p == "" || lake.IsRemote(*p) || transforms.IsKafka(*p) {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	return c.checkWorkersReach(nil)
}

// Open validates the configuration and opens what its runs need, once: the
// input is checked, and the model resolved in its registry, mirrored when
// it is on an object store and loaded as the gold workers will load it, so
// a missing or broken model fails here, with a hint, before any data is
// read. Run, RunBatch, Stream, Rescore and RebuildSilver open a
// configuration that is not open yet; copies of an open one stay open.
func (c *Config) Open(ctx context.Context) error {
	if c.opened {
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	// An object-store prefix exists once an object does (a stream may start
	// before the first file lands): remote input is checked when planned.
	if c.kafka() && !c.fromTable() {
		if err := c.openKafka(ctx); err != nil {
			return err
		}
	} else if c.Input != "" && !c.fromTable() && !lake.IsRemote(c.Input) {
		if st, err := os.Stat(c.Input); err == nil && !st.IsDir() {
			return &Failure{Msg: fmt.Sprintf("{Input} %s is a file: give its folder or a glob", c.Input)}
		} else if err != nil {
			if m, _ := filepath.Glob(c.Input); len(m) == 0 && !hasMeta(c.Input) {
				return &Failure{Msg: fmt.Sprintf("{Input} %s: %v", c.Input, err), Err: err}
			}
		}
	}
	if !c.needsModel() {
		// Stages that do not score (raw:bronze, bronze:silver,
		// gold:application) run without a model or ONNX Runtime.
		c.model, c.opened = tracking.Resolved{}, true
		return nil
	}
	res, err := tracking.NewResolver(c.Registry).Resolve(c.Model)
	if err != nil {
		return err
	}
	remoteModel := lake.IsRemote(res.Dir)
	if !remoteModel {
		if res.Dir, err = filepath.Abs(res.Dir); err != nil {
			return err
		}
	}
	if err := c.checkWorkersReach(&res); err != nil {
		return err
	}
	// A model on an object store is fetched by every worker process into
	// its cache and checked against the content digest computed here, so
	// all of them run the model resolved now. The driver's copy serves the
	// checks below and, with workers in this process, the workers too.
	dir := res.Dir
	if remoteModel {
		if dir, res.Digest, err = inference.Mirror(ctx, res.Dir); err != nil {
			return err
		}
	}
	if p, err := inference.FindModelFile(dir, true); c.Quantized && (err != nil || filepath.Base(p) != "model_quantized.onnx") {
		return &Failure{Msg: fmt.Sprintf("{Quantized}: model %s (%s) has no onnx/model_quantized.onnx or model_quantized.onnx", c.Model, res.Dir)}
	}
	if c.Env.workersElsewhere() {
		// Nothing of the model runs in this process: it needs no ONNX
		// Runtime, only a folder with a model in it.
		if _, err := inference.FindModelFile(dir, c.Quantized); err != nil {
			return fmt.Errorf("model %s: %w", c.Model, err)
		}
	} else if _, err := inference.Acquire(dir, c.inferenceConfig(dir).Options()); err != nil {
		// Acquire the model exactly as the gold workers will: in-process
		// runners (prism, direct, LOOPBACK) then reuse this session,
		// already loaded, with its prediction cache, in every batch.
		return err
	}
	c.model, c.opened = res, true
	c.Metrics.setModel(c.Model, res)
	return nil
}

// checkWorkersReach refuses, when the workers may run on other machines,
// the local paths they would have to open (unless declared shared): a
// worker elsewhere would otherwise fail, or read another machine's folder,
// long after the job started.
func (c *Config) checkWorkersReach(model *tracking.Resolved) error {
	if !c.Env.workersElsewhere() || c.SharedPaths {
		return nil
	}
	where := fmt.Sprintf("the workers may run on other machines ({Runner} %s, {EnvironmentType} %s)", c.Env.RunnerName(), c.Env.EnvironmentType)
	const shared = "or set {SharedPaths} if every worker mounts that path at the same place"
	switch {
	case !lake.IsRemote(c.Lake):
		return &Failure{Msg: fmt.Sprintf("{Lake} %s is a local path, but %s", c.Lake, where),
			Hint: "put the lake on an object store ({Lake} s3://bucket/prefix or gs://bucket/prefix), " + shared}
	case c.Input != "" && !c.fromTable() && !lake.IsRemote(c.Input) && !c.kafka():
		return &Failure{Msg: fmt.Sprintf("{Input} %s is a local path, but %s", c.Input, where),
			Hint: "put the raw files on an object store ({Input} s3://bucket/raw or gs://bucket/raw), " + shared}
	case model != nil && !lake.IsRemote(model.Dir):
		return &Failure{Msg: fmt.Sprintf("{Model} %s is the local folder %s, but %s", c.Model, model.Dir, where),
			Hint: "put the model folder on an object store ({Model} s3://bucket/model-folder, or a registry there: {Registry} s3://bucket/mlruns), " +
				"from where each worker fetches it, " + shared}
	}
	return nil
}

// fromTable reports whether the run reads a table rather than --input.
func (c *Config) fromTable() bool { return c.FromTable != "" || c.stages.First > transforms.RawBronze }

// needsModel reports whether the run scores rows: a rescore, or stages
// that include silver:gold.
func (c *Config) needsModel() bool {
	return c.FromTable == transforms.SilverTable.Name || c.stages.has(transforms.SilverGold)
}

// inferenceConfig is how gold runs the model in modelDir: a local folder,
// or the resolved model's location on an object store, which workers fetch
// and check against its digest.
func (c Config) inferenceConfig(modelDir string) transforms.InferenceConfig {
	ic := transforms.InferenceConfig{ModelDir: modelDir, BatchSize: c.BatchSize, Threads: c.Threads, Shards: c.Shards, Quantized: c.Quantized}
	if lake.IsRemote(modelDir) {
		ic.ModelDir, ic.ModelLocation, ic.ModelDigest = "", modelDir, c.model.Digest
	}
	return ic
}

// DefaultBatchSize is the texts per ONNX Runtime run; see docs/BENCHMARKS.md.
const DefaultBatchSize = inference.DefaultBatchSize

func hasMeta(p string) bool {
	for _, r := range p {
		if r == '*' || r == '?' || r == '[' {
			return true
		}
	}
	return false
}

func (c Config) table(name string) string { return lake.Join(c.Lake, name) }

// Build adds one batch of the pipeline to s: the plan's files (or, for a
// replay, bronze's committed rows) through the plan's stages (medallion),
// each table committed once with the batch's txn (the stages' app id,
// the batch), so a batch that is run again after a crash adds nothing twice.
func Build(s beam.Scope, c Config, b Batch) {
	st := b.Plan.stages()
	var in upstream
	if b.Replay != nil {
		// Bronze and quarantine hold the batch, but its files are no longer
		// what they read: the other tables follow from bronze's rows (and
		// the run's raw records from bronze's commit).
		in.bronze = beam.Reshuffle(s, beam.CreateList(s, b.Replay))
	} else if len(b.Plan.Kafka) > 0 {
		in = c.readKafka(s, c.Kafka.Source, b.Plan.Kafka)
	} else {
		// The plan enters from one impulse: Reshuffle spreads its files over
		// every worker, or reading and parsing would run in one bundle.
		in = c.readRaw(s, beam.Reshuffle(s, beam.CreateList(s, b.Plan.planned())), len(b.Held) == 0)
	}
	c.medallion(s, st, in, batchSink{c: c, st: st, version: b.Plan.Batch, plan: b.Plan})
}

func (c Config) modelInfo() *transforms.ModelInfo {
	return &transforms.ModelInfo{URI: c.model.URI, Name: c.model.Name, Version: c.model.Version}
}

func (c Config) modelParams() map[string]string {
	return map[string]string{"model_uri": c.model.URI, "model_name": c.model.Name, "model_version": fmt.Sprint(c.model.Version), "model_dir": c.model.Dir}
}

// batchTxn names a batch's commits by their txn action.
func batchTxn(st Stages, batch int64) string { return fmt.Sprintf("%s=%d", st.appID(), batch) }

// Run runs the configured stages over everything new: from the raw files,
// batch after batch of files no earlier run ingested; from a table, offset
// after offset of the commits appended to it since the stages' checkpoint.
// A batch or offset a killed run left unfinished is finished first. It
// returns what they all did; with nothing to do, a summary with no batch.
func Run(ctx context.Context, c Config, run Runner) (*Summary, error) {
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	next, err := c.stepper(ctx, run, true)
	if err != nil {
		return nil, err
	}
	total := &Summary{Batch: -1, Stages: c.stages, Topic: c.Kafka.Source.Topic}
	m := c.Metrics // nil: none kept
	m.start(ctx, c, 0)
	pending := c.backlog(ctx)
	for {
		m.countBacklog(ctx, pending)
		m.setState("running", "")
		sum, err := next(ctx)
		if err != nil {
			m.setState("failed", err.Error())
			return nil, err
		}
		if sum.Batch < 0 {
			m.setState("done", "")
			return total, nil
		}
		pending.done(sum.Batch)
		total.add(sum)
	}
}

// RunBatch runs one batch (or offset): an unfinished one first, else a new
// plan of at most MaxBatchBytes of new files (or of the upstream table's
// new commits). With nothing to do it returns a summary with no batch.
func RunBatch(ctx context.Context, c Config, run Runner) (*Summary, error) {
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	next, err := c.stepper(ctx, run, true)
	if err != nil {
		return nil, err
	}
	return next(ctx)
}

// stepper returns what runs the next batch of a validated configuration:
// a plan of raw files or Kafka offsets, or an offset of the upstream
// table's commits. A bounded run reads a topic up to the end offsets it
// finds now (a run); an unbounded one, what is there at each batch (a
// stream).
func (c Config) stepper(ctx context.Context, run Runner, bounded bool) (func(context.Context) (*Summary, error), error) {
	if c.stages.First > transforms.RawBronze {
		return func(ctx context.Context) (*Summary, error) { return runNextOffset(ctx, c, run) }, nil
	}
	cp, err := openCheckpoint(ctx, c.Lake)
	if err != nil {
		return nil, err
	}
	if c.kafka() {
		k := &kafkaPlanner{c: c, cp: cp}
		if bounded {
			if k.bound, err = c.kafkaEnd(ctx); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context) (*Summary, error) {
			plan, redo, err := k.next(ctx)
			if err != nil || plan == nil {
				return &Summary{Batch: -1, Stages: c.stages, Topic: c.Kafka.Source.Topic}, err
			}
			return runPlan(ctx, c, plan, redo, run)
		}, nil
	}
	return func(ctx context.Context) (*Summary, error) { return runNext(ctx, c, cp, run) }, nil
}

// runNext plans and runs the next batch of raw files.
func runNext(ctx context.Context, c Config, cp *checkpoint, run Runner) (*Summary, error) {
	files, err := listInput(c.Input, cp.isClaimed)
	if err != nil {
		return nil, err
	}
	plan, redo, err := cp.next(ctx, files, c.MaxBatchBytes, c.stages)
	if err != nil || plan == nil {
		return &Summary{Batch: -1, Stages: c.stages}, err
	}
	return runPlan(ctx, c, plan, redo, run)
}

// runPlan runs one batch and summarises what it committed.
func runPlan(ctx context.Context, c Config, plan *Plan, redo bool, run Runner) (*Summary, error) {
	st := plan.stages()
	before := map[string]int64{}
	b := Batch{Plan: plan}
	for _, t := range st.tables() {
		v, held, err := batchHeld(ctx, c.table(t), st.appID(), plan.Batch)
		if err != nil {
			return nil, fmt.Errorf("batch %d: table %s: %w", plan.Batch, t, err)
		}
		before[t] = v
		if held {
			b.Held = append(b.Held, t)
		}
	}
	// Once a table holds the batch, its planned files must be read as they
	// were. When one is not, the batch is finished from bronze's committed
	// rows if bronze and quarantine hold it; otherwise only a human can
	// decide (put the file back, or --abandon-batch), and the run says so
	// now, in one line, rather than from inside a worker.
	if len(plan.Kafka) > 0 {
		if err := c.checkKafkaBatch(ctx, &b); err != nil {
			return nil, err
		}
	}
	if len(b.Held) > 0 {
		for _, f := range plan.planned() {
			_, _, err := transforms.CheckPlanned(ctx, f)
			var fault *transforms.FileFault
			if !errors.As(err, &fault) {
				continue
			}
			if !canReplay(b.Held) {
				return nil, stuckFailure(c, plan, b.Held, f.Path, fault)
			}
			if b.Replay, err = readBatchBronze(ctx, c, st.appID(), plan.Batch); err != nil {
				return nil, fmt.Errorf("batch %d: finish it from bronze (planned file %s: %v): %w", plan.Batch, f.Path, fault, err)
			}
			break
		}
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, c, b)
	sweepLoopbackFiles(os.TempDir(), time.Minute)
	res, err := run(p)
	if err != nil {
		return nil, batchFailure(plan.Batch, err)
	}
	sum, err := summarize(ctx, c, st, plan.Batch, before, res)
	if err != nil {
		return nil, err
	}
	sum.Batch, sum.FirstBatch, sum.Redo, sum.PlannedFiles, sum.PlannedMessages = plan.Batch, plan.Batch, redo, len(plan.Files), plan.messages()
	sum.Planned, sum.Landed = plan.Created, plan.landed()
	if b.Replay != nil && sum.untallied(transforms.TallyRawRecords) {
		// No file was read, and bronze's commit (made before commits
		// recorded tallies) does not say how many records it read: they are
		// what its committed bronze rows and bronze quarantine rows came from.
		sum.RawRecords = sum.table(transforms.BronzeTable.Name).Rows + sum.BronzeQuarantined
		sum.Untallied = slices.DeleteFunc(sum.Untallied, func(n string) bool { return n == transforms.TallyRawRecords })
	}
	if err := sum.Check(); err != nil {
		return nil, fmt.Errorf("batch %d: %w", plan.Batch, err)
	}
	c.Metrics.batch(ctx, c, sum)
	c.commitKafkaGroup(ctx, plan)
	return sum, nil
}

func latestVersion(ctx context.Context, dir string) (int64, error) {
	t := lake.Open(dir)
	ok, err := t.Exists(ctx)
	if err != nil || !ok {
		return -1, err
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return -1, err
	}
	return snap.Version, nil
}

// sweepLoopbackFiles removes the empty beamloopbackworker-* files Beam's
// portable runner library leaves in the temporary folder, one per job in
// LOOPBACK mode (which in-process prism uses): a stream with a 10 s trigger
// would leave 8,640 a day (apache/beam#27569). Only empty files older than
// minAge go, so another process's job still being staged keeps its file.
func sweepLoopbackFiles(dir string, minAge time.Duration) int {
	matches, _ := filepath.Glob(filepath.Join(dir, "beamloopbackworker-*"))
	removed := 0
	for _, m := range matches {
		st, err := os.Lstat(m)
		if err != nil || !st.Mode().IsRegular() || st.Size() != 0 || time.Since(st.ModTime()) < minAge {
			continue
		}
		if os.Remove(m) == nil {
			removed++
		}
	}
	return removed
}
