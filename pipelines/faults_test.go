package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// sameTables compares every table of got with want's as row multisets
// (processing_time aside), as TestCrashAndRerun does.
func sameTables(t *testing.T, what, got, want string) {
	t.Helper()
	for _, name := range transforms.TableNames() {
		g, w := tableMultiset(t, filepath.Join(got, name)), tableMultiset(t, filepath.Join(want, name))
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s: %s has %d rows, the uninterrupted run %d", what, name, len(g), len(w))
		}
	}
}

// planOnly plans the next batch of in on lk and runs nothing: the state a
// run killed right after planning leaves.
func planOnly(t *testing.T, in, lk string, maxBytes int64) *Plan {
	t.Helper()
	ctx := context.Background()
	cp, err := openCheckpoint(ctx, lk)
	if err != nil {
		t.Fatal(err)
	}
	files, err := listInput(in, cp.isClaimed)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := cp.next(ctx, files, maxBytes, AllStages)
	if err != nil || p == nil {
		t.Fatalf("plan: %v %v", p, err)
	}
	return p
}

// A planned file the user deletes, truncates or rewrites before the batch
// that planned it ran: the redo goes on without it, one quarantine row says
// why, the accounting holds (Run checks it: the file counts as one raw
// record, quarantined, as an unreadable file does), and every table equals
// an uninterrupted run over the input without that file plus that row.
func TestPlannedFileFaults(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		oldPlan  bool // the plan predates sizes and modification times
		fault    func(path string) error
		category string
	}{
		{"vanished", false, os.Remove, transforms.ReasonVanished},
		{"vanished, plan without sizes", true, os.Remove, transforms.ReasonVanished},
		{"truncated", false, func(p string) error { return os.Truncate(p, 10) }, transforms.ReasonChanged},
		{"rewritten, same size", false, func(p string) error {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			later := time.Now().Add(time.Minute)
			if err := os.WriteFile(p, []byte(strings.ToUpper(string(data))), 0o644); err != nil {
				return err
			}
			return os.Chtimes(p, later, later)
		}, transforms.ReasonChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			if _, err := gen.Generate(gen.Options{Out: in, Tweets: 30, PerFile: 1, Format: "object", Seed: 51, Bad: 0.1}); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(in, "5.json")
			aside := filepath.Join(t.TempDir(), "5.json")
			cfg := func(lk string) Config {
				return Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
			}
			// The uninterrupted run never saw the file.
			ref := t.TempDir()
			if err := os.Rename(victim, aside); err != nil {
				t.Fatal(err)
			}
			if _, err := Run(ctx, cfg(ref), prismRunner(ctx)); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(aside, victim); err != nil {
				t.Fatal(err)
			}
			lk := t.TempDir()
			p := planOnly(t, in, lk, 0)
			if tc.oldPlan { // rewrite the plan as runs before this change wrote it
				old := fmt.Sprintf(`{"batch":0,"files":[%q`, p.Files[0])
				for _, f := range p.Files[1:] {
					old += fmt.Sprintf(",%q", f)
				}
				old += `],"created":"2026-01-01T00:00:00Z"}`
				if err := os.WriteFile(filepath.Join(lk, planName(0)), []byte(old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.fault(victim); err != nil {
				t.Fatal(err)
			}
			sum, err := Run(ctx, cfg(lk), prismRunner(ctx))
			if err != nil {
				t.Fatalf("the redo should go on without the file: %v", err)
			}
			if !sum.Redo || sum.QuarantineByReason["bronze/"+tc.category] != 1 || sum.RawRecords != sum.table(transforms.BronzeTable.Name).Rows+sum.BronzeQuarantined {
				t.Errorf("summary: redo %v, reasons %v, raw %d, bronze %d + %d", sum.Redo, sum.QuarantineByReason, sum.RawRecords, sum.table(transforms.BronzeTable.Name).Rows, sum.BronzeQuarantined)
			}
			for _, name := range []string{transforms.BronzeTable.Name, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name} {
				g, w := tableMultiset(t, filepath.Join(lk, name)), tableMultiset(t, filepath.Join(ref, name))
				if strings.Join(g, "\n") != strings.Join(w, "\n") {
					t.Errorf("%s has %d rows, the run without the file %d", name, len(g), len(w))
				}
			}
			wantQ := tableMultiset(t, filepath.Join(ref, transforms.QuarantineTable.Name))
			var extra []map[string]any
			for _, r := range readTable(t, filepath.Join(lk, transforms.QuarantineTable.Name)) {
				if r["source_file"] == victim {
					extra = append(extra, r)
				}
			}
			if got := tableMultiset(t, filepath.Join(lk, transforms.QuarantineTable.Name)); len(got) != len(wantQ)+1 || len(extra) != 1 {
				t.Fatalf("quarantine has %d rows (%d for the file), want %d + 1", len(got), len(extra), len(wantQ))
			}
			if reason, _ := extra[0]["reason"].(string); !strings.HasPrefix(reason, tc.category+": ") || extra[0]["stage"] != transforms.BronzeTable.Name {
				t.Errorf("quarantine row for the file: %v", extra[0])
			}
		})
	}
}

// halfCommitted runs a batch to the end on lk, then removes the last
// commit of each table in lacking: the state a run killed between table
// commits leaves (their data files stay, as orphans).
func halfCommitted(t *testing.T, cfg Config, lacking ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := Run(ctx, cfg, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	for _, name := range lacking {
		dropLastCommit(t, cfg.table(name))
	}
}

// A planned file deleted after some tables, but not both bronze and
// quarantine, committed its batch: the redo stops with one line naming the file, the tables and --abandon-batch;
// --abandon-batch closes the batch in the other tables without touching
// what the holding ones hold (application from the gold rows the batch
// committed, quarantine with a row per planned file), and the lake moves on:
// the next new file is batch 1.
func TestAbandonBatch(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 30, PerFile: 1, Format: "object", Seed: 52, Bad: 0.1}); err != nil {
		t.Fatal(err)
	}
	ref := t.TempDir()
	if _, err := Run(ctx, Config{Input: in, Lake: ref, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(in, "5.json")
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lacking []string
		// application equals the reference (gold held the batch) or is empty
		appLikeRef bool
	}{
		{[]string{transforms.BronzeTable.Name, transforms.ApplicationTable.Name}, true},
		{[]string{transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name}, false},
		{[]string{transforms.BronzeTable.Name, transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name}, false},
	} {
		t.Run(strings.Join(tc.lacking, "+"), func(t *testing.T) {
			if err := os.WriteFile(victim, data, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := Config{Input: in, Lake: t.TempDir(), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
			halfCommitted(t, cfg, tc.lacking...)
			if err := os.Remove(victim); err != nil {
				t.Fatal(err)
			}
			_, err := Run(ctx, cfg, prismRunner(ctx))
			var f *Failure
			if !errors.As(err, &f) || !strings.Contains(f.Msg, victim+" vanished") || !strings.Contains(f.Hint, "medallion abandon --lake "+cfg.Lake+" --batch 0") || strings.Contains(f.Msg+f.Hint, "\n") {
				t.Fatalf("redo with a vanished file held by some tables: %v", err)
			}
			// It stays stuck, with the same line, until a human decides.
			if _, err2 := Run(ctx, cfg, prismRunner(ctx)); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second redo: %v", err2)
			}
			if _, err := AbandonBatch(ctx, cfg.Lake, 1); err == nil {
				t.Error("abandoning a batch that was never planned should fail")
			}
			if _, err := AbandonBatch(ctx, cfg.Lake, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := AbandonBatch(ctx, cfg.Lake, 0); err == nil || !strings.Contains(err.Error(), "nothing to abandon") {
				t.Errorf("abandoning twice: %v", err)
			}
			for _, name := range transforms.TableNames() {
				if v, held, err := batchHeld(ctx, cfg.table(name), AppID, 0); err != nil || !held {
					t.Errorf("%s does not hold batch 0 after --abandon-batch (v%d): %v", name, v, err)
				}
			}
			// What the holding tables held is untouched.
			for _, name := range transforms.TableNames() {
				held := !strings.Contains(strings.Join(tc.lacking, ","), name)
				if held || name == transforms.ApplicationTable.Name && tc.appLikeRef {
					g, w := tableMultiset(t, cfg.table(name)), tableMultiset(t, filepath.Join(ref, name))
					if strings.Join(g, "\n") != strings.Join(w, "\n") {
						t.Errorf("%s has %d rows after --abandon-batch, the uninterrupted run %d", name, len(g), len(w))
					}
				}
			}
			if !tc.appLikeRef {
				if n := len(readTable(t, cfg.table(transforms.ApplicationTable.Name))); n != 0 {
					t.Errorf("application has %d rows, but gold holds none of the batch", n)
				}
			}
			if strings.Contains(strings.Join(tc.lacking, ","), transforms.QuarantineTable.Name) {
				q := readTable(t, cfg.table(transforms.QuarantineTable.Name))
				for _, r := range q {
					if reason, _ := r["reason"].(string); !strings.HasPrefix(reason, ReasonAbandoned+": batch 0") {
						t.Errorf("quarantine row %v", r)
					}
				}
				if len(q) != 30 {
					t.Errorf("quarantine has %d rows, want one per planned file (30)", len(q))
				}
			}
			if _, err := os.Stat(filepath.Join(cfg.Lake, abandonedLedger("").name(0))); err != nil {
				t.Errorf("no record of the abandoned batch: %v", err)
			}
			// The lake moves on.
			extra := filepath.Join(in, "9999.json")
			if err := os.WriteFile(extra, []byte(`{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"hi @next","sentiment":"positive"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(extra)
			sum, err := Run(ctx, cfg, prismRunner(ctx))
			if err != nil || sum.Batch != 1 || sum.table(transforms.BronzeTable.Name).Rows != 1 || sum.table(transforms.GoldTable.Name).Rows != 1 {
				t.Fatalf("after --abandon-batch: %+v %v", sum, err)
			}
		})
	}
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A planned file deleted or rewritten after bronze and quarantine (and
// perhaps more) committed its batch: the redo finishes the other tables
// from bronze's committed rows, and every table equals an uninterrupted
// run's, the file's rows included.
func TestReplayFromBronze(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 30, PerFile: 1, Format: "object", Seed: 55, Bad: 0.1}); err != nil {
		t.Fatal(err)
	}
	cfg := func(lk string) Config {
		return Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	}
	ref := t.TempDir()
	if _, err := Run(ctx, cfg(ref), prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(in, "7.json")
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lacking []string
		fault   func(string) error
	}{
		{[]string{transforms.SilverTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name}, os.Remove},
		{[]string{transforms.GoldTable.Name, transforms.ApplicationTable.Name}, func(p string) error { return os.WriteFile(p, []byte(`{"text":"rewritten"}`), 0o644) }},
		{[]string{transforms.ApplicationTable.Name}, os.Remove},
		{[]string{transforms.SilverTable.Name}, os.Remove},
	} {
		t.Run(strings.Join(tc.lacking, "+"), func(t *testing.T) {
			if err := os.WriteFile(victim, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c := cfg(t.TempDir())
			halfCommitted(t, c, tc.lacking...)
			if err := tc.fault(victim); err != nil {
				t.Fatal(err)
			}
			sum, err := Run(ctx, c, prismRunner(ctx))
			if err != nil {
				t.Fatalf("the redo should finish from bronze: %v", err)
			}
			// The summary counts a table as holding the batch by the batch's
			// commits it finds; application's are its rewrites, never held.
			want := len(transforms.TableNames()) - len(tc.lacking)
			if !strings.Contains(strings.Join(tc.lacking, ","), transforms.ApplicationTable.Name) {
				want--
			}
			if !sum.Redo || sum.Held != want {
				t.Errorf("redo %v, %d tables held the batch, want %d", sum.Redo, sum.Held, want)
			}
			sameTables(t, "finished from bronze", c.Lake, ref)
		})
	}
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The root cause is dug out of a runner's error: what follows Beam's last
// "caused by:", without the "DoFn[…] failed:" line; other errors give their
// first line.
func TestRootCause(t *testing.T) {
	prismErr := "job failed: process bundle failed for instruction inst001 using plan stage-006 : while executing Process for Plan[stage-006]:\n" +
		"1: DataSource[S[stage-006_source@localhost:40839], i0] Out:24 Coder:W;cwv_n1<bytes;c0>!GWC \n" +
		"24: ParDo[beam.createFn] Out:[23] Sig: func([]uint8, func(typex.T)) error, SideInputs: []\n" +
		"\tcaused by:\nDoFn[UID:22, PID:e3, Name: main.readableFile] failed:\n" +
		"commit /l/silver: write /l/silver/_delta_log/.tmp-1: no space left on device"
	for _, tc := range []struct{ err, want string }{
		{prismErr, "commit /l/silver: write /l/silver/_delta_log/.tmp-1: no space left on device"},
		{"nested: caused by: first\n\tcaused by:\n  the last one  \nmore", "the last one"},
		{"open /l/_checkpoints/plans/.tmp: read-only file system", "open /l/_checkpoints/plans/.tmp: read-only file system"},
		{"\nsecond line only", "second line only"},
		{"job medallion-1_5f8e9152 failed:\norg.apache.flink.client.program.ProgramInvocationException: Job failed\n\tat org.apache.flink.Foo", "org.apache.flink.client.program.ProgramInvocationException: Job failed"},
	} {
		if got := RootCause(errors.New(tc.err)); got != tc.want {
			t.Errorf("RootCause(%.40q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	f := batchFailure(3, errors.New(prismErr))
	if f.Msg != "batch 3 failed: commit /l/silver: write /l/silver/_delta_log/.tmp-1: no space left on device" || f.Hint != hintSpace || !errors.Is(f, f.Err) {
		t.Errorf("batchFailure: %q / %q", f.Msg, f.Hint)
	}
	// What Beam's Flink job server said when its JobManager was killed
	// (TestClusters, killJobManager).
	f = batchFailure(0, errors.New("job medallion-1 failed:\njava.net.ConnectException: Connection refused"))
	if f.Msg != "batch 0 failed: the runner lost the job: the job server cannot reach its cluster (java.net.ConnectException: Connection refused)" || f.Hint != hintLost {
		t.Errorf("batchFailure: %q / %q", f.Msg, f.Hint)
	}
}

// Without --verbose, this module's own warnings still reach the user (a
// Delta reader falling back from a broken _last_checkpoint) but records
// logged elsewhere (prism's ERROR-level plan dumps, Beam's log package) do
// not; with --verbose everything at info level does.
func TestQuietLogs(t *testing.T) {
	defer slog.SetDefault(slog.Default())
	ctx := context.Background()
	tbl := lake.Open(t.TempDir())
	if _, err := tbl.Append(ctx, transforms.QuarantineSchema, nil, lake.WriteOptions{AppID: AppID, Version: 0}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tbl.Location, "_delta_log", "_last_checkpoint"), []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verbose := range []bool{false, true} {
		var buf strings.Builder
		QuietLogs(&buf, verbose)
		// A record logged outside this module, as prism logs a failed bundle.
		prism := slog.NewRecord(time.Now(), slog.LevelError, "[SDK] process bundle failed: 1: DataSource …", reflect.ValueOf(strings.ToUpper).Pointer())
		slog.Default().Handler().Handle(ctx, prism)
		beamlog.Errorf(ctx, "beam says %d", 42)
		if _, err := tbl.Snapshot(ctx, -1); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, "ignoring _last_checkpoint") {
			t.Errorf("verbose %v: the lake's warning is missing:\n%s", verbose, out)
		}
		if noisy := strings.Contains(out, "process bundle failed") || strings.Contains(out, "beam says 42"); noisy != verbose {
			t.Errorf("verbose %v: runner logs shown %v:\n%s", verbose, noisy, out)
		}
	}
	QuietLogs(io.Discard, false)
}

// The model folder removed while a stream runs: the model was loaded once,
// before any data was read, and in-process runners reuse that session, so
// later batches still infer, and the tables equal a batch run's.
func TestModelRemovedWhileStreaming(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	in, lk, model := t.TempDir(), t.TempDir(), t.TempDir()
	copyDir(t, demoModel, model)
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 40, PerFile: 1, Format: "object", Seed: 56}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: model, BatchSize: 16, Threads: 1}
	done := make(chan error, 1)
	go func() {
		_, _, err := stream(ctx, cfg, prismRunner(ctx), StreamOptions{Trigger: 200 * time.Millisecond, IdleTimeout: 2 * time.Second, Monitor: time.Hour}, io.Discard)
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if v, held, _ := batchHeld(ctx, cfg.table(transforms.ApplicationTable.Name), AppID, 0); held && v >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream committed no batch in 30 s")
		}
	}
	if err := os.RemoveAll(model); err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 20, PerFile: 1, Format: "object", Seed: 57, First: 1000}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the stream failed after the model folder went: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not stop")
	}
	if v, held, _ := batchHeld(ctx, cfg.table(transforms.GoldTable.Name), AppID, 1); !held {
		t.Fatalf("no batch after the model folder went (gold v%d)", v)
	}
	ref := t.TempDir()
	if _, err := Run(ctx, Config{Input: in, Lake: ref, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	sameTables(t, "model removed while streaming", lk, ref)
}
