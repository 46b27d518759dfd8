//go:build integration

package pipelines

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	reforacle "github.com/tweetsentiment/medallion/internal/oracle"
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

func init() {
	removeCmdBuild = func() {
		if cmdBuild.path != "" {
			os.RemoveAll(filepath.Dir(cmdBuild.path))
		}
	}
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

// needRoot skips loudly, or fails under CI (which runs as root):
// mounting a tmpfs (full disk, read-only lake) needs root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		reforacle.Absent(t, "SKIPPED: needs root to mount a tmpfs (full disk, read-only lake)")
	}
}

// mountTmpfs mounts a small tmpfs on a new folder under t.TempDir() and
// unmounts it when the test ends (before the folder is removed).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		reforacle.Absent(t, fmt.Sprintf("SKIPPED: mount tmpfs: %v %s", err, out))
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
		return cli(t, append([]string{"run", "--input", in, "--lake", lk, "--model", model, "--shards", "2"}, extra...)...)
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
				for _, name := range transforms.TableNames() {
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
					for _, name := range transforms.TableNames() {
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
		{name: "planned file vanished after some tables committed its batch", code: 1, want: []string{"5.json vanished after bronze, silver committed the batch from it (quarantine, gold, application lack", "next: put the file back", "medallion abandon --lake ", "--batch 0"},
			inject: func(t *testing.T) (string, []string) {
				lk := t.TempDir()
				halfCommitted(t, Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: model, BatchSize: 16, Threads: 1}, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
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
				halfCommitted(t, Config{Input: in, Lake: lk, Shards: 2, Codec: "zstd", Model: model, BatchSize: 16, Threads: 1}, transforms.BronzeTable.Name, transforms.GoldTable.Name)
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
// (the cause and medallion abandon), exit 1; medallion abandon then lets the
// next run go on; --verbose shows the full error.
func TestStuckRedoCommand(t *testing.T) {
	needRuntime(t)
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 20, PerFile: 1, Format: "object", Seed: 54}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: in, Lake: t.TempDir(), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
	halfCommitted(t, cfg, transforms.QuarantineTable.Name, transforms.GoldTable.Name, transforms.ApplicationTable.Name)
	victim := filepath.Join(in, "3.json")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	model, _ := filepath.Abs(demoModel)
	args := []string{"run", "--input", in, "--lake", cfg.Lake, "--model", model}
	stderr, _, code := cli(t, args...)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || len(lines) != 2 || !strings.Contains(lines[0], victim+" vanished") || !strings.Contains(lines[1], "medallion abandon --lake "+cfg.Lake+" --batch 0") {
		t.Errorf("exit %d, %d lines:\n%s", code, len(lines), stderr)
	}
	if stderr, _, _ := cli(t, append(args, "--verbose")...); !strings.Contains(stderr, "full error:") {
		t.Errorf("--verbose shows no full error:\n%s", stderr)
	}
	if stderr, stdout, code := cli(t, "abandon", "--batch", "0", "--lake", cfg.Lake); code != 0 || !strings.Contains(stdout, "batch 0 abandoned: closed in quarantine, gold, application") {
		t.Fatalf("medallion abandon: exit %d\n%s%s", code, stdout, stderr)
	}
	if stderr, stdout, code := cli(t, args...); code != 0 || !strings.Contains(stdout, "no new input files") {
		t.Errorf("after medallion abandon: exit %d\n%s%s", code, stdout, stderr)
	}
}
