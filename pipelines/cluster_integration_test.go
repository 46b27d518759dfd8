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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
)

// A Flink cluster of separate processes (scripts/cluster.sh: a JobManager,
// two TaskManagers, Beam's job server submitting to it): a batch run with
// PROCESS workers the TaskManagers start, input, lake and registry on S3,
// writes the tables of an in-process run; Flink's REST API shows the job
// finished on two TaskManagers; TaskManagers killed mid-job change nothing
// (killTaskManagers); `down` leaves none of the processes, nor a worker.
// Reference: Flink 1.19's standalone cluster and Beam 2.62's Flink runner.
func TestFlinkCluster(t *testing.T) {
	needRuntime(t)
	cp, _ := filepath.Abs("../.cache/runners/flink.classpath")
	needTool(t, "Beam's flink job server (scripts/setup-runners.sh)", cp)
	boot, _ := filepath.Abs("../.cache/bin/beam-boot")
	needTool(t, "Beam's Go boot program", boot)
	e := newEngineSetup(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw")
	if _, err := gen.Generate(gen.Options{Out: raw, Tweets: 300, PerFile: 1, Format: "object", Seed: 87, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := lake.CopyDir(ctx, raw, e.input); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "in-process")
	if _, err := Run(ctx, Config{Input: e.input, Lake: local, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}

	script, _ := filepath.Abs("../scripts/cluster.sh")
	cluster := filepath.Join(dir, "cluster")
	jobPort, restPort, rpcPort := loopbackPort(t), loopbackPort(t), loopbackPort(t)
	up := exec.Command(script, "flink", "up", "--taskmanagers", "2", "--dir", cluster, "--job-port", strconv.Itoa(jobPort),
		"--rest-port", strconv.Itoa(restPort), "--rpc-port", strconv.Itoa(rpcPort))
	// The processes run in folders of their own: ONNX Runtime is found by
	// ORT_LIB, as docs/RUNNING.md says to export it before up.
	ort, _ := filepath.Abs("../.cache/onnxruntime/libonnxruntime.so.1")
	needTool(t, "ONNX Runtime (scripts/setup.sh)", ort)
	up.Env = append(os.Environ(), "BEAM_BOOT="+boot, inference.CacheEnv+"="+t.TempDir(), "ORT_LIB="+ort)
	down := func() {
		if out, err := exec.Command(script, "flink", "down", "--dir", cluster).CombinedOutput(); err != nil {
			t.Errorf("cluster.sh flink down: %v\n%s", err, out)
		}
	}
	pidsFile := filepath.Join(cluster, "pids")
	var pids []int
	defer func() {
		down()
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("process %d of the cluster still runs after down", pid)
			}
		}
		// The TaskManagers' workers run in their folders: none outlives them.
		time.Sleep(2 * time.Second)
		procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
		for _, p := range procs {
			if cwd, err := os.Readlink(p); err == nil && strings.HasPrefix(cwd, cluster+string(filepath.Separator)) {
				args, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
				t.Errorf("a process of the cluster still runs after down, in %s: %s", cwd, bytes.ReplaceAll(args, []byte{0}, []byte{' '}))
			}
		}
	}()
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh flink up: %v\n%s", err, out)
	}
	data, err := os.ReadFile(pidsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if len(pids) != 4 {
		t.Fatalf("cluster.sh started %d processes, want a JobManager, two TaskManagers and the job server", len(pids))
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	lk := "s3://" + e.bucket + "/lake-cluster"
	runMedallion(t, rctx, append([]string{"run", "--input", e.input, "--lake", lk, "--registry", e.registry,
		"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, engineFlags(t, "localhost:"+strconv.Itoa(jobPort))...)...)
	sameLakes(t, local, lk, true)

	var overview struct {
		TaskManagers int `json:"taskmanagers"`
		Finished     int `json:"jobs-finished"`
		Failed       int `json:"jobs-failed"`
	}
	resp, err := http.Get("http://localhost:" + strconv.Itoa(restPort) + "/overview")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&overview)
	resp.Body.Close()
	if err != nil || overview.TaskManagers != 2 || overview.Finished < 1 || overview.Failed != 0 {
		t.Errorf("Flink's overview: %+v, %v; want 2 TaskManagers and the run's jobs finished", overview, err)
	}
	if t.Failed() {
		return
	}
	killTaskManagers(t, clusterRun{e: e, local: local, dir: cluster, script: script, env: up.Env, restPort: restPort, jobPort: jobPort})
}

// clusterRun is a Flink cluster of scripts/cluster.sh and the in-process
// lake its runs are compared with.
type clusterRun struct {
	e                 *engineSetup
	local, dir        string
	script            string
	env               []string // the processes' environment (ORT_LIB, BEAM_BOOT, S3)
	restPort, jobPort int
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

// taskManagers are the pids of the cluster's live TaskManagers.
func (c clusterRun) taskManagers(t *testing.T) []int {
	files, _ := filepath.Glob(filepath.Join(c.dir, "taskmanager-*", "pid"))
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if syscall.Kill(pid, 0) == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killTaskManagers SIGKILLs one of the cluster's two TaskManagers at a random
// point of a running batch job and starts another (as a supervisor would:
// cluster.sh add-taskmanager); Flink restarts the job, the command ends
// well and the five tables equal the in-process run's, versions included.
// Each trial counts as landed when Flink recorded the task failure the kill
// caused and restarted the job. Reference: Flink 1.19's fixed-delay restart
// strategy through Beam 2.62's Flink runner.
func killTaskManagers(t *testing.T, c clusterRun) {
	var span time.Duration
	for _, j := range c.jobs(t) {
		span = max(span, time.Duration(j.Duration)*time.Millisecond)
	}
	rng := rand.New(rand.NewPCG(27, 27))
	const trials = 5
	landed := 0
	for trial := range trials {
		trialStart := time.Now()
		before := c.jobs(t)
		lk := fmt.Sprintf("s3://%s/lake-tm-killed-%d", c.e.bucket, trial)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, medallionBin(t), append([]string{"run", "--input", c.e.input, "--lake", lk, "--registry", c.e.registry,
			"--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}, engineFlags(t, "localhost:"+strconv.Itoa(c.jobPort))...)...)
		cmd.Dir = t.TempDir()
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var job flinkJob
		for deadline := time.Now().Add(2 * time.Minute); job.ID == ""; time.Sleep(100 * time.Millisecond) {
			for id, j := range c.jobs(t) {
				if _, old := before[id]; !old && j.State == "RUNNING" {
					job = j
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: no job ran on the cluster\n%s", trial, out.String())
			}
		}
		wait := time.Duration(rng.Int64N(int64(span * 8 / 10)))
		time.Sleep(wait)
		tms := c.taskManagers(t)
		if len(tms) != 2 {
			t.Fatalf("trial %d: %d TaskManagers live, want 2", trial, len(tms))
		}
		victim := tms[rng.IntN(len(tms))]
		syscall.Kill(victim, syscall.SIGKILL)
		add := exec.Command(c.script, "flink", "add-taskmanager", "--dir", c.dir)
		add.Env = c.env
		if b, err := add.CombinedOutput(); err != nil {
			t.Fatalf("trial %d: cluster.sh flink add-taskmanager: %v\n%s", trial, err, b)
		}
		err := cmd.Wait()
		cancel()
		if err != nil {
			var ex json.RawMessage
			c.rest(t, "/jobs/"+job.ID+"/exceptions", &ex)
			t.Fatalf("trial %d (TaskManager %d killed %v after the job started): %v\n%s\nFlink's exceptions: %.6000s", trial, victim, wait.Round(time.Millisecond), err, out.String(), ex)
		}
		failures := c.failures(t, job.ID)
		if failures > 0 {
			landed++
		}
		t.Logf("trial %d: TaskManager %d killed %v into a job of about %v; Flink recorded %d task failures", trial, victim, wait.Round(time.Millisecond), span.Round(time.Second), failures)
		sameLakes(t, c.local, lk, true)
		if t.Failed() {
			t.Fatalf("trial %d: the run's output:\n%s", trial, out.String())
		}
		sweepBootCopies(t, trialStart)
		removeEntries(t, filepath.Join(c.dir, "jobserver", "tmp", "beam-artifact-staging"))
	}
	t.Logf("%d trials on the Flink cluster: %d kills landed mid-job (Flink restarted it), 0 rows lost or doubled", trials, landed)
	if landed < trials/2 {
		t.Errorf("only %d of %d TaskManager kills landed while the job ran", landed, trials)
	}
}
