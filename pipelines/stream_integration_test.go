//go:build integration

package pipelines

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// SIGKILL at random points of batch and stream runs, then a rerun: the
// tables equal an uninterrupted run's, and every Delta log stays readable.
func TestCrashAndRerun(t *testing.T) {
	needRuntime(t)
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 600, PerFile: 1, Format: "object", Seed: 31, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	child := func(lk string, extra ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), childEnv+"=1", childEnv+"_INPUT="+in, childEnv+"_LAKE="+lk), extra...)
		return cmd
	}
	ref := t.TempDir()
	start := time.Now()
	if out, err := child(ref).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	full := time.Since(start)
	want := map[string][]string{}
	for _, name := range transforms.TableNames() {
		want[name] = tableMultiset(t, filepath.Join(ref, name))
	}
	// The streams' uninterrupted runs take longer: they cut the input in small batches.
	engines := []string{"job", "micro-batch"}
	fullStream := map[string]time.Duration{}
	for _, e := range engines {
		start = time.Now()
		lk := t.TempDir()
		if out, err := child(lk, childEnv+"_STREAM="+e).CombinedOutput(); err != nil {
			t.Fatalf("reference stream (%s): %v\n%s", e, err, out)
		}
		fullStream[e] = time.Since(start)
		sameTables(t, "uninterrupted stream ("+e+")", lk, ref)
	}
	// rerun runs batches until nothing is left, vacuums away every file no
	// commit names (what a killed run left), and compares the tables with
	// the uninterrupted run's. It returns how many tables already held the
	// batch that the first rerun redid (0: no redo).
	rerun := func(trial int, lk, what, engine string) (held int, redo bool) {
		first := 0
		if engine != "" {
			// The stream restarted: it finishes the batch the kill left,
			// then streams what is left until idle.
			out, err := child(lk, childEnv+"_STREAM="+engine).CombinedOutput()
			if err != nil {
				t.Fatalf("trial %d: restarted stream (%s): %v\n%s", trial, engine, err, out)
			}
			if m := streamRedo.FindStringSubmatch(string(out)); m != nil {
				held, _ = strconv.Atoi(m[1])
				redo = true
			}
			first = 1 // the batch runs below must find nothing left
		}
		for i := 0; i < 3; i++ {
			out, err := child(lk).CombinedOutput()
			if err != nil {
				t.Fatalf("trial %d: rerun: %v\n%s", trial, err, out)
			}
			m := childResult.FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("trial %d: rerun printed no result:\n%s", trial, out)
			}
			batch, _ := strconv.Atoi(m[1])
			r := m[2] == "true"
			h, _ := strconv.Atoi(m[3])
			if i == 0 && first == 0 {
				held, redo = h, r
			}
			if first == 1 && batch >= 0 {
				t.Errorf("trial %d (%s): the restarted stream left batch %d to do", trial, what, batch)
			}
			if batch < 0 {
				break
			}
		}
		if _, err := Vacuum(context.Background(), lk, 0); err != nil {
			t.Fatalf("trial %d: vacuum: %v", trial, err)
		}
		for _, name := range transforms.TableNames() {
			got := tableMultiset(t, filepath.Join(lk, name))
			if strings.Join(got, "\n") != strings.Join(want[name], "\n") {
				t.Errorf("trial %d (%s): %s has %d rows, the uninterrupted run %d", trial, what, name, len(got), len(want[name]))
			}
		}
		return held, redo
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const trials = 30 // ten each: batch, streaming job, micro-batch stream
	killed, redone, half := 0, 0, 0
	redoneBy := map[string]int{}
	for trial := 0; trial < trials; trial++ {
		lk := t.TempDir()
		cmd, span, engine := child(lk), full, ""
		if k := trial % 3; k > 0 {
			engine = engines[k-1]
			cmd, span = child(lk, childEnv+"_STREAM="+engine), fullStream[engine]
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(span)))
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++ // it had not finished
		}
		held, redo := rerun(trial, lk, fmt.Sprintf("%s killed after %s", cmp.Or(engine, "batch"), delay), engine)
		if redo {
			redone++ // the kill left a planned batch unfinished
			redoneBy[cmp.Or(engine, "batch")]++
		}
		if held > 0 {
			half++ // ... and some of its tables committed
		}
	}
	t.Logf("%d trials (batch and both stream engines): %d killed before finishing, %d left a planned batch unfinished %v, %d of them half committed (uninterrupted: batch %s, streams %v)",
		trials, killed, redone, redoneBy, half, full, fullStream)
	if killed < trials/2 {
		t.Errorf("only %d of %d trials killed a running pipeline", killed, trials)
	}
	for _, e := range []string{"batch", "job", "micro-batch"} {
		if redoneBy[e] == 0 {
			t.Errorf("no kill of a %s run left a planned batch for the rerun to finish: that recovery path never ran (%v)", e, redoneBy)
		}
	}
	// A kill between two tables' commits, made certain: the state a run
	// killed after committing bronze, silver and quarantine but before gold
	// leaves is the finished run's lake without the last gold and
	// application commits (their data files stay behind, as orphans).
	lk := t.TempDir()
	if out, err := child(lk).CombinedOutput(); err != nil {
		t.Fatalf("half-committed trial: %v\n%s", err, out)
	}
	for _, name := range []string{transforms.GoldTable.Name, transforms.ApplicationTable.Name} {
		v, err := latestVersion(context.Background(), filepath.Join(lk, name))
		if err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(lk, name, "_delta_log")
		if err := os.Remove(filepath.Join(log, fmt.Sprintf("%020d.json", v))); err != nil {
			t.Fatal(err)
		}
		// A checkpoint of that version, and the hint naming it, went with it.
		for _, f := range []string{fmt.Sprintf("%020d.checkpoint.parquet", v), "_last_checkpoint"} {
			if err := os.Remove(filepath.Join(log, f)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}
	if held, redo := rerun(trials, lk, "gold and application not committed", ""); !redo || held != len(transforms.TableNames())-2 {
		t.Errorf("half-committed batch: rerun redo %v with %d tables holding it, want a redo with %d", redo, held, len(transforms.TableNames())-2)
	}
}

// streamRedo is the line a restarted stream prints for the batch it redid.
var streamRedo = regexp.MustCompile(`redone: a stopped run left it unfinished, with (\d+) of \d+ tables holding it`)

// childResult is the line a child run of one batch prints last.
var childResult = regexp.MustCompile(`(?m)^batch (-?\d+) redo (true|false) held (\d+)$`)
