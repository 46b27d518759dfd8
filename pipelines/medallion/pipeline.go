package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // file:// and plain paths

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// Config is one run of the pipeline.
type Config struct {
	Input  string // folder or glob of raw files
	Lake   string // folder holding the tables
	Shards int
	Codec  string
	Limits transforms.Limits // zero: transforms.DefaultLimits

	Model     string // models:/NAME/STAGE, models:/NAME/VERSION, models:/NAME@ALIAS or a folder
	Registry  string // MLflow file store the models:/ URIs resolve in
	BatchSize int    // texts per ONNX Runtime run
	Threads   int    // ONNX Runtime intra-op threads (0: all cores)

	model tracking.Resolved // set by Validate
}

// Validate checks the configuration before anything runs, so mistakes fail
// with a clear message rather than inside a worker.
func (c *Config) Validate() error {
	if c.Input == "" || c.Lake == "" {
		return errors.New("--input and --lake are required")
	}
	if st, err := os.Stat(c.Input); err == nil && !st.IsDir() {
		return fmt.Errorf("--input %s is a file: give its folder or a glob", c.Input)
	} else if err != nil {
		if m, _ := filepath.Glob(c.Input); len(m) == 0 && !hasMeta(c.Input) {
			return fmt.Errorf("--input %s: %w", c.Input, err)
		}
	}
	if c.Codec != "zstd" && c.Codec != "snappy" {
		return fmt.Errorf("--codec %q: want zstd or snappy", c.Codec)
	}
	if c.Shards < 1 {
		return fmt.Errorf("--shards %d: want at least 1", c.Shards)
	}
	if c.Limits == (transforms.Limits{}) {
		c.Limits = transforms.DefaultLimits
	}
	abs, err := filepath.Abs(c.Lake)
	if err != nil {
		return err
	}
	c.Lake = abs
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	// Resolve and open the model now: a missing or broken model fails here,
	// with a hint, before any data is read.
	res, err := tracking.Registry{Root: c.Registry}.Resolve(c.Model)
	if err != nil {
		return err
	}
	if res.Dir, err = filepath.Abs(res.Dir); err != nil {
		return err
	}
	m, err := inference.Load(res.Dir, inference.Options{BatchSize: c.BatchSize, IntraOpThreads: 1})
	if err != nil {
		return err
	}
	m.Close()
	c.model = res
	return nil
}

// DefaultBatchSize is the texts per ONNX Runtime run; see docs/BENCHMARKS.md.
const DefaultBatchSize = 32

func hasMeta(p string) bool {
	for _, r := range p {
		if r == '*' || r == '?' || r == '[' {
			return true
		}
	}
	return false
}

// glob is the file pattern of the input: a folder means every file in it.
func (c Config) glob() string {
	if st, err := os.Stat(c.Input); err == nil && st.IsDir() {
		abs, _ := filepath.Abs(c.Input)
		return filepath.Join(abs, "*")
	}
	abs, _ := filepath.Abs(c.Input)
	return abs
}

// Table names under the lake.
const (
	BronzeTable      = "bronze"
	SilverTable      = "silver"
	QuarantineTable  = "quarantine"
	GoldTable        = "gold"
	ApplicationTable = "application"
)

// Tables lists the lake's tables in pipeline order.
var Tables = []string{BronzeTable, SilverTable, QuarantineTable, GoldTable, ApplicationTable}

func (c Config) table(name string) string { return filepath.Join(c.Lake, name) }

// Build adds the batch pipeline to s: it reads like the medallion diagram.
func Build(s beam.Scope, c Config) {
	files := fileio.ReadMatches(s, fileio.MatchFiles(s, c.glob(), fileio.MatchEmptyAllow()), fileio.ReadDirectorySkip())
	bronze, bronzeQuarantine := transforms.Bronze(s, files, c.Limits)
	silver, silverQuarantine := transforms.Silver(s, bronze)
	quarantine := beam.Flatten(s, bronzeQuarantine, silverQuarantine)

	gold := transforms.Gold(s, silver, transforms.InferenceConfig{
		ModelDir: c.model.Dir, BatchSize: c.BatchSize, Threads: c.Threads, Shards: c.Shards})

	write := func(name string, schema lake.Schema, rows beam.PCollection, params map[string]string) beam.PCollection {
		return deltaio.Write(s, deltaio.Config{Location: c.table(name), BaseSchema: schema, Shards: c.Shards, Codec: c.Codec, Parameters: params}, rows)
	}
	write(BronzeTable, transforms.BronzeSchema, bronze, nil)
	write(SilverTable, transforms.SilverSchema, silver, nil)
	write(QuarantineTable, transforms.QuarantineSchema, quarantine, nil)
	goldCommitted := write(GoldTable, transforms.GoldSchema, gold, map[string]string{
		"model_uri": c.model.URI, "model_name": c.model.Name, "model_version": fmt.Sprint(c.model.Version), "model_dir": c.model.Dir})
	transforms.Application(s, gold, goldCommitted, c.table(ApplicationTable))
}

// Run builds and runs the pipeline with run, then summarises what it
// committed by reading the tables.
func Run(ctx context.Context, c Config, run func(*beam.Pipeline) (beam.PipelineResult, error)) (*Summary, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	before := map[string]int64{}
	for _, t := range Tables {
		v, err := latestVersion(ctx, c.table(t))
		if err != nil {
			return nil, err
		}
		before[t] = v
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, c)
	res, err := run(p)
	if err != nil {
		return nil, fmt.Errorf("pipeline failed (no partial data is visible: only committed table versions count): %w", err)
	}
	return summarize(ctx, c, before, res)
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
