package pipelines

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"google.golang.org/protobuf/encoding/protowire"
)

// ProgressRunner runs a batch on an in-process prism job server and shows a
// progress bar (files read, texts inferred) from the job's live counters.
// It is used for the default runner when stdout is a terminal; otherwise
// (and with any --runner) the pipeline runs as Beam runs it.
func ProgressRunner(ctx context.Context, files int) (Runner, bool) {
	if *runners.Runner != "" && *runners.Runner != "prism" || !term.IsTerminal(int(os.Stdout.Fd())) {
		return nil, false
	}
	return func(p *beam.Pipeline) (beam.PipelineResult, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cli, err := prism.CreateJobServer(ctx, prism.Options{Port: port})
		if err != nil {
			return nil, err
		}
		*jobopts.Endpoint, *jobopts.EnvironmentType = fmt.Sprintf("localhost:%d", port), "LOOPBACK"
		bar := progressbar.NewOptions(files, progressbar.OptionSetDescription("batch"), progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		type result struct {
			res beam.PipelineResult
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := universal.Execute(ctx, p)
			done <- result{res, err}
		}()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case r := <-done:
				bar.Finish()
				return r.res, r.err
			case <-tick.C:
				read, inferred := liveCounters(ctx, cli)
				bar.Describe(fmt.Sprintf("files read; %s texts inferred", group(inferred)))
				bar.Set64(read)
			}
		}
	}, true
}

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
// of the running jobs.
func liveCounters(ctx context.Context, cli jobpb.JobServiceClient) (files, inferred int64) {
	jobs, err := cli.GetJobs(ctx, &jobpb.GetJobsRequest{})
	if err != nil {
		return 0, 0
	}
	for _, j := range jobs.GetJobInfo() {
		m, err := cli.GetJobMetrics(ctx, &jobpb.GetJobMetricsRequest{JobId: j.GetJobId()})
		if err != nil {
			continue
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
	}
	return files, inferred
}
