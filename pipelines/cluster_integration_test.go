//go:build integration

package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// The Flink and the Spark cluster of separate processes (scripts/cluster.sh),
// side by side: their jobs mostly wait (on JVMs starting, restarts, workers
// booting), and they share one S3 server holding the input and registry, and
// the in-process run every table is compared with.
func TestClusters(t *testing.T) {
	in := newClusterInput(t)
	t.Run("flink", func(t *testing.T) {
		t.Parallel()
		flinkCluster(t, upCluster(t, in, "flink"))
	})
	t.Run("spark", func(t *testing.T) {
		t.Parallel()
		sparkCluster(t, upCluster(t, in, "spark"))
	})
}

// flinkCluster: a Flink cluster (a JobManager, two TaskManagers, Beam's job
// server submitting to it): a batch run with PROCESS workers the TaskManagers
// start, input, lake and registry on S3, writes the tables of an in-process
// run; Flink's REST API shows the job finished on two TaskManagers; first
// attempts failing (failFirstAttempts), Go workers and TaskManagers killed
// mid-job (killGoWorkers, killTaskManagers), a TaskManager killed under a
// stream (streamTaskManagerKilled) change nothing; the JobManager killed
// (killJobManager) fails the batch in one line and a rerun finishes it; `down`
// leaves none of the processes, nor a worker. Reference: Flink 1.19's
// standalone cluster and Beam 2.62's Flink runner.
func flinkCluster(t *testing.T, c clusterRun) {
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lk := c.lake("cluster")
	runMedallion(t, rctx, append([]string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
		"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, c.flags(t, nil)...)...)
	sameLakes(t, c.local, lk, true)
	c.noWorkersLeft(t)

	var overview struct {
		TaskManagers int `json:"taskmanagers"`
		Finished     int `json:"jobs-finished"`
		Failed       int `json:"jobs-failed"`
	}
	c.rest(t, "/overview", &overview)
	if overview.TaskManagers != 2 || overview.Finished < 1 || overview.Failed != 0 {
		t.Errorf("Flink's overview: %+v; want 2 TaskManagers and the run's jobs finished", overview)
	}
	if t.Failed() {
		return
	}
	failFirstAttempts(t, c)
	killGoWorkers(t, c)
	killTaskManagers(t, c)
	streamTaskManagerKilled(t, c)
	killJobManager(t, c)
}

// clusterInput is what both clusters read and are compared with: an S3
// server holding the input (300 one-tweet files, 3% bad) and the registry,
// and an in-process run's lake and summary over them.
type clusterInput struct {
	e        *engineSetup
	local    string
	localSum *Summary
	start    time.Time
}

func newClusterInput(t *testing.T) *clusterInput {
	needRuntime(t)
	in := &clusterInput{e: newEngineSetup(t), local: filepath.Join(t.TempDir(), "in-process"), start: time.Now()}
	raw := filepath.Join(t.TempDir(), "raw")
	if _, err := gen.Generate(gen.Options{Out: raw, Tweets: 300, PerFile: 1, Format: "object", Seed: 87, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := lake.CopyDir(ctx, raw, in.e.input); err != nil {
		t.Fatal(err)
	}
	var err error
	in.localSum, err = Run(ctx, Config{Input: in.e.input, Lake: in.local, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// upCluster starts a cluster of scripts/cluster.sh (ENGINE up, two
// TaskManagers or Workers) and stops it when the test ends, checking that
// none of its processes, nor a worker they started, outlives `down`.
func upCluster(t *testing.T, in *clusterInput, engine string) clusterRun {
	cp, _ := filepath.Abs("../.cache/runners/" + engine + ".classpath")
	needTool(t, "Beam's "+engine+" job server (scripts/setup-runners.sh)", cp)
	boot, _ := filepath.Abs("../.cache/bin/beam-boot")
	needTool(t, "Beam's Go boot program", boot)
	// The processes run in folders of their own: ONNX Runtime is found by
	// ORT_LIB, as docs/RUNNING.md says to export it before up.
	ort, _ := filepath.Abs("../.cache/onnxruntime/libonnxruntime.so.1")
	needTool(t, "ONNX Runtime (scripts/setup.sh)", ort)
	c := clusterRun{clusterInput: in, engine: engine, dir: filepath.Join(t.TempDir(), "cluster")}
	c.script, _ = filepath.Abs("../scripts/cluster.sh")
	c.jobPort, c.restPort = loopbackPort(t), loopbackPort(t)
	args := []string{engine, "up", "--dir", c.dir, "--job-port", strconv.Itoa(c.jobPort)}
	if engine == "flink" {
		args = append(args, "--taskmanagers", "2", "--rest-port", strconv.Itoa(c.restPort), "--rpc-port", strconv.Itoa(loopbackPort(t)))
	} else {
		args = append(args, "--workers", "2", "--ui-port", strconv.Itoa(c.restPort), "--master-port", strconv.Itoa(loopbackPort(t)))
	}
	up := exec.Command(c.script, args...)
	c.env = append(os.Environ(), "BEAM_BOOT="+boot, inference.CacheEnv+"="+t.TempDir(), "ORT_LIB="+ort)
	up.Env = c.env
	var pids []int
	t.Cleanup(func() {
		if out, err := exec.Command(c.script, engine, "down", "--dir", c.dir).CombinedOutput(); err != nil {
			t.Errorf("cluster.sh %s down: %v\n%s", engine, err, out)
		}
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("process %d of the cluster still runs after down", pid)
			}
		}
		// The workers run in their folders: none outlives them.
		time.Sleep(2 * time.Second)
		for _, p := range c.processes() {
			t.Errorf("a process of the cluster still runs after down, in %s: %s", p.cwd, p.cmdline)
		}
		sweepBootCopies(t, c.start)
	})
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh %s up: %v\n%s", engine, err, out)
	}
	data, err := os.ReadFile(filepath.Join(c.dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if len(pids) != 4 {
		t.Fatalf("cluster.sh started %d processes, want a master, two %s and the job server", len(pids), map[string]string{"flink": "TaskManagers", "spark": "Workers"}[engine])
	}
	return c
}

// lake is a lake of this cluster's on S3.
func (c clusterRun) lake(name string) string {
	return fmt.Sprintf("s3://%s/%s/lake-%s", c.e.bucket, c.engine, name)
}

// flags are the command's flags for a run on the cluster: PROCESS workers
// with env in their environment, one per TaskManager slot or executor core.
func (c clusterRun) flags(t *testing.T, env map[string]string) []string {
	flags := engineFlagsEnv(t, "localhost:"+strconv.Itoa(c.jobPort), env)
	return append(flags, "--job-option", "sdk_worker_parallelism=1") // the last one given counts
}

// noWorkersLeft checks that a job's Go workers ended with it: a runner that
// left them would hold a worker per stage and job for as long as the
// cluster runs. The runner keeps them for 10 s after their last stage
// (Env.jobOptions' environment_cache_millis).
func (c clusterRun) noWorkersLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(c.goWorkers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if ws := c.goWorkers(); len(ws) > 0 {
		t.Errorf("%d Go workers still run 30 s after the job ended: %v", len(ws), ws)
	}
}

// clusterProcess is a process running in a cluster's folder.
type clusterProcess struct {
	pid          int
	cwd, cmdline string
}

// processes lists the live processes whose working folder is in the
// cluster's: its JVMs, their executors and the Go workers they started.
func (c clusterRun) processes() []clusterProcess {
	var ps []clusterProcess
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && strings.HasPrefix(cwd, c.dir+string(filepath.Separator)) {
			args, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			ps = append(ps, clusterProcess{pid: pid, cwd: cwd, cmdline: string(bytes.ReplaceAll(args, []byte{0}, []byte{' '}))})
		}
	}
	return ps
}

// clusterRun is a cluster of scripts/cluster.sh and the input and
// in-process run it is compared with.
type clusterRun struct {
	*clusterInput
	engine            string // flink or spark
	dir               string
	script            string
	env               []string // the processes' environment (ORT_LIB, BEAM_BOOT, S3)
	restPort, jobPort int      // Flink's REST port or the Spark Master's UI port; the job server's
}

// flinkJob is a job as Flink's REST API lists it (/jobs/overview).
type flinkJob struct {
	ID       string `json:"jid"`
	State    string `json:"state"`
	Duration int64  `json:"duration"` // milliseconds
}

func (c clusterRun) rest(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://localhost:" + strconv.Itoa(c.restPort) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func (c clusterRun) jobs(t *testing.T) map[string]flinkJob {
	var o struct{ Jobs []flinkJob }
	c.rest(t, "/jobs/overview", &o)
	jobs := map[string]flinkJob{}
	for _, j := range o.Jobs {
		jobs[j.ID] = j
	}
	return jobs
}

// failures is how many task failures Flink recorded for a job (each made it
// restart the job: the cluster's fixed-delay strategy).
func (c clusterRun) failures(t *testing.T, id string) int {
	var ex struct {
		History struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"exceptionHistory"`
	}
	c.rest(t, "/jobs/"+id+"/exceptions", &ex)
	return len(ex.History.Entries)
}

// members are the pids of the cluster's live TaskManagers ("taskmanager-")
// or Spark Workers ("worker-"), each leading its process group.
func (c clusterRun) members(t *testing.T, prefix string) []int {
	files, _ := filepath.Glob(filepath.Join(c.dir, prefix+"*", "pid"))
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		// Live, and still the process of that folder: pids are reused.
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && cwd == filepath.Dir(f) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killTaskManagers SIGKILLs one of the cluster's two TaskManagers at a random
// point of a batch job, five times, and starts another (as a supervisor
// would: cluster.sh add-taskmanager); Flink restarts the job. Reference:
// Flink 1.19's fixed-delay restart strategy through Beam 2.62's Flink runner.
func killTaskManagers(t *testing.T, c clusterRun) {
	killTrials(t, c, "TaskManager", 5, 27, func(rng *rand.Rand) (string, bool) {
		tms := c.members(t, "taskmanager-")
		if len(tms) != 2 {
			t.Fatalf("%d TaskManagers live, want 2", len(tms))
		}
		victim := tms[rng.IntN(len(tms))]
		err := syscall.Kill(victim, syscall.SIGKILL)
		add := exec.Command(c.script, "flink", "add-taskmanager", "--dir", c.dir)
		add.Env = c.env
		if b, err := add.CombinedOutput(); err != nil {
			t.Fatalf("cluster.sh flink add-taskmanager: %v\n%s", err, b)
		}
		return fmt.Sprintf("TaskManager %d", victim), err == nil
	})
}

// failFirstAttempts runs the batch with first attempts failing (the
// test-only fault switch, transforms.FaultEnv, in the workers' environment):
// on Flink gold's, and Flink restarts the whole job, so bronze and silver run
// twice and the runner's counters count their work twice; on Spark a few
// raw files' and gold's, and Spark retries the tasks. The command ends well,
// its summary's numbers (from commit-held tallies) equal the in-process
// run's, and so do the five tables, versions included. Each marker the
// switch leaves is one failed attempt the runner retried. Reference: Flink
// 1.19's fixed-delay restart strategy; Spark 3.5's task retries.
func failFirstAttempts(t *testing.T, c clusterRun) {
	start := time.Now()
	var before map[string]flinkJob
	spec := "bronze/120,gold" // two of the 300 raw files: a task fails at most 3 of its 4 attempts
	if c.engine == "flink" {
		before, spec = c.jobs(t), "gold" // each failure restarts the whole job
	}
	markers := t.TempDir()
	lk := c.lake("faults")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := runMedallion(t, ctx, append([]string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
		"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()},
		c.flags(t, map[string]string{transforms.FaultEnv: spec + ":" + markers})...)...)
	failed, _ := os.ReadDir(markers)
	recorded := ""
	if c.engine == "flink" {
		n := 0
		for id := range c.jobs(t) {
			if _, old := before[id]; !old {
				n += c.failures(t, id)
			}
		}
		recorded = fmt.Sprintf("; Flink recorded %d task failures and restarted the job", n)
		if n == 0 {
			t.Errorf("Flink recorded no failure")
		}
	}
	t.Logf("%s on %s: %d first attempts failed (%s)%s", spec, c.engine, len(failed), strings.Join(markerSteps(failed), ", "), recorded)
	if len(failed) == 0 {
		t.Errorf("no attempt failed: the fault switch did not fire\n%s", out)
	}
	sameLakes(t, c.local, lk, true)
	sameSummaryCounts(t, c.localSum, out)
	sweepBootCopies(t, start)
	removeEntries(t, filepath.Join(c.dir, "jobserver", "tmp", "beam-artifact-staging"))
}

// markerSteps counts the fault switch's markers by step ("bronze 3").
func markerSteps(markers []os.DirEntry) []string {
	n := map[string]int{}
	for _, m := range markers {
		step, _, _ := strings.Cut(m.Name(), "-")
		n[step]++
	}
	var out []string
	for _, step := range []string{"bronze", "gold"} {
		out = append(out, fmt.Sprintf("%s %d", step, n[step]))
	}
	return out
}

// sameSummaryCounts compares the counts of a command's printed summary
// (files, raw records, bronze and silver rows, quarantines, tweets with and
// without mentions) with an in-process run's.
func sameSummaryCounts(t *testing.T, want *Summary, out string) {
	t.Helper()
	var b strings.Builder
	want.Print(&b)
	lines := func(s string) []string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			for _, label := range []string{"files read", "raw records", "bronze rows", "quarantined (", "tweets with mentions", "silver rows"} {
				if strings.HasPrefix(l, "  "+label) {
					keep = append(keep, l)
				}
			}
		}
		return keep
	}
	if w, g := lines(b.String()), lines(out); len(w) != 7 || !slices.Equal(w, g) {
		t.Errorf("the summary's counts:\n%s\nwant the in-process run's:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// sparkCluster: a Spark standalone cluster (a Master, two Workers, each
// starting an executor, Beam's job server submitting to the Master): a batch
// run with PROCESS workers the executors start, input, lake and registry on
// S3, writes the tables of an in-process run; first attempts failing
// (failFirstAttempts), Go workers and Spark Workers killed mid-job
// (killGoWorkers, killSparkWorkers) change nothing; `down` leaves none of the
// processes. Reference: Spark 3.5's standalone cluster and Beam 2.62's Spark
// runner.
func sparkCluster(t *testing.T, c clusterRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lk := c.lake("cluster")
	out := runMedallion(t, ctx, append([]string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
		"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, c.flags(t, nil)...)...)
	sameLakes(t, c.local, lk, true)
	c.noWorkersLeft(t)
	var master struct {
		Alive     int               `json:"aliveworkers"`
		Completed []json.RawMessage `json:"completedapps"`
	}
	c.rest(t, "/json/", &master)
	if master.Alive != 2 || len(master.Completed) < 1 {
		t.Errorf("the Spark Master: %d Workers alive, %d applications completed; want 2 and the run's\n%s", master.Alive, len(master.Completed), out)
	}
	if t.Failed() {
		return
	}
	failFirstAttempts(t, c)
	killGoWorkers(t, c)
	killSparkWorkers(t, c)
}

// goWorkers are the cluster's Go SDK worker processes (the binaries Beam's
// boot program started for the TaskManagers or executors).
func (c clusterRun) goWorkers() []int {
	var pids []int
	for _, p := range c.processes() {
		if strings.Contains(p.cmdline, "--worker=true") {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// shortestJob is the shortest job the cluster finished so far, as its
// engine timed it (Flink's jobs, the Spark Master's completed
// applications): an uninterrupted run's length.
func (c clusterRun) shortestJob(t *testing.T) time.Duration {
	shortest := time.Duration(0)
	note := func(ms int64) {
		if d := time.Duration(ms) * time.Millisecond; d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if c.engine == "flink" {
		for _, j := range c.jobs(t) {
			if j.State == "FINISHED" {
				note(j.Duration)
			}
		}
	} else {
		var master struct {
			Completed []struct {
				State    string `json:"state"`
				Duration int64  `json:"duration"`
			} `json:"completedapps"`
		}
		c.rest(t, "/json/", &master)
		for _, a := range master.Completed {
			if a.State == "FINISHED" {
				note(a.Duration)
			}
		}
	}
	if shortest == 0 {
		t.Fatalf("no job finished on the %s cluster yet", c.engine)
	}
	return shortest
}

// killTrials runs the batch trials times on the cluster, each time
// SIGKILLing a victim at a random point of the job (its workers running,
// within 60% of the shortest job's length): kill picks it, kills it
// and says whether it did (a Go worker in the middle of a bundle may not be
// found when the job is between stages), then replaces what a supervisor
// would. The command ends well and the five tables equal the in-process
// run's, versions included. A trial lands when the runner recorded the
// failure: Flink's exception history, or Spark's "Lost task" lines in the
// job server's log. Returns the trials that landed.
func killTrials(t *testing.T, c clusterRun, what string, trials int, seed uint64, kill func(rng *rand.Rand) (string, bool)) int {
	rng := rand.New(rand.NewPCG(seed, seed))
	landed := 0
	for trial := range trials {
		trialStart := time.Now()
		before, lostBefore := c.failureMarks(t)
		earlier := c.goWorkers()
		lk := c.lake(fmt.Sprintf("%s-killed-%d", strings.ReplaceAll(what, " ", "-"), trial))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, medallionBin(t), append([]string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
			"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, c.flags(t, nil)...)...)
		cmd.Dir = t.TempDir()
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The job runs once its workers do (those of the previous job may
		// still run for a few seconds: Env.jobOptions).
		for deadline := time.Now().Add(2 * time.Minute); !slices.ContainsFunc(c.goWorkers(), func(p int) bool { return !slices.Contains(earlier, p) }); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: no worker ran on the cluster\n%s", trial, out.String())
			}
		}
		span := c.shortestJob(t)
		wait := time.Duration(rng.Int64N(int64(span * 6 / 10)))
		time.Sleep(wait)
		victim, killed := kill(rng)
		err := cmd.Wait()
		cancel()
		if err != nil {
			t.Fatalf("trial %d (%s killed %v into the job): %v\n%s", trial, victim, wait.Round(time.Millisecond), err, out.String())
		}
		if !killed {
			t.Logf("trial %d: %s (%v into the job): no kill", trial, victim, wait.Round(time.Millisecond))
		}
		recorded := c.failuresSince(t, before, lostBefore)
		if killed && recorded > 0 {
			landed++
		}
		t.Logf("trial %d: %s killed %v into a job of about %v; %s recorded %d failures (tasks or executors lost)", trial, victim, wait.Round(time.Millisecond), span.Round(time.Second), c.engine, recorded)
		sameLakes(t, c.local, lk, true)
		if t.Failed() {
			t.Fatalf("trial %d: the run's output:\n%s", trial, out.String())
		}
		sweepBootCopies(t, trialStart)
		removeEntries(t, filepath.Join(c.dir, "jobserver", "tmp", "beam-artifact-staging"))
	}
	t.Logf("%d trials on the %s cluster, %s killed: %d landed mid-job (the runner retried), 0 rows lost or doubled", trials, c.engine, what, landed)
	if landed < trials/2 {
		t.Errorf("only %d of %d kills landed while the job ran", landed, trials)
	}
	return landed
}

// lostTasks counts the work Spark's driver (in the job server) logged as
// lost so far: "Lost task" lines (a task failed) and "Lost executor" lines
// (an executor went, with its running tasks and its shuffle output, which
// Spark computes again). 0 on Flink.
func (c clusterRun) lostTasks(t *testing.T) int {
	if c.engine != "spark" {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(c.dir, "jobserver", "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte("Lost task")) + bytes.Count(data, []byte("Lost executor"))
}

// killGoWorkers has a Go worker process SIGKILLed in the middle of a bundle,
// five times: the kill switch (transforms.KillEnv) in the workers'
// environment makes the first attempt of some raw files or gold shards,
// picked by a random count per trial, kill its own process after emitting
// part of its output. The runner records the failure and retries (Flink
// restarts the job, Spark the task), but Beam's runners do not always
// replace the dead worker: attempts that reach it again fail too, and when
// the runner gives up, the command fails in one line and a rerun finishes
// the batch. Either way the summary's counts and the five tables equal the
// in-process run's. A trial lands when a worker was killed and the runner
// recorded the failure.
func killGoWorkers(t *testing.T, c clusterRun) {
	rng := rand.New(rand.NewPCG(31, 31))
	const trials = 5
	landed, reruns := 0, 0
	for trial := range trials {
		start := time.Now()
		spec := fmt.Sprintf("bronze/%d", 120+rng.IntN(80)) // one or two of the 300 raw files
		if rng.IntN(2) == 0 {
			spec = fmt.Sprintf("gold/%d", 1+rng.IntN(3))
		}
		markers := t.TempDir()
		before, lostBefore := c.failureMarks(t)
		lk := c.lake(fmt.Sprintf("worker-killed-%d", trial))
		args := []string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
			"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, medallionBin(t), append(args, c.flags(t, map[string]string{transforms.KillEnv: spec + ":" + markers})...)...)
		cmd.Dir = t.TempDir()
		b, err := cmd.CombinedOutput()
		cancel()
		out := string(b)
		killed, _ := os.ReadDir(markers)
		recorded := c.failuresSince(t, before, lostBefore)
		if len(killed) > 0 && recorded > 0 {
			landed++
		}
		outcome := "the runner retried"
		if err != nil {
			// The runner gave up: one line says so, and a rerun (no kill
			// switch) finishes the batch.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "medallion: batch 0 failed: ") }) {
				t.Fatalf("trial %d (%s): %v\n%s", trial, spec, err, out)
			}
			reruns++
			line := lines[slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "medallion: ") })]
			outcome = "the command failed (" + line[:min(len(line), 300)] + "…); a rerun finished the batch"
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Minute)
			out = runMedallion(t, rctx, append(args, c.flags(t, nil)...)...)
			rcancel()
		}
		t.Logf("trial %d (%s): %d Go workers killed themselves mid-bundle; %s recorded %d task failures; %s", trial, spec, len(killed), c.engine, recorded, outcome)
		sameLakes(t, c.local, lk, true)
		sameSummaryCounts(t, c.localSum, out)
		if t.Failed() {
			t.Fatalf("trial %d: the run's output:\n%s", trial, out)
		}
		sweepBootCopies(t, start)
		removeEntries(t, filepath.Join(c.dir, "jobserver", "tmp", "beam-artifact-staging"))
	}
	t.Logf("%d trials on the %s cluster, a Go worker SIGKILLed mid-bundle: %d landed, %d batches finished by a rerun, 0 rows lost or doubled", trials, c.engine, landed, reruns)
	if landed < trials-1 {
		t.Errorf("only %d of %d trials killed a worker whose failure the runner recorded", landed, trials)
	}
}

// failureMarks notes what failuresSince counts from: Flink's jobs, or the
// Spark driver's "Lost task" lines.
func (c clusterRun) failureMarks(t *testing.T) (map[string]flinkJob, int) {
	if c.engine == "flink" {
		return c.jobs(t), 0
	}
	return nil, c.lostTasks(t)
}

// failuresSince counts the task failures the runner recorded since the
// marks: Flink's exception histories of the jobs since, or Spark's "Lost
// task" lines.
func (c clusterRun) failuresSince(t *testing.T, before map[string]flinkJob, lostBefore int) int {
	if c.engine != "flink" {
		return c.lostTasks(t) - lostBefore
	}
	n := 0
	for id := range c.jobs(t) {
		if _, old := before[id]; !old {
			n += c.failures(t, id)
		}
	}
	return n
}

// killSparkWorkers SIGKILLs one of the two Spark Workers with its executor
// (and the executor's Go workers: the Worker's process group) at a random
// point of a job, five times, and starts another, as a supervisor would:
// Spark's driver loses the executor and reschedules its tasks.
func killSparkWorkers(t *testing.T, c clusterRun) {
	killTrials(t, c, "Spark Worker", 5, 41, func(rng *rand.Rand) (string, bool) {
		ws := c.members(t, "worker-")
		if len(ws) != 2 {
			t.Fatalf("%d Spark Workers live, want 2", len(ws))
		}
		victim := ws[rng.IntN(len(ws))]
		err := syscall.Kill(-victim, syscall.SIGKILL)
		add := exec.Command(c.script, "spark", "add-worker", "--dir", c.dir)
		add.Env = c.env
		if b, err := add.CombinedOutput(); err != nil {
			t.Fatalf("cluster.sh spark add-worker: %v\n%s", err, b)
		}
		return fmt.Sprintf("Spark Worker %d", victim), err == nil
	})
}

// killJobManager SIGKILLs the Flink JobManager (no high availability) at a
// random point of a batch job: the command fails, its last line a one-line
// failure naming the lost job, and leaves the lake as it was before the
// batch's commits; a new cluster (down, up) and a rerun finish the batch,
// and the five tables equal the in-process run's. Reference: Flink 1.19,
// whose TaskManagers cancel their tasks when the JobManager goes.
func killJobManager(t *testing.T, c clusterRun) {
	lk := c.lake("jm-killed")
	args := append([]string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
		"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, c.flags(t, nil)...)
	before := c.jobs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, medallionBin(t), args...)
	cmd.Dir = t.TempDir()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		running := false
		for id, j := range c.jobs(t) {
			if _, old := before[id]; !old && j.State == "RUNNING" {
				running = true
			}
		}
		if running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job ran on the cluster\n%s", out.String())
		}
	}
	// Within an uninterrupted run's length: killed later, the job may have
	// committed before the JobManager went.
	wait := time.Duration(rand.Int64N(int64(c.shortestJob(t) * 7 / 10)))
	time.Sleep(wait)
	jm := c.members(t, "jobmanager")
	if len(jm) != 1 {
		t.Fatalf("%d JobManagers live, want 1", len(jm))
	}
	syscall.Kill(-jm[0], syscall.SIGKILL)
	start := time.Now()
	err := cmd.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	t.Logf("JobManager killed %v into the job; the command ended %v later: %v; its last lines:\n%s", wait.Round(time.Millisecond),
		time.Since(start).Round(time.Second), err, strings.Join(lines[max(0, len(lines)-3):], "\n"))
	if err == nil {
		t.Fatalf("the command ended well with its JobManager killed\n%s", out.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("the command did not end within 5 minutes of the JobManager's loss\n%s", out.String())
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "medallion: ") && strings.Contains(l, "lost") }) {
		t.Errorf("no one-line failure saying the job was lost:\n%s", out.String())
	}

	for _, verb := range []string{"down", "up"} {
		args := []string{"flink", verb, "--dir", c.dir}
		if verb == "up" {
			args = append(args, "--taskmanagers", "2", "--job-port", strconv.Itoa(c.jobPort), "--rest-port", strconv.Itoa(c.restPort), "--rpc-port", strconv.Itoa(loopbackPort(t)))
		}
		cmd := exec.Command(c.script, args...)
		cmd.Env = c.env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer rcancel()
	rerun := runMedallion(t, rctx, args...)
	switch {
	case strings.Contains(rerun, "run summary (batch 0"):
		t.Logf("the rerun on a new cluster did batch 0")
	case strings.Contains(rerun, "no new input files"):
		// The job committed every table before the JobManager went; only
		// its result was lost.
		t.Logf("the job had committed the batch before the JobManager went; the rerun found nothing to do")
	default:
		t.Errorf("the rerun's summary:\n%s", rerun)
	}
	sameLakes(t, c.local, lk, true)
}

// streamTaskManagerKilled runs a stream on the Flink cluster (three waves of
// 120 files), SIGKILLs one TaskManager at a random point of the second wave
// and starts another. Flink restarts the streaming job; the stream carries on,
// or, when the command fails, a rerun finishes what was planned. Either way
// the tables equal an in-process batch run's over the same files. Reference:
// Flink 1.19's restart of a streaming job through Beam 2.62's Flink runner.
func streamTaskManagerKilled(t *testing.T, c clusterRun) {
	ctx := context.Background()
	dir := t.TempDir()
	input := fmt.Sprintf("s3://%s/%s/stream-in", c.e.bucket, c.engine)
	lk := c.lake("stream-tm-killed")
	args := func(idle string) []string {
		return append([]string{"stream", "--trigger", "1s", "--idle-timeout", idle, "--monitor", "1h", "--input", input, "--lake", lk,
			"--registry", c.e.registry, "--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()},
			append(c.flags(t, nil), "--job-option", "checkpointing_interval=1000")...)
	}
	var out lockedBuffer
	cmd := exec.Command(medallionBin(t), args("0")...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	var cmdErr error
	running := true
	defer func() {
		if running {
			cmd.Process.Kill()
			<-ended
		}
	}()
	waitCommitted := func(what string) {
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(300 * time.Millisecond) {
			if _, done := caughtUp(t, ctx, input, lk); done {
				return
			}
			select {
			case cmdErr = <-ended:
				running = false
				return
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not committed within 3 minutes\n%s", what, out.String())
			}
		}
	}
	landWave(t, dir, input, 0)
	waitCommitted("wave 0")
	if !running {
		t.Fatalf("the stream ended before its first wave was committed: %v\n%s", cmdErr, out.String())
	}
	before := c.jobs(t)
	landWave(t, dir, input, 1)
	wait := time.Duration(rand.Int64N(int64(4 * time.Second)))
	time.Sleep(wait)
	tms := c.members(t, "taskmanager-")
	if len(tms) != 2 {
		t.Fatalf("%d TaskManagers live, want 2", len(tms))
	}
	syscall.Kill(tms[0], syscall.SIGKILL)
	add := exec.Command(c.script, "flink", "add-taskmanager", "--dir", c.dir)
	add.Env = c.env
	if b, err := add.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh flink add-taskmanager: %v\n%s", err, b)
	}
	waitCommitted("wave 1, a TaskManager killed")
	if running {
		landWave(t, dir, input, 2)
		waitCommitted("wave 2")
	}
	failures := 0
	for id := range c.jobs(t) {
		if _, old := before[id]; !old || before[id].State == "RUNNING" {
			failures += c.failures(t, id)
		}
	}
	outcome := "the stream carried on"
	if running {
		runMedallion(t, ctx, "stop", "--lake", lk)
		select {
		case cmdErr = <-ended:
			running = false
		case <-time.After(3 * time.Minute):
			t.Fatalf("the stream did not stop\n%s", out.String())
		}
		if cmdErr != nil || !strings.Contains(out.String(), "stream stopped (stop requested)") {
			t.Fatalf("the stream after its TaskManager was killed: %v\n%s", cmdErr, out.String())
		}
	} else {
		// The command failed: one line says so, and a rerun (idle after 6 s)
		// finishes the waves.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "medallion: ") })
		if i < 0 {
			t.Fatalf("the stream ended (%v) without a one-line failure:\n%s", cmdErr, out.String())
		}
		landWave(t, dir, input, 2)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		runMedallion(t, rctx, args("6s")...)
		outcome = fmt.Sprintf("the command failed (%.300s); a rerun finished the stream", lines[i])
	}
	t.Logf("stream: TaskManager %d killed %v after wave 1 landed; Flink recorded %d task failures; %s", tms[0], wait.Round(time.Millisecond), failures, outcome)
	if failures == 0 {
		t.Errorf("Flink recorded no failure: the kill did not land\n%s", out.String())
	}
	sameLakes(t, batchLake(t, input), lk, false)
	sweepBootCopies(t, c.start)
	removeEntries(t, filepath.Join(c.dir, "jobserver", "tmp", "beam-artifact-staging"))
}
