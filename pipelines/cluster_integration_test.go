//go:build integration

package pipelines

import (
	"context"
	"encoding/json"
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
// finished on two TaskManagers; `down` leaves none of the processes.
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
}
