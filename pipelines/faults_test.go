package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// medallionBin builds the command (pipelines/medallion) once per test
// process, with cgo (ONNX Runtime), into a temporary folder: the tests below
// check what a user sees (stderr, exit code), and worker-process tests stage
// it as the workers' binary.
func medallionBin(t *testing.T) string {
	t.Helper()
	cmdBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "medallion-cmd-")
		if err != nil {
			cmdBuild.err = err
			return
		}
		cmdBuild.path = filepath.Join(dir, "medallion")
		build := exec.Command("go", "build", "-o", cmdBuild.path, "./medallion")
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := build.CombinedOutput(); err != nil {
			cmdBuild.err = fmt.Errorf("build the medallion command: %v\n%s", err, out)
		}
	})
	if cmdBuild.err != nil {
		t.Fatal(cmdBuild.err)
	}
	return cmdBuild.path
}

var cmdBuild struct {
	once sync.Once
	path string
	err  error
}

// cli runs the command with args in a child process and returns its
// stderr, stdout and exit code.
func cli(t *testing.T, args ...string) (stderr, stdout string, code int) {
	t.Helper()
	cmd := exec.Command(medallionBin(t), args...)
	var e, o strings.Builder
	cmd.Stderr, cmd.Stdout = &e, &o
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %v: %v", args, err)
	}
	return e.String(), o.String(), cmd.ProcessState.ExitCode()
}

// needRoot skips loudly: mounting a tmpfs (full disk, read-only lake) needs root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: needs root to mount a tmpfs (full disk, read-only lake)")
	}
}

// mountTmpfs mounts a small tmpfs on a new folder under t.TempDir() and
// unmounts it when the test ends (before the folder is removed).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", dir, mode, err, out)
	}
}

// fill leaves about free bytes on the file system holding dir.
func fill(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := avail - free; n > 0 {
		if _, err := f.Write(make([]byte, n)); err != nil {
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
	return p
}

// sameTables compares every table of got with want's as row multisets
// (processing_time aside), as TestCrashAndRerun does.
func sameTables(t *testing.T, what, got, want string) {
	t.Helper()
	for _, name := range Tables {
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
				if err := os.WriteFile(filepath.Join(lk, plansDir, fmt.Sprintf("%020d.json", 0)), []byte(old), 0o644); err != nil {
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
			if !sum.Redo || sum.QuarantineByReason["bronze/"+tc.category] != 1 || sum.RawRecords != sum.table(BronzeTable).Rows+sum.BronzeQuarantined {
				t.Errorf("summary: redo %v, reasons %v, raw %d, bronze %d + %d", sum.Redo, sum.QuarantineByReason, sum.RawRecords, sum.table(BronzeTable).Rows, sum.BronzeQuarantined)
			}
			for _, name := range []string{BronzeTable, SilverTable, GoldTable, ApplicationTable} {
				g, w := tableMultiset(t, filepath.Join(lk, name)), tableMultiset(t, filepath.Join(ref, name))
				if strings.Join(g, "\n") != strings.Join(w, "\n") {
					t.Errorf("%s has %d rows, the run without the file %d", name, len(g), len(w))
				}
			}
			wantQ := tableMultiset(t, filepath.Join(ref, QuarantineTable))
			var extra []map[string]any
			for _, r := range readTable(t, filepath.Join(lk, QuarantineTable)) {
				if r["source_file"] == victim {
					extra = append(extra, r)
				}
			}
			if got := tableMultiset(t, filepath.Join(lk, QuarantineTable)); len(got) != len(wantQ)+1 || len(extra) != 1 {
				t.Fatalf("quarantine has %d rows (%d for the file), want %d + 1", len(got), len(extra), len(wantQ))
			}
			if reason, _ := extra[0]["reason"].(string); !strings.HasPrefix(reason, tc.category+": ") || extra[0]["stage"] != "bronze" {
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
		{[]string{BronzeTable, ApplicationTable}, true},
		{[]string{QuarantineTable, GoldTable, ApplicationTable}, false},
		{[]string{BronzeTable, SilverTable, GoldTable, ApplicationTable}, false},
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
			if !errors.As(err, &f) || !strings.Contains(f.Msg, victim+" vanished") || !strings.Contains(f.Hint, "--abandon-batch 0") || strings.Contains(f.Msg+f.Hint, "\n") {
				t.Fatalf("redo with a vanished file held by some tables: %v", err)
			}
			// It stays stuck, with the same line, until a human decides.
			if _, err2 := Run(ctx, cfg, prismRunner(ctx)); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second redo: %v", err2)
			}
			if err := AbandonBatch(ctx, cfg.Lake, 1, io.Discard); err == nil {
				t.Error("abandoning a batch that was never planned should fail")
			}
			if err := AbandonBatch(ctx, cfg.Lake, 0, io.Discard); err != nil {
				t.Fatal(err)
			}
			if err := AbandonBatch(ctx, cfg.Lake, 0, io.Discard); err == nil || !strings.Contains(err.Error(), "nothing to abandon") {
				t.Errorf("abandoning twice: %v", err)
			}
			for _, name := range Tables {
				if v, held, err := batchHeld(ctx, cfg.table(name), AppID, 0); err != nil || !held {
					t.Errorf("%s does not hold batch 0 after --abandon-batch (v%d): %v", name, v, err)
				}
			}
			// What the holding tables held is untouched.
			for _, name := range Tables {
				held := !strings.Contains(strings.Join(tc.lacking, ","), name)
				if held || name == ApplicationTable && tc.appLikeRef {
					g, w := tableMultiset(t, cfg.table(name)), tableMultiset(t, filepath.Join(ref, name))
					if strings.Join(g, "\n") != strings.Join(w, "\n") {
						t.Errorf("%s has %d rows after --abandon-batch, the uninterrupted run %d", name, len(g), len(w))
					}
				}
			}
			if !tc.appLikeRef {
				if n := len(readTable(t, cfg.table(ApplicationTable))); n != 0 {
					t.Errorf("application has %d rows, but gold holds none of the batch", n)
				}
			}
			if strings.Contains(strings.Join(tc.lacking, ","), QuarantineTable) {
				q := readTable(t, cfg.table(QuarantineTable))
				for _, r := range q {
					if reason, _ := r["reason"].(string); !strings.HasPrefix(reason, ReasonAbandoned+": batch 0") {
						t.Errorf("quarantine row %v", r)
					}
				}
				if len(q) != 30 {
					t.Errorf("quarantine has %d rows, want one per planned file (30)", len(q))
				}
			}
			if _, err := os.Stat(filepath.Join(cfg.Lake, abandonedDir, fmt.Sprintf("%020d.json", 0))); err != nil {
				t.Errorf("no record of the abandoned batch: %v", err)
			}
			// The lake moves on.
			extra := filepath.Join(in, "9999.json")
			if err := os.WriteFile(extra, []byte(`{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"hi @next","sentiment":"positive"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(extra)
			sum, err := Run(ctx, cfg, prismRunner(ctx))
			if err != nil || sum.Batch != 1 || sum.table(BronzeTable).Rows != 1 || sum.table(GoldTable).Rows != 1 {
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
		{[]string{SilverTable, GoldTable, ApplicationTable}, os.Remove},
		{[]string{GoldTable, ApplicationTable}, func(p string) error { return os.WriteFile(p, []byte(`{"text":"rewritten"}`), 0o644) }},
		{[]string{ApplicationTable}, os.Remove},
		{[]string{SilverTable}, os.Remove},
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
			want := len(Tables) - len(tc.lacking)
			if !strings.Contains(strings.Join(tc.lacking, ","), ApplicationTable) {
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

// The fault matrix, through the command as a user runs it: each fault is
// injected, the run fails with at most three lines on stderr (the root
// cause, naming the file, table or model, and what to do next; no prism
// plan dumps) and a non-zero exit code; the cause is removed, the command
// is run again, and every table equals an uninterrupted run's.
func TestFaultMatrix(t *testing.T) {
	needRuntime(t)
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 40, PerFile: 1, Format: "object", Seed: 53, Bad: 0.05}); err != nil {
		t.Fatal(err)
	}
	model, err := filepath.Abs(demoModel)
	if err != nil {
		t.Fatal(err)
	}
	run := func(lk string, extra ...string) (string, string, int) {
		return cli(t, append([]string{"--input", in, "--lake", lk, "--model", model, "--shards", "2"}, extra...)...)
	}
	ref := t.TempDir()
	if e, o, code := run(ref); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}
	type fault struct {
		name   string
		root   bool
		inject func(t *testing.T) (lake string, args []string) // the lake, and extra arguments for the failing run
		code   int
		want   []string // in the message
	}
	var undo func()
	cases := []fault{
		{name: "full disk during a data write", root: true, code: 1, want: []string{"batch 0 failed: write ", "no space left on device", "next: free space"},
			inject: func(t *testing.T) (string, []string) {
				dir := mountTmpfs(t, "3m")
				filler := fill(t, dir, 12<<10) // the plan fits, the tables' files do not
				undo = func() { os.Remove(filler) }
				return filepath.Join(dir, "lake"), nil
			}},
		{name: "full disk during a commit", root: true, code: 1, want: []string{"batch 0 failed: commit ", "_delta_log", "no space left on device", "next: free space"},
			inject: func(t *testing.T) (string, []string) {
				dir := mountTmpfs(t, "3m")
				lk := filepath.Join(dir, "lake")
				// Data files go to the table folders, commits to _delta_log:
				// a full folder of its own for every log makes the data
				// writes succeed and the first commit fail.
				for _, name := range Tables {
					log := filepath.Join(lk, name, "_delta_log")
					if err := os.MkdirAll(log, 0o755); err != nil {
						t.Fatal(err)
					}
					if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", log).CombinedOutput(); err != nil {
						t.Fatalf("mount: %v %s", err, out)
					}
					fill(t, log, 0)
					t.Cleanup(func() { exec.Command("umount", log).Run() })
				}
				undo = func() {
					for _, name := range Tables {
						log := filepath.Join(lk, name, "_delta_log")
						exec.Command("umount", log).Run()
					}
				}
				return lk, nil
			}},
		{name: "lake read-only", root: true, code: 1, want: []string{"plan batch 0", "read-only file system", "next: make the lake writable"},
			inject: func(t *testing.T) (string, []string) {
				dir := mountTmpfs(t, "3m")
				remount(t, dir, "ro")
				undo = func() { remount(t, dir, "rw") }
				return filepath.Join(dir, "lake"), nil
			}},
		{name: "planned file vanished after some tables committed its batch", code: 1, want: []string{"5.json vanished after bronze, silver committed the batch from it (quarantine, gold, application lack", "next: put the file back", "--abandon-batch 0"},
			inject: func(t *testing.T) (string, []string) {
				lk := t.TempDir()
				halfCommitted(t, Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: model, BatchSize: 16, Threads: 1}, QuarantineTable, GoldTable, ApplicationTable)
				victim, aside := filepath.Join(in, "5.json"), filepath.Join(t.TempDir(), "5.json")
				if err := os.Rename(victim, aside); err != nil {
					t.Fatal(err)
				}
				undo = func() { os.Rename(aside, victim) }
				return lk, nil
			}},
		{name: "planned file truncated after some tables committed its batch", code: 1, want: []string{"6.json changed after planning (planned at ", "now 3 bytes", "(bronze, gold lack", "next: put the file back"},
			inject: func(t *testing.T) (string, []string) {
				lk := t.TempDir()
				halfCommitted(t, Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: model, BatchSize: 16, Threads: 1}, BronzeTable, GoldTable)
				victim := filepath.Join(in, "6.json")
				st, err := os.Stat(victim)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := os.ReadFile(victim)
				if err := os.Truncate(victim, 3); err != nil {
					t.Fatal(err)
				}
				undo = func() { // as it was: same content, size and modification time
					os.WriteFile(victim, data, 0o644)
					os.Chtimes(victim, st.ModTime(), st.ModTime())
				}
				return lk, nil
			}},
		{name: "model folder removed", code: 2, want: []string{"no-model: not a models:/ URI and not a model folder", "next: restore the model folder"},
			inject: func(t *testing.T) (string, []string) {
				gone := filepath.Join(t.TempDir(), "no-model")
				undo = func() {}
				return t.TempDir(), []string{"--model", gone}
			}},
		{name: "model corrupted", code: 2, want: []string{"model.onnx is not a loadable ONNX model", "next: restore the model folder"},
			inject: func(t *testing.T) (string, []string) {
				bad := t.TempDir()
				copyDir(t, model, bad)
				matches, _ := filepath.Glob(filepath.Join(bad, "*", "*.onnx"))
				m2, _ := filepath.Glob(filepath.Join(bad, "*.onnx"))
				for _, m := range append(matches, m2...) {
					if err := os.WriteFile(m, []byte("not an onnx graph"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				undo = func() {}
				return t.TempDir(), []string{"--model", bad}
			}},
		{name: "unreadable registry", code: 2, want: []string{"tweet-sentiment/version-1/meta.yaml", "next: restore the model folder or the registry"},
			inject: func(t *testing.T) (string, []string) {
				reg := filepath.Join(t.TempDir(), "mlruns")
				vdir := filepath.Join(reg, "models", "tweet-sentiment", "version-1")
				if err := os.MkdirAll(vdir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(vdir, "meta.yaml"), []byte("{{{ not yaml: [\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				undo = func() {}
				return t.TempDir(), []string{"--model", "models:/tweet-sentiment/Production", "--registry", reg}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			lk, args := tc.inject(t)
			stderr, stdout, code := run(lk, args...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			t.Logf("exit %d:\n%s", code, stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if len(lines) > 3 || !strings.HasPrefix(lines[0], "medallion: ") || strings.Contains(stderr, "level=") || strings.Contains(stderr, "DataSource") {
				t.Errorf("want at most 3 lines starting with the root cause, got %d:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("message lacks %q", w)
				}
			}
			if strings.TrimSpace(stdout) != "" {
				t.Errorf("a failed run printed on stdout:\n%s", stdout)
			}
			undo()
			if e, o, code := run(lk); code != 0 {
				t.Fatalf("rerun after removing the cause: exit %d\n%s%s", code, o, e)
			}
			sameTables(t, tc.name, lk, ref)
		})
	}
}

// A redo stuck on a vanished planned file, through the command: two lines
// (the cause and --abandon-batch), exit 1; --abandon-batch then lets the
// next run go on; --verbose shows the full error.
func TestStuckRedoCommand(t *testing.T) {
	needRuntime(t)
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 20, PerFile: 1, Format: "object", Seed: 54}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: in, Lake: t.TempDir(), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	halfCommitted(t, cfg, QuarantineTable, GoldTable, ApplicationTable)
	victim := filepath.Join(in, "3.json")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	model, _ := filepath.Abs(demoModel)
	args := []string{"--input", in, "--lake", cfg.Lake, "--model", model}
	stderr, _, code := cli(t, args...)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || len(lines) != 2 || !strings.Contains(lines[0], victim+" vanished") || !strings.Contains(lines[1], "--abandon-batch 0 --lake "+cfg.Lake) {
		t.Errorf("exit %d, %d lines:\n%s", code, len(lines), stderr)
	}
	if stderr, _, _ := cli(t, append(args, "--verbose")...); !strings.Contains(stderr, "full error:") {
		t.Errorf("--verbose shows no full error:\n%s", stderr)
	}
	if stderr, stdout, code := cli(t, "--abandon-batch", "0", "--lake", cfg.Lake); code != 0 || !strings.Contains(stdout, "batch 0 abandoned: closed in quarantine, gold, application") {
		t.Fatalf("--abandon-batch: exit %d\n%s%s", code, stdout, stderr)
	}
	if stderr, stdout, code := cli(t, args...); code != 0 || !strings.Contains(stdout, "no new input files") {
		t.Errorf("after --abandon-batch: exit %d\n%s%s", code, stdout, stderr)
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
	} {
		if got := RootCause(errors.New(tc.err)); got != tc.want {
			t.Errorf("RootCause(%.40q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	f := batchFailure(3, errors.New(prismErr))
	if f.Msg != "batch 3 failed: commit /l/silver: write /l/silver/_delta_log/.tmp-1: no space left on device" || f.Hint != hintSpace || !errors.Is(f, f.Err) {
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
		_, _, err := Stream(ctx, cfg, prismRunner(ctx), StreamOptions{Trigger: 200 * time.Millisecond, IdleTimeout: 2 * time.Second, Monitor: time.Hour}, io.Discard)
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if v, held, _ := batchHeld(ctx, cfg.table(ApplicationTable), AppID, 0); held && v >= 0 {
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
	if v, held, _ := batchHeld(ctx, cfg.table(GoldTable), AppID, 1); !held {
		t.Fatalf("no batch after the model folder went (gold v%d)", v)
	}
	ref := t.TempDir()
	if _, err := Run(ctx, Config{Input: in, Lake: ref, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	sameTables(t, "model removed while streaming", lk, ref)
}
