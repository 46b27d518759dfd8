//go:build integration

package pipelines

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// startJobServer starts the standalone prism job server (built by the
// set-up into .cache/bin/prism) on a free loopback port: the same job API
// Flink's and Spark's job servers speak.
func startJobServer(t *testing.T) string {
	endpoint, _ := startJobServerLogged(t)
	return endpoint
}

// lockedBuffer collects a child process's output for a test to read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startJobServerLogged is startJobServer that keeps the job server's output
// (and so that of the worker processes it starts).
func startJobServerLogged(t *testing.T) (string, *lockedBuffer) {
	t.Helper()
	bin, _ := filepath.Abs("../.cache/bin/prism")
	needTool(t, "the prism job server binary", bin)
	jobPort, webPort := loopbackPort(t), loopbackPort(t)
	cmd := exec.Command(bin, fmt.Sprintf("--job_port=%d", jobPort), fmt.Sprintf("--web_port=%d", webPort))
	return runJobServer(t, cmd, jobPort, "prism", 30*time.Second)
}

func loopbackPort(t *testing.T) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// runJobServer starts a job server (prism, or scripts/jobserver.sh) that
// listens on port, waits until it does, and stops it with every worker
// process it started when the test ends. Workers inherit its folder, where
// Beam's boot program writes pipeline_options.json: a temporary one, never
// the repository; there they cannot find the repository's ONNX Runtime by
// walking up, so they are told where it is (ORT_LIB). cmd.Env, when set,
// adds to this process's environment.
func runJobServer(t *testing.T, cmd *exec.Cmd, port int, what string, wait time.Duration) (string, *lockedBuffer) {
	t.Helper()
	cmd.Dir = t.TempDir()
	ortLib, _ := filepath.Abs(inference.LibraryPath())
	cmd.Env = append(append(os.Environ(), "ORT_LIB="+ortLib, "TMPDIR="+t.TempDir()), cmd.Env...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = time.Second                           // worker processes it started may hold its output open
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the server and its workers, stopped together
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		sweepBootCopies(t, started)
	})
	endpoint := fmt.Sprintf("localhost:%d", port)
	for deadline := time.Now().Add(wait); ; {
		if c, err := net.Dial("tcp", endpoint); err == nil {
			c.Close()
			return endpoint, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s job server did not listen on %s:\n%s", what, endpoint, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sweepBootCopies removes the copies of the worker binary that Beam's Go
// boot program made in /tmp/binNNN since a job server started (it never
// removes them: about 270 MB a worker process), once their workers ended:
// a copy a live process executes, or one written in the last few seconds
// (its boot program has yet to run it), belongs to a job still running, as
// on the other cluster of TestClusters.
func sweepBootCopies(t *testing.T, since time.Time) {
	dirs, _ := filepath.Glob("/tmp/bin*")
	running := map[string]bool{}
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, e := range exes {
		if p, err := os.Readlink(e); err == nil {
			running[p] = true
		}
	}
	for _, d := range dirs {
		worker := filepath.Join(d, "worker")
		st, err := os.Stat(worker)
		if err != nil || st.ModTime().Before(since.Add(-time.Second)) || running[worker] || time.Since(st.ModTime()) < 5*time.Second {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			t.Logf("remove the boot program's copy %s: %v", d, err)
		}
	}
}

// Batch and stream runs submitted to a standalone job server give the same
// tables as in-process runs.
func TestJobServer(t *testing.T) {
	needRuntime(t)
	endpoint := startJobServer(t)
	ctx := context.Background()
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 800, PerFile: 1, Format: "object", Seed: 51, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	cfg := func(lk string) Config {
		return Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	}
	local, remote := t.TempDir(), t.TempDir()
	if _, err := Run(ctx, cfg(local), prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	onServer := Env{Runner: "universal", Endpoint: endpoint, EnvironmentType: "LOOPBACK"}
	rc := cfg(remote)
	rc.Env = onServer
	sum, err := Run(ctx, rc, onServer.Executor(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Check(); err != nil {
		t.Error(err)
	}
	if sum.RawRecords != 800 || sum.Files != 800 {
		t.Errorf("through the job server: %d files, %d raw records (metrics must come back)", sum.Files, sum.RawRecords)
	}
	sameLakes(t, local, remote, true)
	// A short stream through the job server: two waves, then idle;
	// submitted as the command submits a stream to a job server, with
	// Env.ForStream, with LOOPBACK workers.
	sin, slk := t.TempDir(), t.TempDir()
	sc := cfg(slk)
	sc.Input, sc.Env = sin, onServer
	streamRunner := onServer.ForStream(300 * time.Millisecond).Executor(ctx)
	done := make(chan error, 1)
	var totals map[string]int64
	go func() {
		var err error
		totals, _, err = stream(ctx, sc, streamRunner, StreamOptions{Trigger: 300 * time.Millisecond, IdleTimeout: 2 * time.Second, Monitor: time.Hour}, io.Discard)
		done <- err
	}()
	for i, seed := range []uint64{52, 53} {
		time.Sleep(600 * time.Millisecond)
		if _, err := gen.Generate(gen.Options{Out: sin, Tweets: 100, PerFile: 1, Format: "object", Seed: seed, First: i * 100}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("stream through the job server did not stop")
	}
	if totals["bronze_stream"] != 200 {
		t.Errorf("stream through the job server: bronze %d rows, want 200 (%v)", totals["bronze_stream"], totals)
	}
	if n := len(readTable(t, sc.table(transforms.BronzeTable.Name))); n != 200 {
		t.Errorf("bronze has %d rows, want 200", n)
	}
	if _, err := os.Stat(filepath.Join(slk, "_monitoring", "rows.png")); err != nil {
		t.Errorf("monitoring through the job server: %v", err)
	}
}

// Workers in separate processes: the job server starts SDK workers with
// --environment_type=PROCESS through Beam's boot program
// (scripts/process-worker.sh), which fetches the staged --worker_binary and
// runs it. Nothing of the pipeline runs in the submitting process, which is
// how Flink and Spark task managers run it; the tables equal an in-process run.
func TestProcessWorkers(t *testing.T) {
	needRuntime(t)
	boot, _ := filepath.Abs("../.cache/bin/beam-boot")
	needTool(t, "Beam's Go boot program", boot)
	script, _ := filepath.Abs("../scripts/process-worker.sh")
	endpoint, logs := startJobServerLogged(t)
	dir := t.TempDir()
	bin := medallionBin(t)
	in := filepath.Join(dir, "raw")
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 300, PerFile: 1, Format: "object", Seed: 71, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	model, _ := filepath.Abs(demoModel)
	local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	ctx := context.Background()
	if _, err := Run(ctx, Config{Input: in, Lake: local, Shards: 2, Codec: "zstd", Model: model, BatchSize: 16, Threads: 1}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	run := exec.CommandContext(rctx, bin, "run", "--input", in, "--lake", remote, "--model", model, "--shards", "2", "--inference-threads", "1",
		"--runner=universal", "--endpoint="+endpoint, "--environment_type=PROCESS", "--shared-paths", // the workers run on this machine
		`--environment_config={"command":"`+script+`"}`, "--worker_binary="+bin)
	run.Dir = dir // not the repository: the worker finds ONNX Runtime through ORT_LIB alone
	ortLib, _ := filepath.Abs(inference.LibraryPath())
	run.Env = append(os.Environ(), "ORT_LIB="+ortLib, "BEAM_BOOT="+boot)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("medallion with PROCESS workers: %v\n%s\njob server:\n%s", err, out, logs.String())
	}
	if !strings.Contains(logs.String(), "Provision info") {
		t.Fatalf("no worker process was booted by the job server:\n%s", logs.String())
	}
	sameLakes(t, local, remote, true)
}
