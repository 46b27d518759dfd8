package transforms

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FaultEnv arms a test-only fault that makes a runner retry for real:
// "STEP[/N][,STEP[/N]]:DIR" makes the first attempt of about one in N
// (default 3) of a step's units of work fail after it emitted its output
// (bronze: a raw file or Kafka range, after its records; gold: a shard,
// after its rows). A unit's first attempt leaves a marker file in DIR, so the
// retry (or the rerun) passes: DIR must be one folder every worker process
// sees (the workers of one machine). Workers read it from their environment;
// on a portable runner pass it in --environment_config's "env". Unset,
// nothing changes.
const FaultEnv = "MEDALLION_TEST_FAIL_FIRST"

// KillEnv is FaultEnv's twin for a worker process lost in the middle of a
// bundle: the same form, but the picked first attempts SIGKILL their own
// worker process instead of failing.
const KillEnv = "MEDALLION_TEST_KILL_FIRST"

// ErrInjected marks the failures FaultEnv causes.
var ErrInjected = errors.New("injected fault (" + FaultEnv + ")")

// failFirstAttempt kills this process (KillEnv) or returns ErrInjected
// (FaultEnv) when the variable names step, key is one of the units it
// picks, and no earlier attempt of that unit was picked.
func failFirstAttempt(step, key string) error {
	if first, err := firstAttempt(KillEnv, step, key); err != nil {
		return err
	} else if first {
		p, _ := os.FindProcess(os.Getpid())
		p.Kill()
		select {} // SIGKILL arrives
	}
	if first, err := firstAttempt(FaultEnv, step, key); err != nil || !first {
		return err
	}
	return fmt.Errorf("%s %s: %w", step, key, ErrInjected)
}

// firstAttempt reports whether the switch in variable env picks the unit
// key of step and this is its first attempt (its marker was not there).
func firstAttempt(env, step, key string) (bool, error) {
	spec := os.Getenv(env)
	if spec == "" {
		return false, nil
	}
	steps, dir, ok := strings.Cut(spec, ":")
	if !ok || dir == "" {
		return false, fmt.Errorf("%s=%q: want STEP[/N][,STEP[/N]]:DIR", env, spec)
	}
	every := uint64(0)
	for _, s := range strings.Split(steps, ",") {
		name, n, hasN := strings.Cut(s, "/")
		if name != step {
			continue
		}
		every = 3
		if hasN {
			v, err := strconv.ParseUint(n, 10, 32)
			if err != nil || v == 0 {
				return false, fmt.Errorf("%s=%q: %q is not a count", env, spec, n)
			}
			every = v
		}
	}
	if every == 0 {
		return false, nil
	}
	h := fnv.New64a()
	h.Write([]byte(step + "\x00" + key))
	sum := h.Sum64()
	if sum%every != 0 {
		return false, nil
	}
	marker := filepath.Join(dir, fmt.Sprintf("%s-%016x", step, sum))
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil // the first attempt was picked before: this one passes
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", env, err)
	}
	return true, f.Close()
}
