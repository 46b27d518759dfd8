//go:build integration

package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/laketest"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// startEngine starts Beam's job server for a real engine (scripts/jobserver.sh:
// Flink's mini cluster or Spark's local[2] in the job server's JVM, with
// parallelism 2) on a free loopback port, and stops it, with every worker
// process it started, when the test ends. The workers get the job server's
// environment: ONNX Runtime's path, Beam's boot program, the test's S3
// server and a model cache of their own.
func startEngine(t *testing.T, engine string) (endpoint string, logs *lockedBuffer) {
	t.Helper()
	cp, _ := filepath.Abs("../.cache/runners/" + engine + ".classpath")
	needTool(t, "Beam's "+engine+" job server (scripts/setup-runners.sh)", cp)
	boot, _ := filepath.Abs("../.cache/bin/beam-boot")
	needTool(t, "Beam's Go boot program", boot)
	script, _ := filepath.Abs("../scripts/jobserver.sh")
	port := loopbackPort(t)
	staging := t.TempDir()
	stagingDirs.Store(fmt.Sprintf("localhost:%d", port), staging)
	cmd := exec.Command(script, engine, "--job-port", strconv.Itoa(port), "--parallelism", "2",
		"--artifacts-dir", staging)
	// The JVM's temporary files (Flink's RPC jar, Spark's scratch folders)
	// go to the test's folder: a killed JVM does not remove its own.
	cmd.Env = []string{"BEAM_BOOT=" + boot, inference.CacheEnv + "=" + t.TempDir(), "JAVA_OPTS=-Djava.io.tmpdir=" + t.TempDir()}
	return runJobServer(t, cmd, port, engine, 90*time.Second)
}

// stagingDirs holds each engine job server's --artifacts-dir by endpoint.
var stagingDirs sync.Map

// sweepStaged removes what the job server at endpoint staged for its jobs:
// a copy of the worker binary (about 270 MB) each, which the job server
// keeps for jobs that were cancelled or failed (a test that kills ten
// streams would otherwise hold 5 GB). Call it once the jobs are done.
func sweepStaged(t *testing.T, endpoint string) {
	dir, ok := stagingDirs.Load(endpoint)
	if !ok {
		t.Fatalf("no staging folder for job server %s", endpoint)
	}
	removeEntries(t, dir.(string))
}

// removeEntries empties dir, leaving dir itself for its owner.
func removeEntries(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Logf("remove %s: %v", e.Name(), err)
		}
	}
}

// engineFlags are the command's flags for a run on a job server whose
// workers are processes it starts (PROCESS), two per task manager or
// executor (sdk_worker_parallelism, a Java pipeline option the command
// passes with --job-option).
func engineFlags(t *testing.T, endpoint string) []string {
	return engineFlagsEnv(t, endpoint, nil)
}

// engineFlagsEnv is engineFlags with variables set in the workers'
// environment (the PROCESS environment's "env").
func engineFlagsEnv(t *testing.T, endpoint string, env map[string]string) []string {
	script, _ := filepath.Abs("../scripts/process-worker.sh")
	config, err := json.Marshal(map[string]any{"command": script, "env": env})
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--runner=universal", "--endpoint=" + endpoint, "--parallelism=2",
		"--environment_type=PROCESS", "--environment_config=" + string(config),
		"--worker_binary=" + medallionBin(t), "--job-option", "sdk_worker_parallelism=2",
		"--inference-threads", "1", "--batch-size", "16"}
}

// engineSetup is an S3 server holding raw files and a model registry, as a
// cluster's workers would reach them.
type engineSetup struct {
	srv      *laketest.S3Server
	bucket   string
	input    string // s3://…/raw
	registry string // s3://…/mlruns
}

func newEngineSetup(t *testing.T) *engineSetup {
	t.Helper()
	srv := laketest.StartS3(t)
	srv.Env(t)
	e := &engineSetup{srv: srv, bucket: srv.Bucket(t, "medallion")}
	e.input = "s3://" + e.bucket + "/raw"
	registry := filepath.Join(t.TempDir(), "mlruns")
	if _, err := (tracking.Registry{Root: registry}).Register("tweet-sentiment", demoModel, "Production", ""); err != nil {
		t.Fatal(err)
	}
	e.registry = "s3://" + e.bucket + "/mlruns"
	if err := lake.CopyDir(context.Background(), registry, e.registry); err != nil {
		t.Fatal(err)
	}
	return e
}

// medallion runs the command (the driver) and returns its output.
func runMedallion(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, medallionBin(t), args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("medallion %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sameLakes compares every table of two lakes (an in-process run's and one
// through a job server or engine): rows as multisets (processing_time left
// out), schemas and, with sameVersions, latest versions.
func sameLakes(t *testing.T, want, got string, sameVersions bool) {
	t.Helper()
	ctx := context.Background()
	for _, name := range transforms.TableNames() {
		a, b := tableMultiset(t, lake.Join(want, name)), tableMultiset(t, lake.Join(got, name))
		if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 && name != transforms.QuarantineTable.Name {
			t.Errorf("%s: %d rows in process, %d through the runner", name, len(a), len(b))
		}
		va, err := latestVersion(ctx, lake.Join(want, name))
		if err != nil {
			t.Fatal(err)
		}
		vb, err := latestVersion(ctx, lake.Join(got, name))
		if err != nil {
			t.Fatal(err)
		}
		if sameVersions && va != vb {
			t.Errorf("%s: version %d in process, %d through the runner", name, va, vb)
		}
		sa, err := tableSchema(ctx, lake.Open(lake.Join(want, name)), va)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := tableSchema(ctx, lake.Open(lake.Join(got, name)), vb)
		if err != nil {
			t.Fatal(err)
		}
		if !sa.Equal(sb) {
			t.Errorf("%s: schema in process\n%v\nthrough the runner\n%v", name, sa, sb)
		}
	}
}

var workersLine = regexp.MustCompile(`worker processes\s+(\d+)\s+\((\d+) read files, (\d+) ran the model\)`)

// The batch pipeline on real engines: Beam's Flink job server (Flink 1.19's
// mini cluster) and Spark job server (Spark 3.5, local[2]), from Maven
// Central, executing our Go workers as processes they start. Raw files,
// lake and model registry are on S3 (versitygw); the driver shares nothing
// with the workers. Every table equals an in-process run's (rows, schemas,
// versions), and the work spread: more than one worker process read files,
// and on Flink more than one ran the model. On Flink, stages that start
// from a table and a rescore, whose workers read the tables' files on S3,
// end with the same rows. Against reference implementations:
// Flink's and Spark's Beam runners execute the pipeline.
func TestEngines(t *testing.T) {
	needRuntime(t)
	e := newEngineSetup(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw")
	if _, err := gen.Generate(gen.Options{Out: raw, Tweets: 600, PerFile: 1, Format: "object", Seed: 81, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(context.Background(), raw, e.input); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	local := filepath.Join(dir, "in-process")
	if _, err := Run(ctx, Config{Input: e.input, Lake: local, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	for _, engine := range []string{"flink", "spark"} {
		t.Run(engine, func(t *testing.T) {
			endpoint, logs := startEngine(t, engine)
			rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			lk := "s3://" + e.bucket + "/lake-" + engine
			out := runMedallion(t, rctx, append([]string{"run", "--input", e.input, "--lake", lk, "--registry", e.registry,
				"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, engineFlags(t, endpoint)...)...)
			sameLakes(t, local, lk, true)
			m := workersLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no worker processes line: the work ran in one process\n%s\njob server:\n%s", out, logs.String())
			}
			// On Spark's local[2] the inference stage ran in one worker
			// process in every run here (with load_balance_bundles too):
			// only the reading is required to spread there.
			readers, inferrers := atoi(m[2]), atoi(m[3])
			if readers < 2 || engine == "flink" && inferrers < 2 {
				t.Errorf("work did not spread: %s worker processes, %d read files, %d ran the model\n%s", m[1], readers, inferrers, out)
			}
			t.Logf("%s: %s worker processes, %d read files, %d ran the model", engine, m[1], readers, inferrers)
			if engine == "spark" {
				sparkStreams(t, rctx, e, endpoint, local)
				return
			}
			// Stages from a table, whose workers read the table's files on
			// S3: raw:bronze, then the rest from bronze, into a second lake;
			// and a rescore of the first (same model: same rows).
			model := []string{"--registry", e.registry, "--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}
			staged := "s3://" + e.bucket + "/lake-staged"
			runMedallion(t, rctx, append(append([]string{"run", "--input", e.input, "--lake", staged, "--stages", "raw:bronze"}, model...), engineFlags(t, endpoint)...)...)
			runMedallion(t, rctx, append(append([]string{"run", "--lake", staged, "--stages", "bronze:silver,silver:gold,gold:application"}, model...), engineFlags(t, endpoint)...)...)
			sameLakes(t, local, staged, false)
			out = runMedallion(t, rctx, append(append([]string{"rescore", "--lake", lk}, model...), engineFlags(t, endpoint)...)...)
			if !strings.Contains(out, "rescore 0: gold v1") {
				t.Errorf("rescore on Flink:\n%s", out)
			}
			sameLakes(t, local, lk, false)
		})
	}
}

// A streaming job on Flink (streaming mode: the job's source is unbounded),
// with Flink's checkpointing on, files landing on S3 in three waves and
// then --stop from another process, ends with the same tables as an
// in-process batch run over the same files. (Its idle timeout on Flink:
// TestStreamOnFlinkKilled's runs end by it.)
func TestStreamOnFlink(t *testing.T) {
	needRuntime(t)
	e := newEngineSetup(t)
	endpoint, logs := startEngine(t, "flink")
	ctx := context.Background()
	dir := t.TempDir()
	lk := "s3://" + e.bucket + "/lake-stream"
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		cmd := exec.CommandContext(rctx, medallionBin(t), append(e.streamArgs(t, endpoint, lk, "0"), "--job-option", "checkpointing_interval=1000")...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			out = append(out, []byte("\nerror: "+err.Error())...)
		}
		done <- string(out)
	}()
	// Three waves, each after the previous one is committed: three triggers.
	bronze := lake.Join(lk, transforms.BronzeTable.Name)
	for wave := range 3 {
		landWave(t, dir, e.input, wave)
		for deadline := time.Now().Add(2 * time.Minute); ; {
			if v, _ := latestVersion(ctx, bronze); v >= int64(wave) {
				break
			}
			select {
			case out := <-done:
				t.Fatalf("the stream ended before wave %d was committed:\n%s\njob server:\n%s", wave, out, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("wave %d was not committed\njob server:\n%s", wave, logs.String())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	// --stop ends the stream after the batches it planned: wait until every
	// landed file is planned and committed (a wave may take two batches).
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(300 * time.Millisecond) {
		left, done := caughtUp(t, ctx, e.input, lk)
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d landed files not planned, or the last batch not committed\njob server:\n%s", left, logs.String())
		}
	}
	runMedallion(t, ctx, "stop", "--lake", lk)
	var out string
	select {
	case out = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the stream on Flink did not stop")
	}
	if !strings.Contains(out, "stream stopped (stop requested)") || !strings.Contains(out, "(one streaming job)") {
		t.Fatalf("stream on Flink:\n%s", out)
	}
	t.Logf("the streaming job on Flink:\n%s", out)
	if v, err := latestVersion(ctx, bronze); err != nil || v < 2 {
		t.Errorf("bronze on Flink at version %d (%v): want 3 triggers' commits", v, err)
	}
	sameLakes(t, batchLake(t, e.input), lk, false)
}

// batchLake is an in-process batch run's lake over input: what a stream of
// the same files must end with.
func batchLake(t *testing.T, input string) string {
	t.Helper()
	lk := filepath.Join(t.TempDir(), "batch")
	if _, err := Run(context.Background(), Config{Input: input, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}, prismRunner(context.Background())); err != nil {
		t.Fatal(err)
	}
	return lk
}

// streamArgs are the command's arguments for a stream (trigger 1 s) of the
// setup's raw files into lk on the job server at endpoint.
func (e *engineSetup) streamArgs(t *testing.T, endpoint, lk, idle string) []string {
	return append([]string{"stream", "--trigger", "1s", "--idle-timeout", idle, "--monitor", "1h",
		"--input", e.input, "--lake", lk, "--registry", e.registry, "--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()},
		engineFlags(t, endpoint)...)
}

// landWave lands wave's 120 one-tweet files (3% bad) in input.
func landWave(t *testing.T, dir, input string, wave int) {
	t.Helper()
	raw := filepath.Join(dir, fmt.Sprintf("wave%d", wave))
	if _, err := gen.Generate(gen.Options{Out: raw, Tweets: 120, PerFile: 1, Format: "object", Seed: uint64(90 + wave), First: wave * 120, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(context.Background(), raw, input); err != nil {
		t.Fatal(err)
	}
}

// A streaming job on a job server outlives its driver. With the driver
// killed while a batch is in flight, the job on Flink commits that batch
// and ends by itself once the driver's heartbeat falls silent; a new run
// then carries on from the next batch, and the tables equal an in-process
// batch run's over the same files. [reference runner: Flink's job server]
func TestStreamOnFlinkDriverKilled(t *testing.T) {
	needRuntime(t)
	e := newEngineSetup(t)
	endpoint, logs := startEngine(t, "flink")
	ctx := context.Background()
	dir := t.TempDir()
	lk := "s3://" + e.bucket + "/lake-killed"
	args := func(idle string) []string { return e.streamArgs(t, endpoint, lk, idle) }
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v\njob server:\n%s", what, limit, logs.String())
			}
		}
	}
	var out lockedBuffer
	driver := exec.Command(medallionBin(t), args("0")...)
	driver.Dir, driver.Stdout, driver.Stderr = dir, &out, &out
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	landWave(t, dir, e.input, 0)
	waitFor("batch 0 committed", 2*time.Minute, func() bool {
		v, _ := latestVersion(ctx, lake.Join(lk, transforms.ApplicationTable.Name))
		return v >= 0
	})
	landWave(t, dir, e.input, 1)
	// Kill the driver once the second wave is planned (the source may cut a
	// wave that lands file by file into two batches) and before its last
	// batch is committed, so the job has a planned batch in flight.
	var last int64
	waitFor("the second wave planned", time.Minute, func() bool {
		cp, err := openCheckpoint(ctx, lk)
		if err != nil || len(cp.claimed) < 240 {
			return false
		}
		last = cp.last.Batch
		return true
	})
	driver.Process.Kill()
	driver.Wait()
	killed := time.Now()
	waitFor("the killed driver's job ended", 2*time.Minute, func() bool { return jobsDone(t, endpoint) })
	t.Logf("the job ended %v after its driver was killed", time.Since(killed).Round(time.Second))
	if held, err := tablesHold(ctx, lk, transforms.TableNames(), AllStages.appID(), last); err != nil || !held {
		t.Errorf("the killed driver's job did not commit its planned batch %d to every table (%v)\n%s", last, err, out.String())
	}
	landWave(t, dir, e.input, 2)
	rerun := runMedallion(t, ctx, args("6s")...)
	if !strings.Contains(rerun, fmt.Sprintf("batch %d:", last+1)) || strings.Contains(rerun, fmt.Sprintf("batch %d:", last)) || strings.Contains(rerun, "redone") {
		t.Errorf("the rerun should carry on with batch %d, redoing nothing:\n%s", last+1, rerun)
	}
	sameLakes(t, batchLake(t, e.input), lk, false)
}

// SIGKILL at random points of a stream's command while its streaming job
// runs on Flink, then a restart, ten trials: after each, the tables equal
// an in-process batch run's over the same files. The killed command's job
// goes on until its source sees the restarted run's heartbeat; the restart
// waits for that, then finishes what the job planned. [reference runner:
// Flink's job server; the expected tables from our in-process batch run]
func TestStreamOnFlinkKilled(t *testing.T) {
	needRuntime(t)
	e := newEngineSetup(t)
	endpoint, logs := startEngine(t, "flink")
	ctx := context.Background()
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw")
	if _, err := gen.Generate(gen.Options{Out: raw, Tweets: 240, PerFile: 1, Format: "object", Seed: 77, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(ctx, raw, e.input); err != nil {
		t.Fatal(err)
	}
	ref := batchLake(t, e.input)
	stream := func(lk string) *exec.Cmd {
		// About 5 batches of 8 KiB: kills land between and within them.
		cmd := exec.Command(medallionBin(t), append(e.streamArgs(t, endpoint, lk, "3s"), "--max-batch-bytes", "8192")...)
		cmd.Dir = dir
		return cmd
	}
	start := time.Now()
	if out, err := stream("s3://" + e.bucket + "/lake-whole").CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted stream: %v\n%s", err, out)
	}
	span := time.Since(start)
	sameLakes(t, ref, "s3://"+e.bucket+"/lake-whole", false)
	rng := rand.New(rand.NewPCG(16, 16))
	const trials = 10
	killed, redone := 0, 0
	for trial := range trials {
		trialStart := time.Now()
		lk := fmt.Sprintf("s3://%s/lake-killed-%d", e.bucket, trial)
		cmd := stream(lk)
		var first lockedBuffer
		cmd.Stdout, cmd.Stderr = &first, &first
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A random point: a random time into a random batch's flight
		// (the plan is written before its files are read).
		batch, wait := rng.Int64N(4), time.Duration(rng.Int64N(int64(1500*time.Millisecond)))
		delay := fmt.Sprintf("%v after batch %d was planned", wait, batch)
		store := lake.StorageFor(lk)
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if _, err := store.ReadFile(ctx, planName(batch)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: batch %d was not planned\n%s\njob server:\n%s", trial, batch, first.String(), logs.String())
			}
		}
		time.Sleep(wait)
		cmd.Process.Kill()
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		}
		restart := stream(lk)
		restart.Args = append(restart.Args, "--verbose")
		out, err := restart.CombinedOutput()
		if err != nil {
			t.Fatalf("trial %d (killed %s): restart: %v\n%s\nthe killed run:\n%s\njob server:\n%s", trial, delay, err, out, first.String(), logs.String())
		}
		if streamRedo.Match(out) {
			redone++
		}
		sameLakes(t, ref, lk, false)
		if t.Failed() {
			t.Fatalf("trial %d (killed %s): the restart's output:\n%s", trial, delay, out)
		}
		// Every worker process copies the worker binary (about 270 MB)
		// and leaves it: sweep the trial's once its jobs are done.
		for deadline := time.Now().Add(2 * time.Minute); !jobsDone(t, endpoint); time.Sleep(time.Second) {
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: the jobs on Flink did not end\njob server:\n%s", trial, logs.String())
			}
		}
		sweepBootCopies(t, trialStart)
		sweepWorkerDirs(t)
		sweepStaged(t, endpoint)
	}
	t.Logf("%d trials on Flink: %d killed before finishing, %d restarts finished a batch the kill left (uninterrupted stream: %v)", trials, killed, redone, span.Round(time.Second))
	if killed < trials/2 {
		t.Errorf("only %d of %d trials killed a running stream", killed, trials)
	}
}

// sweepWorkerDirs removes the folders scripts/process-worker.sh made for
// the test's worker processes (each holds a staged copy of the worker
// binary) that their workers left behind: a worker the job server killed
// outright does not remove its own. Call it once the jobs are done.
func sweepWorkerDirs(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), strings.ReplaceAll(t.Name(), "/", "_")+"*", "*", "medallion-worker.*"))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Logf("remove a worker's folder %s: %v", d, err)
		}
	}
}

// jobsDone reports whether every job the job server at endpoint ran is
// done (and that there was one).
func jobsDone(t *testing.T, endpoint string) bool {
	t.Helper()
	ctx := context.Background()
	cc, err := grpcx.Dial(ctx, endpoint, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	r, err := jobpb.NewJobServiceClient(cc).GetJobs(ctx, &jobpb.GetJobsRequest{})
	if err != nil || len(r.GetJobInfo()) == 0 {
		return false
	}
	for _, j := range r.GetJobInfo() {
		if j.GetState() != jobpb.JobState_DONE {
			return false
		}
	}
	return true
}

// caughtUp reports how many files landed in input that no plan on lk holds,
// and whether a stream has caught up: none left, and the last plan committed
// to every table.
func caughtUp(t *testing.T, ctx context.Context, input, lk string) (left int, done bool) {
	t.Helper()
	cp, err := openCheckpoint(ctx, lk)
	if err != nil {
		t.Fatal(err)
	}
	files, err := listInput(input, cp.isClaimed)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) > 0 || cp.last == nil {
		return len(files), false
	}
	held, _ := tablesHold(ctx, lk, transforms.TableNames(), AllStages.appID(), cp.last.Batch)
	return 0, held
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// sparkStreams: the streaming job is refused on Spark's job server with one
// line naming --micro-batch (Beam's portable Spark runner fails its source:
// no bundle checkpoint handler), and a --micro-batch stream there writes the
// tables of an in-process run.
func sparkStreams(t *testing.T, ctx context.Context, e *engineSetup, endpoint, local string) {
	t.Helper()
	lk := "s3://" + e.bucket + "/lake-spark-stream"
	cmd := exec.CommandContext(ctx, medallionBin(t), e.streamArgs(t, endpoint, lk, "5s")...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	want := "medallion: Beam's Spark job server cannot run the streaming job (its runner has no bundle checkpoints, which the job's file source needs)\n" +
		"  next: set --micro-batch (a batch job per trigger, which Spark runs), or stream on Flink's job server\n"
	if err == nil || string(out) != want {
		t.Errorf("stream on Spark: %v\n%s\nwant:\n%s", err, out, want)
	}
	runMedallion(t, ctx, append(e.streamArgs(t, endpoint, lk, "5s"), "--micro-batch")...)
	sameLakes(t, local, lk, false)
}
