package transforms

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FaultEnv arms a test-only fault that makes a runner retry for real:
// "STEP[,STEP]:DIR" makes the first attempt of about one in three of a
// step's units of work fail after it emitted part of its output (bronze: a
// raw file or Kafka range, after its records; gold: a shard, after its first
// rows). A unit's first attempt leaves a marker file in DIR, so the retry
// (or the rerun) passes: DIR must be one folder every worker process sees
// (the workers of one machine). Workers read it from their environment; on
// a portable runner pass it in --environment_config's "env". Unset, nothing
// changes.
const FaultEnv = "MEDALLION_TEST_FAIL_FIRST"

// ErrInjected marks the failures FaultEnv causes.
var ErrInjected = errors.New("injected fault (" + FaultEnv + ")")

// failFirstAttempt returns ErrInjected when FaultEnv names step, key is one
// of the units it picks, and no earlier attempt of that unit failed.
func failFirstAttempt(step, key string) error {
	spec := os.Getenv(FaultEnv)
	if spec == "" {
		return nil
	}
	steps, dir, ok := strings.Cut(spec, ":")
	if !ok || dir == "" {
		return fmt.Errorf("%s=%q: want STEP[,STEP]:DIR", FaultEnv, spec)
	}
	if !slices.Contains(strings.Split(steps, ","), step) {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(step + "\x00" + key))
	sum := h.Sum64()
	if sum%3 != 0 {
		return nil
	}
	marker := filepath.Join(dir, fmt.Sprintf("%s-%016x", step, sum))
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil // the first attempt failed before: this one passes
	}
	if err != nil {
		return fmt.Errorf("%s: %w", FaultEnv, err)
	}
	f.Close()
	return fmt.Errorf("%s %s: %w", step, key, ErrInjected)
}
