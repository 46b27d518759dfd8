package transforms

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFailFirstAttempt: the fault switch fails the first attempt of about a
// third of a named step's units and passes every later one; other steps,
// and an unset switch, never fail. Wiring (our own switch).
func TestFailFirstAttempt(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(FaultEnv, "gold,bronze:"+dir)
	picked := 0
	for i := range 60 {
		key := fmt.Sprintf("s3://b/raw/%d.json", i)
		first := failFirstAttempt("bronze", key)
		if first != nil {
			picked++
			if !errors.Is(first, ErrInjected) {
				t.Fatalf("first attempt of %s: %v, want ErrInjected", key, first)
			}
		}
		if err := failFirstAttempt("bronze", key); err != nil {
			t.Fatalf("second attempt of %s: %v, want it to pass", key, err)
		}
		if err := failFirstAttempt("silver", key); err != nil {
			t.Fatalf("silver is not armed, yet %s failed: %v", key, err)
		}
	}
	if picked < 10 || picked > 30 {
		t.Errorf("%d of 60 units failed their first attempt, want about a third", picked)
	}
	markers, _ := filepath.Glob(filepath.Join(dir, "bronze-*"))
	if len(markers) != picked {
		t.Errorf("%d markers for %d failed attempts", len(markers), picked)
	}
	// Gold's shards 1 and 2 are picked: a test with 2 or 4 shards sees a fault.
	for shard, want := range map[string]bool{"0": false, "1": true, "2": true, "3": false} {
		if got := failFirstAttempt("gold", shard) != nil; got != want {
			t.Errorf("gold shard %s failed: %v, want %v", shard, got, want)
		}
	}

	t.Setenv(FaultEnv, "bronze/20:"+t.TempDir())
	picked = 0
	for i := range 400 {
		if failFirstAttempt("bronze", fmt.Sprintf("k%d", i)) != nil {
			picked++
		}
	}
	if picked < 8 || picked > 40 {
		t.Errorf("bronze/20: %d of 400 units failed their first attempt, want about 20", picked)
	}

	t.Setenv(FaultEnv, "")
	os.RemoveAll(dir)
	for i := range 60 {
		if err := failFirstAttempt("bronze", fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("unset switch: %v", err)
		}
	}
	// The kill switch picks the same way; the kill itself is the cluster
	// tests' (TestClusters: killGoWorkers).
	t.Setenv(KillEnv, "bronze/20:"+t.TempDir())
	killed := 0
	for i := range 400 {
		first, err := firstAttempt(KillEnv, "bronze", fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := firstAttempt(KillEnv, "bronze", fmt.Sprintf("k%d", i)); again {
			t.Fatalf("unit k%d picked twice", i)
		}
		if first {
			killed++
		}
	}
	if killed != picked {
		t.Errorf("the kill switch picked %d units, the fail switch %d of the same keys", killed, picked)
	}
	t.Setenv(KillEnv, "")

	for _, bad := range []string{"gold", "gold/x:" + dir, "gold/0:" + dir} {
		t.Setenv(FaultEnv, bad)
		if err := failFirstAttempt("gold", "1"); err == nil || errors.Is(err, ErrInjected) {
			t.Errorf("%s=%s: %v, want an error naming the form", FaultEnv, bad, err)
		}
	}
}
