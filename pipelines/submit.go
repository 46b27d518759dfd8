package pipelines

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/metricsx"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
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

// JobServerRunner submits a pipeline to the job server at Beam's --endpoint
// as --runner=universal does, with opts added to the job's pipeline
// options. Workers run in the environment Beam's flags give (PROCESS,
// DOCKER, EXTERNAL) from the staged --worker_binary: LOOPBACK, whose
// workers run in this process, is refused, as no option of a worker process
// applies to it.
func JobServerRunner(ctx context.Context, opts JobOptions) Runner {
	return func(p *beam.Pipeline) (beam.PipelineResult, error) {
		return submit(ctx, p, opts)
	}
}

func submit(ctx context.Context, p *beam.Pipeline, opts JobOptions) (beam.PipelineResult, error) {
	if jobopts.IsLoopback() {
		return nil, errors.New("job options need workers the runner starts: --environment_type=PROCESS, DOCKER or EXTERNAL, not LOOPBACK")
	}
	if *jobopts.WorkerBinary == "" {
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
	env, err := graphx.CreateEnvironment(ctx, jobopts.GetEnvironmentUrn(ctx), jobopts.GetEnvironmentConfig)
	if err != nil {
		return nil, fmt.Errorf("worker environment: %w", err)
	}
	pipe, err := graphx.Marshal(edges, &graphx.Options{Environment: env, PipelineResourceHints: jobopts.GetPipelineResourceHints()})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	bin := *jobopts.WorkerBinary
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
