package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

func prismRunner(ctx context.Context) Runner { return Env{}.Executor(ctx) }

// stream runs Stream and returns its totals and why it stopped.
func stream(ctx context.Context, c Config, run Runner, o StreamOptions, out io.Writer) (map[string]int64, string, error) {
	res, err := Stream(ctx, c, run, o, out)
	if res == nil {
		return nil, "", err
	}
	return res.Totals, res.Stopped.String(), err
}

// tableMultiset renders a table's rows, processing_time left out (it says
// when a row was read, which a rerun changes), as a sorted list.
func tableMultiset(t *testing.T, dir string) []string {
	t.Helper()
	return tableMultisetOf(t, dir, nil)
}

// tableMultisetOf is tableMultiset with each row first passed to fix.
func tableMultisetOf(t *testing.T, dir string, fix func(map[string]any)) []string {
	t.Helper()
	var out []string
	for _, r := range readTable(t, dir) {
		delete(r, "processing_time")
		if fix != nil {
			fix(r)
		}
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%v;", k, r[k])
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

// Files dropped in three waves into a running stream, as one streaming job
// and as a batch job per trigger: every row lands once in every layer, the
// tables equal a batch run's over the same files, the stream ends by itself
// after the idle timeout, and a restart with one more file ingests just
// that file. (Wiring and the batch run as reference: both are our code; the
// rows themselves are checked against the test oracle.)
func TestStreamWaves(t *testing.T) {
	needRuntime(t)
	for _, engine := range []string{"job", "micro-batch"} {
		t.Run(engine, func(t *testing.T) { streamWaves(t, engine == "micro-batch") })
	}
}

func streamWaves(t *testing.T, microBatch bool) {
	ctx := context.Background()
	in, lk := t.TempDir(), t.TempDir()
	cfg := Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	opts := StreamOptions{Trigger: 300 * time.Millisecond, IdleTimeout: 2 * time.Second, Monitor: time.Hour, MicroBatch: microBatch}
	type result struct {
		totals map[string]int64
		reason string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		totals, reason, err := stream(ctx, cfg, prismRunner(ctx), opts, io.Discard)
		done <- result{totals, reason, err}
	}()
	waves := []gen.Options{
		{Tweets: 200, PerFile: 1, Format: "object", Seed: 21, First: 0},
		{Tweets: 150, PerFile: 1, Format: "object", Seed: 22, First: 200, Bad: 0.05},
		{Tweets: 120, PerFile: 40, Format: "ndjson", Seed: 23, First: 1000},
	}
	for _, w := range waves {
		time.Sleep(700 * time.Millisecond)
		w.Out = in
		if _, err := gen.Generate(w); err != nil {
			t.Fatal(err)
		}
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not stop after its idle timeout")
	}
	if res.err != nil || !strings.HasPrefix(res.reason, "no new file") {
		t.Fatalf("stream ended with %q, %v", res.reason, res.err)
	}
	want := oracle(t, in)
	got := map[string]int64{"bronze": int64(len(readTable(t, cfg.table(transforms.BronzeTable.Name)))), "silver": int64(len(readTable(t, cfg.table(transforms.SilverTable.Name)))),
		"gold": int64(len(readTable(t, cfg.table(transforms.GoldTable.Name)))), "quarantine": int64(len(readTable(t, cfg.table(transforms.QuarantineTable.Name))))}
	wantCounts := map[string]int64{"bronze": want.bronze, "silver": int64(len(want.silver)), "gold": int64(len(want.silver)),
		"quarantine": want.bronzeQ + want.silverQ}
	for k, w := range wantCounts {
		if got[k] != w {
			t.Errorf("%s rows = %d, want %d", k, got[k], w)
		}
	}
	if res.totals["bronze_stream"] != want.bronze || res.totals["gold_stream"] != int64(len(want.silver)) {
		t.Errorf("monitoring totals %v", res.totals)
	}
	cp, err := openCheckpoint(ctx, lk)
	if err != nil || cp.last == nil || cp.last.Batch < 1 {
		t.Fatalf("the waves should make several batches: %+v %v", cp.last, err)
	}
	ref := t.TempDir()
	if _, err := Run(ctx, Config{Input: in, Lake: ref, Shards: 3, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	sameTables(t, "stream against batch", lk, ref)
	for _, f := range []string{"rows.png", "rows.svg", "processing_time.png", "series.csv"} {
		if _, err := os.Stat(filepath.Join(lk, "_monitoring", f)); err != nil {
			t.Errorf("monitoring output %s: %v", f, err)
		}
	}
	// A restart with one more file ingests just that file.
	lastBatch := cp.last.Batch
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 1, PerFile: 1, Format: "object", Seed: 24, First: 5000}); err != nil {
		t.Fatal(err)
	}
	opts.IdleTimeout = 500 * time.Millisecond
	totals, _, err := stream(ctx, cfg, prismRunner(ctx), opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if totals["bronze_stream"] != 1 {
		t.Errorf("restart ingested %d bronze rows, want 1", totals["bronze_stream"])
	}
	cp, _ = openCheckpoint(ctx, lk)
	if cp.last.Batch != lastBatch+1 || len(cp.last.Files) != 1 || !strings.HasSuffix(cp.last.Files[0], "5000.json") {
		t.Errorf("restart planned %+v", cp.last)
	}
	if n := len(readTable(t, cfg.table(transforms.BronzeTable.Name))); int64(n) != want.bronze+1 {
		t.Errorf("bronze has %d rows after the restart, want %d", n, want.bronze+1)
	}
}

// A streaming job stopped while files keep landing, by a stop request
// (--stop) and by SIGINT (ctx): the source ends, the batches it planned are
// committed to every table, --status said "running" meanwhile and says
// "stopped" after, and a restart ingests what landed after the stop.
func TestStreamJobStop(t *testing.T) {
	needRuntime(t)
	for _, how := range []string{"stop requested", "signal"} {
		t.Run(how, func(t *testing.T) {
			in, lk := t.TempDir(), t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, MaxBatchBytes: 8 << 10}
			done := make(chan error, 1)
			var reason string
			go func() {
				var err error
				_, reason, err = stream(ctx, cfg, prismRunner(context.Background()), StreamOptions{Trigger: 200 * time.Millisecond, Monitor: time.Hour}, io.Discard)
				done <- err
			}()
			wave := 0
			landing := func() {
				if _, err := gen.Generate(gen.Options{Out: in, Tweets: 40, PerFile: 1, Format: "object", Seed: uint64(60 + wave), First: 1000 * wave}); err != nil {
					t.Error(err)
				}
				wave++
			}
			deadline := time.Now().Add(60 * time.Second)
			for held, _ := holdsTxn(ctx, cfg.table(transforms.ApplicationTable.Name), AppID, 1); !held; held, _ = holdsTxn(ctx, cfg.table(transforms.ApplicationTable.Name), AppID, 1) {
				if time.Now().After(deadline) {
					t.Fatal("the stream committed no two batches in 60 s")
				}
				landing()
				time.Sleep(100 * time.Millisecond)
			}
			if hb, err := Status(lk); err != nil || hb == nil || hb.State != "running" {
				t.Errorf("status while running: %v, %+v", err, hb)
			}
			landing() // files keep landing as the stop comes
			if how == "signal" {
				cancel()
			} else if err := RequestStop(lk); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil || reason != how {
					t.Fatalf("stream ended with %q, %v; want %q", reason, err, how)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("the stream did not stop")
			}
			cp, err := openCheckpoint(context.Background(), lk)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := cp.unfinished(context.Background()); err != nil || p != nil {
				t.Errorf("after the stop, batch %+v is unfinished (%v)", p, err)
			}
			if hb, err := Status(lk); err != nil || hb == nil || hb.State != "stopped" || hb.Reason != how {
				t.Errorf("status after the stop: %v, %+v; want stopped: %s", err, hb, how)
			}
			// What landed after the stop is the next run's.
			landing()
			if _, err := Run(context.Background(), cfg, prismRunner(context.Background())); err != nil {
				t.Fatal(err)
			}
			want := oracle(t, in)
			if n := int64(len(readTable(t, cfg.table(transforms.BronzeTable.Name)))); n != want.bronze {
				t.Errorf("bronze has %d rows, the files hold %d", n, want.bronze)
			}
			if n := len(readTable(t, cfg.table(transforms.GoldTable.Name))); n != len(want.silver) {
				t.Errorf("gold has %d rows, want %d", n, len(want.silver))
			}
		})
	}
}

// childEnv makes the test binary run one batch and exit (see TestMain).
const childEnv = "MEDALLION_TEST_CHILD"

func runChild() {
	in, lk := os.Getenv(childEnv+"_INPUT"), os.Getenv(childEnv+"_LAKE")
	ctx := context.Background()
	cfg := Config{Input: in, Lake: lk, Shards: 3, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Stages: os.Getenv(childEnv + "_STAGES")}
	if v := os.Getenv(childEnv + "_KAFKA_MAX"); v != "" { // a Kafka input, in batches of this many offsets
		fmt.Sscan(v, &cfg.Kafka.MaxMessages)
	}
	if engine := os.Getenv(childEnv + "_STREAM"); engine != "" { // several small batches, then stop when idle
		cfg.MaxBatchBytes = 16 << 10
		_, _, err := stream(ctx, cfg, prismRunner(ctx), StreamOptions{Trigger: 100 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, Monitor: time.Hour,
			MicroBatch: engine == "micro-batch"}, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if v := os.Getenv(childEnv + "_MAX_BATCH_BYTES"); v != "" {
		fmt.Sscan(v, &cfg.MaxBatchBytes)
		sum, err := Run(ctx, cfg, prismRunner(ctx)) // every batch
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("batches %d-%d\n", sum.FirstBatch, sum.Batch)
		os.Exit(0)
	}
	sum, err := RunBatch(ctx, cfg, prismRunner(ctx))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("batch %d redo %v held %d\n", sum.Batch, sum.Redo, sum.Held)
	os.Exit(0)
}

// Peak memory stays bounded whatever the input: batches take at most
// MaxBatchBytes of input each, so ten times the input costs more batches,
// not more memory.
func TestMemoryBounded(t *testing.T) {
	needRuntime(t)
	peak := func(tweets int) (int64, string) {
		in := t.TempDir()
		if _, err := gen.Generate(gen.Options{Out: in, Tweets: tweets, PerFile: 500, Format: "ndjson", Seed: 41}); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_INPUT="+in, childEnv+"_LAKE="+t.TempDir(),
			childEnv+"_MAX_BATCH_BYTES=1048576")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%d tweets: %v\n%s", tweets, err, out)
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, strings.TrimSpace(string(out))
	}
	small, b1 := peak(10_000)
	large, b10 := peak(100_000)
	ratio := float64(large) / float64(small)
	t.Logf("peak RSS: %d KiB for 10,000 tweets (%s), %d KiB for 100,000 (%s): %.2f×", small, b1, large, b10, ratio)
	if ratio > 1.5 {
		t.Errorf("peak RSS grew %.2f× for 10× the input, want at most 1.5×", ratio)
	}
}

// The source's tracker takes a resume's self-checkpoint and refuses other
// splits: a split in two would leave two sources planning batches. (Wiring:
// Beam's offsetrange tracker underneath is the reference for the rest.)
func TestWatchTrackerSplits(t *testing.T) {
	for _, tc := range []struct {
		fraction     float64
		wantResidual bool
	}{{0, true}, {0.5, false}, {1, false}} {
		tr := watchTracker{offsetrange.NewTracker(offsetrange.Restriction{Start: 3, End: math.MaxInt64})}
		if !tr.TryClaim(int64(3)) {
			t.Fatal("claim 3")
		}
		primary, residual, err := tr.TrySplit(tc.fraction)
		if err != nil {
			t.Fatal(err)
		}
		if got := residual != nil; got != tc.wantResidual {
			t.Errorf("split at %v: residual %v, want one: %v", tc.fraction, residual, tc.wantResidual)
		}
		if tc.wantResidual {
			if p, r := primary.(offsetrange.Restriction), residual.(offsetrange.Restriction); p.End != 4 || r.Start != 4 || r.End != math.MaxInt64 {
				t.Errorf("self-checkpoint: primary %+v, residual %+v", p, r)
			}
		} else if p := primary.(offsetrange.Restriction); p.End != math.MaxInt64 {
			t.Errorf("refused split at %v shrank the restriction to %+v", tc.fraction, p)
		}
	}
}

// The streaming source's idle time counts from the last batch's commit: a
// source idle since long before the commit stops neither while the batch is
// in flight nor just after its commit, but only once the idle timeout has
// passed since it. (CI found the job stopping a moment after a commit on
// Flink, where a batch takes longer than the timeout: the count had been
// restarted only once per timeout while the batch was in flight.)
// [wiring: the source's own calls, its clock and a table's txn]
func TestWatchIdleCountsFromCommit(t *testing.T) {
	ctx := context.Background()
	lk, input := t.TempDir(), t.TempDir()
	w := Watch{Input: input, Lake: lk, TriggerMs: 50, IdleMs: 600, FirstBatch: 0, MaxInFlight: 2, AppID: AppID, Done: transforms.ApplicationTable.Name}
	cp, err := openCheckpoint(ctx, lk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(input, "t.json"), []byte(`{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"a","text":"@b hi","sentiment":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := listInput(input, cp.isClaimed)
	if err != nil || len(files) != 1 {
		t.Fatalf("listing: %v %v", files, err)
	}
	if plan, err := cp.plan(ctx, files, 1<<20, AllStages); err != nil || plan.Batch != 0 {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	f := &watchFn{cp: cp, lastNew: time.Now().Add(-time.Hour)} // batch 0 planned an hour ago
	rt := sdf.NewLockRTracker(watchTracker{offsetrange.NewTracker(offsetrange.Restriction{Start: 1, End: math.MaxInt64})})
	call := func() bool { // whether the source stopped
		t.Helper()
		f.resumeAt = time.Time{}
		pc, err := f.ProcessElement(ctx, &sdf.ManualWatermarkEstimator{}, rt, w,
			func(beam.EventTime, transforms.PlannedFile) { t.Fatal("a file was emitted") },
			func(beam.EventTime, transforms.BatchTick) { t.Fatal("a tick was emitted") })
		if err != nil {
			t.Fatal(err)
		}
		return !pc.ShouldResume()
	}
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; time.Sleep(50 * time.Millisecond) {
		if call() {
			t.Fatal("stopped while batch 0 was in flight")
		}
	}
	if _, err := lake.Open(lake.Join(lk, transforms.ApplicationTable.Name)).Append(ctx, transforms.ApplicationSchema, nil, lake.WriteOptions{AppID: AppID, Version: 0}); err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	for time.Since(committed) < 400*time.Millisecond {
		if call() {
			t.Fatalf("stopped %v after batch 0's commit; the idle timeout is %dms", time.Since(committed), w.IdleMs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline := committed.Add(3 * time.Second)
	for !call() {
		if time.Now().After(deadline) {
			t.Fatal("not stopped 3s after the commit")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if since := time.Since(committed); since < 600*time.Millisecond {
		t.Errorf("stopped %v after the commit, before the idle timeout", since)
	}
}

// A streaming job outlives its driver on a job server: its source stops
// once the run that started it is gone (heartbeat silent, stopped, or
// another run's), and not while the run heartbeats. [wiring: our own
// heartbeat rule]
func TestWatchStopsWithoutDriver(t *testing.T) {
	ctx := context.Background()
	lk, input := t.TempDir(), t.TempDir()
	hb := Heartbeat{State: "running", PID: 42, Host: "driver", Started: time.Now().UTC(), Trigger: "1s", LastBatch: -1}
	w := Watch{Input: input, Lake: lk, TriggerMs: 50, FirstBatch: 0, MaxInFlight: 2, AppID: AppID, Done: transforms.ApplicationTable.Name, Driver: hb.driver()}
	stops := func(what string) bool {
		t.Helper()
		f := &watchFn{}
		rt := sdf.NewLockRTracker(watchTracker{offsetrange.NewTracker(offsetrange.Restriction{Start: 0, End: math.MaxInt64})})
		pc, err := f.ProcessElement(ctx, &sdf.ManualWatermarkEstimator{}, rt, w,
			func(beam.EventTime, transforms.PlannedFile) { t.Fatalf("%s: a file was emitted", what) },
			func(beam.EventTime, transforms.BatchTick) { t.Fatalf("%s: a tick was emitted", what) })
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return !pc.ShouldResume()
	}
	if stops("no heartbeat yet") {
		t.Error("stopped without a heartbeat to read")
	}
	if err := writeHeartbeat(lk, &hb); err != nil {
		t.Fatal(err)
	}
	if stops("its driver heartbeats") {
		t.Error("stopped while its driver heartbeats")
	}
	for _, tc := range []struct {
		name   string
		change func(*Heartbeat)
	}{
		{"another run's heartbeat", func(h *Heartbeat) { h.PID = 43 }},
		{"its driver stopped", func(h *Heartbeat) { h.State = "stopped" }},
		{"its driver is silent", func(h *Heartbeat) { h.Updated = time.Now().Add(-time.Minute) }},
	} {
		h := hb
		h.Updated = time.Now().UTC()
		tc.change(&h)
		data, _ := json.Marshal(h)
		if err := putControl(lk, heartbeatFile, data); err != nil {
			t.Fatal(err)
		}
		if !stops(tc.name) {
			t.Errorf("%s: the source goes on", tc.name)
		}
	}
}
