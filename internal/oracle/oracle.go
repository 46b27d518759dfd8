// Package oracle finds the reference implementations the tests compare our
// code with: Spark with delta-spark, delta-rs, MLflow and Hugging Face's
// libraries, installed by scripts/setup-test.sh into a Python virtual
// environment under .cache/venv, and the scripts under scripts/oracles that
// drive them.
package oracle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Root is the repository's top folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Python returns the virtual environment's interpreter. Outside CI a missing
// one skips the test loudly; under CI (CI set) it fails, because the set-up
// must have installed it.
func Python(t testing.TB) string {
	t.Helper()
	p := filepath.Join(Root(), ".cache", "venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		Absent(t, "SKIPPING ORACLE TEST: no Python environment at "+p+" (run scripts/setup-test.sh)")
	}
	return p
}

// Absent ends a test that needs something this machine lacks: outside CI it
// skips, loudly, with msg; under CI (CI set) it fails, since CI's set-up and
// machine must provide everything the tests need.
func Absent(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Run runs scripts/oracles/SCRIPT with the environment's Python and returns
// its standard output; a failure fails the test with what it printed.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{filepath.Join(Root(), "scripts", "oracles", script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("oracle %s %v: %v\n%s", script, args, err, stderr.String())
	}
	return stdout.Bytes()
}
