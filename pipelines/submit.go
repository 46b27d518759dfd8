package pipelines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/metricsx"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/extworker"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/runnerlib"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

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

// StreamJobOptions returns opts with the options a streaming job needs from
// a Java job server's runner (--runner universal, flink or spark), unless
// opts names them already:
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
// Other runners get opts as they are.
func StreamJobOptions(opts JobOptions, trigger time.Duration) JobOptions {
	switch *runners.Runner {
	case "universal", "flink", "spark":
	default:
		return opts
	}
	out := JobOptions{
		"streaming":                      true,
		"max_bundle_time_mills":          float64(min(max(trigger/10, 100*time.Millisecond), time.Second).Milliseconds()),
		"shutdown_sources_after_idle_ms": float64(0),
	}
	for name, v := range opts {
		out[name] = v
	}
	return out
}

// JobServerRunner submits a pipeline to the job server at Beam's --endpoint
// as --runner=universal does, with opts added to the job's pipeline
// options. Workers run in the environment Beam's flags give: PROCESS,
// DOCKER or EXTERNAL from the staged --worker_binary, or LOOPBACK, in this
// process.
func JobServerRunner(ctx context.Context, opts JobOptions) Runner {
	return func(p *beam.Pipeline) (beam.PipelineResult, error) {
		return submit(ctx, p, opts)
	}
}

func submit(ctx context.Context, p *beam.Pipeline, opts JobOptions) (beam.PipelineResult, error) {
	bin, envConfig := *jobopts.WorkerBinary, jobopts.GetEnvironmentConfig
	if jobopts.IsLoopback() {
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
		return nil, errors.New("job options need --worker_binary: this command built with CGO_ENABLED=1 for the workers' OS and architecture")
	}
	endpoint, err := jobopts.GetEndpoint()
	if err != nil {
		return nil, err
	}
	edges, _, err := p.Build()
	if err != nil {
		return nil, err
	}
	env, err := graphx.CreateEnvironment(ctx, jobopts.GetEnvironmentUrn(ctx), envConfig)
	if err != nil {
		return nil, fmt.Errorf("worker environment: %w", err)
	}
	pipe, err := graphx.Marshal(edges, &graphx.Options{Environment: env, PipelineResourceHints: jobopts.GetPipelineResourceHints()})
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
	client := optionsClient{JobServiceClient: jobpb.NewJobServiceClient(cc), opts: opts}
	prep, artifacts, token, err := runnerlib.Prepare(ctx, client, pipe, &runnerlib.JobOptions{
		Name: jobopts.GetJobName(), Experiments: jobopts.GetExperiments(), Worker: bin,
		RetainDocker: *jobopts.RetainDockerContainers, Parallelism: *jobopts.Parallelism,
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
	runErr := runnerlib.WaitForCompletion(ctx, client, id)
	res := &jobResult{id: id, metrics: &metrics.Results{}}
	if m, err := client.GetJobMetrics(ctx, &jobpb.GetJobMetricsRequest{JobId: id}); err == nil {
		res.metrics = metricsx.FromMonitoringInfos(pipe, m.GetMetrics().GetAttempted(), m.GetMetrics().GetCommitted())
	} else if runErr == nil {
		runErr = fmt.Errorf("job %s: metrics: %w", id, err)
	}
	return res, runErr
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
