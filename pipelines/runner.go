package pipelines

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/metricsx"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"

	//lint:ignore SA1019 batch must also run on the direct runner (a requirement), deprecated as it is
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/extworker"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/runnerlib"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"
)

// Runner runs a built pipeline (prism, direct, a job server).
type Runner func(*beam.Pipeline) (beam.PipelineResult, error)

// Env is where a pipeline's jobs run: what Beam's runner flags say, as a
// value. The command fills it from the flags it parsed; nothing in this
// package reads or writes Beam's global flags, so one program can run
// pipelines on different runners side by side. The zero Env runs jobs on a
// prism job server in this process.
type Env struct {
	// Runner is "" or "prism" (in this process, unless Endpoint names a
	// prism job server), "direct" (batch only, in this process), or a job
	// server's: "universal", "flink", "spark" (submitted to Endpoint).
	// Other runners Beam registers ("dataflow") run through Beam's own
	// runner, which reads Beam's flags as the command parsed them.
	Runner   string
	Endpoint string // a job server's HOST:PORT
	// EnvironmentType is where a job server starts the SDK workers:
	// LOOPBACK (in this process), PROCESS, DOCKER (the default) or
	// EXTERNAL; EnvironmentConfig is its configuration (Beam's
	// --environment_config).
	EnvironmentType   string
	EnvironmentConfig string
	WorkerBinary      string // the binary PROCESS and DOCKER workers run ("": this one)
	Parallelism       int    // a job server's parallelism (0: the runner's default)
	JobName           string // "": a unique name per job
	Experiments       []string
	// JobOptions are options for a Java job server's runner that Beam's Go
	// SDK does not pass (see JobOptions).
	JobOptions JobOptions
	// Progress, when set, is called about four times a second while a job
	// runs with its live attempted counters bronze/files and
	// gold/texts_inferred (a progress bar; they overcount retried bundles).
	Progress func(files, inferred int64)
}

// RunnerName is the runner as a person names it.
func (e Env) RunnerName() string {
	if e.Runner == "" {
		return "prism"
	}
	return e.Runner
}

// inProcess reports whether jobs run in this process (prism started here,
// or the direct runner).
func (e Env) inProcess() bool {
	return e.Runner == "direct" || (e.Runner == "" || e.Runner == "prism") && e.Endpoint == ""
}

// onJobServer reports whether jobs are submitted to a job server elsewhere
// (a portable runner: Flink, Spark, Dataflow, a standalone prism) rather
// than run in this process.
func (e Env) onJobServer() bool {
	switch e.Runner {
	case "universal", "flink", "spark", "dataflow", "samza":
		return true
	case "", "prism":
		return e.Endpoint != ""
	}
	return false
}

// javaJobServer reports whether the runner is a Java job server's, which
// reads JobOptions.
func (e Env) javaJobServer() bool {
	switch e.Runner {
	case "universal", "flink", "spark":
		return true
	}
	return false
}

// loopback reports whether a job server's workers run in this process.
func (e Env) loopback() bool { return strings.EqualFold(e.EnvironmentType, "LOOPBACK") }

// workersElsewhere reports whether the pipeline's workers may run on other
// machines than this one: on a job server, unless its SDK harness loops
// back into this process.
func (e Env) workersElsewhere() bool { return e.onJobServer() && !e.loopback() }

// DefaultShards is the writers per table and inference groups when none
// are given: the CPUs for a runner in this process (prism, direct), four per
// slot of a job server's Parallelism (so keys that hash together still
// spread), and 16 when a job server chooses its own parallelism.
func (e Env) DefaultShards() int {
	if !e.onJobServer() {
		return runtime.NumCPU()
	}
	if e.Parallelism > 0 {
		return 4 * e.Parallelism
	}
	return 16
}

// ForStream returns the environment a streaming job runs in: on a Java job
// server's runner, JobOptions gain what a streaming job needs, unless they
// name it already:
//   - streaming=true: Beam's Go SDK does not send it. Flink switches to
//     streaming itself, but sizes bundles for batch (10 s), and a window
//     moves on only when a bundle ends: a batch took 30–40 s from plan to
//     commit at a 1 s trigger.
//   - max_bundle_time_mills: a tenth of the trigger, 100 ms to 1 s. A batch
//     passes about five bundle ends (measured on Flink at a 1 s trigger:
//     0.8 s from plan to commit at 100 ms, 1.1 s at 300, 5 s at 1000).
//   - shutdown_sources_after_idle_ms=0: with checkpointing on
//     (checkpointing_interval), Flink otherwise keeps the job's first step
//     running for ever, and a stopped stream's job never ends.
//
// Other runners get e as it is.
func (e Env) ForStream(trigger time.Duration) Env {
	if !e.javaJobServer() {
		return e
	}
	opts := JobOptions{
		"streaming":                      true,
		"max_bundle_time_mills":          float64(min(max(trigger/10, 100*time.Millisecond), time.Second).Milliseconds()),
		"shutdown_sources_after_idle_ms": float64(0),
	}
	for name, v := range e.JobOptions {
		opts[name] = v
	}
	e.JobOptions = opts
	return e
}

// jobOptions are the job options a job is submitted with: on a Java job
// server's runner, environment_cache_millis=10000 unless they name it.
// Without it Beam's Flink and Spark runners stop a stage's SDK workers when
// the stage ends and start new ones for the next, each fetching and copying
// the worker binary and loading the model again: a 300-tweet batch job on two
// TaskManagers started 10 Go workers instead of 2 and took 34 s of wall time
// and 43 s of CPU, against 24 s and 25 s with the cache (scripts/cluster.sh,
// 2026-12-04). A worker outlives the job's last stage by those 10 s.
func (e Env) jobOptions() JobOptions {
	if !e.javaJobServer() {
		return e.JobOptions
	}
	opts := JobOptions{"environment_cache_millis": float64(10000)}
	maps.Copy(opts, e.JobOptions)
	return opts
}

// Executor returns what runs a pipeline in this environment.
func (e Env) Executor(ctx context.Context) Runner {
	switch {
	case e.Runner == "direct":
		return func(p *beam.Pipeline) (beam.PipelineResult, error) { return direct.Execute(ctx, p) }
	case e.inProcess() || e.onJobServer() && e.Runner != "dataflow" && e.Runner != "samza":
		return func(p *beam.Pipeline) (beam.PipelineResult, error) { return e.submit(ctx, p) }
	default:
		return func(p *beam.Pipeline) (beam.PipelineResult, error) { return beam.Run(ctx, e.Runner, p) }
	}
}

// localPrism is the prism job server this process starts for in-process
// runs, once, shared by every pipeline of the process (as Beam's own prism
// runner shares it).
var localPrism struct {
	once     sync.Once
	endpoint string
	err      error
}

func startLocalPrism(ctx context.Context) (string, error) {
	localPrism.once.Do(func() {
		port, err := freePort()
		if err != nil {
			localPrism.err = err
			return
		}
		// The server outlives any one caller's context.
		if _, err := prism.CreateJobServer(context.WithoutCancel(ctx), prism.Options{Port: port}); err != nil {
			localPrism.err = fmt.Errorf("start prism: %w", err)
			return
		}
		localPrism.endpoint = fmt.Sprintf("localhost:%d", port)
	})
	return localPrism.endpoint, localPrism.err
}

// submit runs a pipeline on a job server as Beam's universal runner does,
// with e's settings instead of Beam's flags, and JobOptions added to the
// job's pipeline options.
func (e Env) submit(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
	endpoint, envType := e.Endpoint, strings.ToLower(e.EnvironmentType)
	if e.inProcess() {
		ep, err := startLocalPrism(ctx)
		if err != nil {
			return nil, err
		}
		endpoint, envType = ep, "loopback"
	}
	if endpoint == "" {
		return nil, &Failure{Msg: fmt.Sprintf("{Runner} %s needs a job server's {Endpoint} (HOST:PORT)", e.RunnerName())}
	}
	urn, envConfig := "beam:env:docker:v1", func(context.Context) string {
		if e.EnvironmentConfig == "" {
			return core.DefaultDockerImage
		}
		return e.EnvironmentConfig
	}
	bin := e.WorkerBinary
	switch envType {
	case "process":
		urn = "beam:env:process:v1"
	case "loopback", "external":
		urn = "beam:env:external:v1"
	}
	if envType == "loopback" {
		// The workers are this process: the staged binary is never run.
		srv, err := extworker.StartLoopback(ctx, 0)
		if err != nil {
			return nil, fmt.Errorf("loopback workers: %w", err)
		}
		defer srv.Stop(ctx)
		envConfig = srv.EnvironmentConfig
		f, err := os.CreateTemp("", "medallion-loopback-*")
		if err != nil {
			return nil, err
		}
		f.Close()
		defer os.Remove(f.Name())
		bin = f.Name()
	} else if bin == "" {
		self, ok := runnerlib.IsWorkerCompatibleBinary()
		if !ok {
			return nil, &Failure{Msg: "the workers need a binary for their OS and architecture", Hint: "build this program with CGO_ENABLED=1 for them and give it as {WorkerBinary}"}
		}
		bin = self
	}
	edges, _, err := p.Build()
	if err != nil {
		return nil, err
	}
	env, err := graphx.CreateEnvironment(ctx, urn, envConfig)
	if err != nil {
		return nil, fmt.Errorf("worker environment: %w", err)
	}
	pipe, err := graphx.Marshal(edges, &graphx.Options{Environment: env})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if err := runnerlib.UpdateGoEnvironmentWorker(bin, pipe); err != nil {
		return nil, fmt.Errorf("worker binary %s: %w", bin, err)
	}
	cc, err := grpcx.Dial(ctx, endpoint, 2*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("job server %s: %w", endpoint, err)
	}
	defer cc.Close()
	client := optionsClient{JobServiceClient: jobpb.NewJobServiceClient(cc), opts: e.jobOptions()}
	name := e.JobName
	if name == "" {
		name = fmt.Sprintf("medallion-%d-%d", os.Getpid(), jobSeq.Add(1))
	}
	prep, artifacts, token, err := runnerlib.Prepare(ctx, client, pipe, &runnerlib.JobOptions{
		Name: name, Experiments: e.Experiments, Worker: bin, Parallelism: e.Parallelism, Loopback: envType == "loopback",
	})
	if err != nil {
		return nil, err
	}
	if token, err = runnerlib.Stage(ctx, prep, artifacts, bin, token); err != nil {
		return nil, err
	}
	id, err := runnerlib.Submit(ctx, client, prep, token)
	if err != nil {
		return nil, err
	}
	if e.Progress != nil {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					e.Progress(liveCounters(ctx, client, id))
				}
			}
		}()
		defer func() { close(stop); <-done }()
	}
	runErr := runnerlib.WaitForCompletion(ctx, client, id)
	res := &jobResult{id: id, metrics: &metrics.Results{}}
	if m, err := client.GetJobMetrics(ctx, &jobpb.GetJobMetricsRequest{JobId: id}); err == nil {
		res.metrics = metricsx.FromMonitoringInfos(pipe, m.GetMetrics().GetAttempted(), m.GetMetrics().GetCommitted())
	} else if runErr == nil {
		runErr = fmt.Errorf("job %s: metrics: %w", id, err)
	}
	return res, runErr
}

// jobSeq numbers this process's jobs, for their default names.
var jobSeq atomic.Int64

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// liveCounters sums the user counters bronze/files and gold/texts_inferred
// of a running job.
func liveCounters(ctx context.Context, cli jobpb.JobServiceClient, id string) (files, inferred int64) {
	m, err := cli.GetJobMetrics(ctx, &jobpb.GetJobMetricsRequest{JobId: id})
	if err != nil {
		return 0, 0
	}
	for _, mi := range m.GetMetrics().GetAttempted() {
		if mi.GetUrn() != "beam:metric:user:sum_int64:v1" {
			continue
		}
		v, n := protowire.ConsumeVarint(mi.GetPayload())
		if n <= 0 {
			continue
		}
		switch mi.GetLabels()["NAMESPACE"] + "/" + mi.GetLabels()["NAME"] {
		case "bronze/files":
			files += int64(v)
		case "gold/texts_inferred":
			inferred += int64(v)
		}
	}
	return files, inferred
}

// JobOptions are pipeline options for a job server's runner (Flink, Spark)
// that Beam's Go SDK cannot pass: it sends its own options nested under one
// key that Java runners do not read. The names are the runner's, e.g.
// sdk_worker_parallelism (SDK worker processes per task manager or
// executor; Java's default is 1).
type JobOptions map[string]any

// ParseJobOption parses NAME=VALUE: an integer or true/false value is sent
// as a number or a boolean, anything else as a string.
func ParseJobOption(s string) (name string, value any, err error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("job option %q: want NAME=VALUE", s)
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return name, float64(n), nil
	}
	if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
		return name, b, nil
	}
	return name, v, nil
}

// optionsClient adds the job options to the job's pipeline options as the
// job server prepares it, under the keys Java runners read
// (beam:option:NAME:v1).
type optionsClient struct {
	jobpb.JobServiceClient
	opts JobOptions
}

func (c optionsClient) Prepare(ctx context.Context, req *jobpb.PrepareJobRequest, o ...grpc.CallOption) (*jobpb.PrepareJobResponse, error) {
	if req.PipelineOptions == nil {
		req.PipelineOptions = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	for name, v := range c.opts {
		val, err := structpb.NewValue(v)
		if err != nil {
			return nil, fmt.Errorf("job option %s: %w", name, err)
		}
		req.PipelineOptions.Fields["beam:option:"+name+":v1"] = val
	}
	return c.JobServiceClient.Prepare(ctx, req, o...)
}

type jobResult struct {
	id      string
	metrics *metrics.Results
}

func (r *jobResult) Metrics() metrics.Results { return *r.metrics }
func (r *jobResult) JobID() string            { return r.id }

// engine asks the job server which engine runs its jobs, from the groups
// of the pipeline options it describes: "flink", "spark", or "" when it
// does not say (prism) or cannot be asked.
func (e Env) engine(ctx context.Context) string {
	if !e.onJobServer() {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cc, err := grpcx.Dial(ctx, e.Endpoint, 30*time.Second)
	if err != nil {
		return ""
	}
	defer cc.Close()
	r, err := jobpb.NewJobServiceClient(cc).DescribePipelineOptions(ctx, &jobpb.DescribePipelineOptionsRequest{})
	if err != nil {
		return ""
	}
	for _, o := range r.GetOptions() {
		for _, engine := range []string{"flink", "spark"} {
			if strings.HasPrefix(o.GetGroup(), "org.apache.beam.runners."+engine+".") {
				return engine
			}
		}
	}
	return ""
}
