//go:build integration

package tracking

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// TestMLflowServerSQLite runs a real `mlflow server` (MLflow 3.17.2, SQLite
// backend, artifact proxy) on loopback. Our REST client logs the evaluation
// run there and MLflow's Python client reads every value back through the
// server; MLflow's Python client registers the demo model there and our
// RESTRegistry resolves stages, versions and aliases to the versions MLflow
// set, downloads them through the artifact proxy once, and the downloaded
// folders classify as the demo folder does.
func TestMLflowServerSQLite(t *testing.T) {
	t.Parallel()
	oracle.Python(t)
	tmp := t.TempDir()
	srv := startMLflowServer(t, "--backend-store-uri", "sqlite:///"+filepath.Join(tmp, "db.sqlite"),
		"--artifacts-destination", filepath.Join(tmp, "artifacts"), "--serve-artifacts")

	lr := logEvaluationRun(t, srv.Base)
	var got oracleView
	out := oracle.Run(t, "mlflow_read.py", srv.Base, srv.Base, lr.id, "-")
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("oracle output: %v\n%s", err, out)
	}
	checkRun(t, "MLflow client via server", got, lr, "")

	registerWithMLflow(t, srv.Base, "mlflow-demo")
	if _, ok := NewResolver(srv.Base).(RESTRegistry); !ok {
		t.Errorf("NewResolver(%s) is not a RESTRegistry", srv.Base)
	}
	cache := t.TempDir()
	resolved := checkResolvesAndRuns(t, RESTRegistry{Base: srv.Base, Cache: cache}, mlflowRegisteredCases)
	checkCachedDownload(t, RESTRegistry{Base: srv.Base, Cache: cache}, resolved["models:/mlflow-demo@champion"])
	if _, err := (RESTRegistry{Base: srv.Base, Cache: cache}).Resolve("models:/mlflow-demo@nope"); err == nil {
		t.Error("an unknown alias resolved")
	}
}

// checkCachedDownload checks a second Resolve reuses the download, and that
// a download missing a file is fetched again.
func checkCachedDownload(t *testing.T, r RESTRegistry, first Resolved) {
	t.Helper()
	manifest := filepath.Join(filepath.Dir(first.Dir), manifestName)
	before, err := os.Stat(manifest)
	if err != nil {
		t.Fatalf("no manifest next to %s: %v", first.Dir, err)
	}
	time.Sleep(10 * time.Millisecond)
	again, err := r.Resolve(first.URI)
	if err != nil || again.Dir != first.Dir {
		t.Fatalf("second Resolve(%s) = %+v, %v", first.URI, again, err)
	}
	if after, _ := os.Stat(manifest); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second Resolve(%s) downloaded again", first.URI)
	}
	must(t, os.Remove(filepath.Join(first.Dir, "tokenizer.json")))
	if _, err := r.Resolve(first.URI); err != nil || !exists(filepath.Join(first.Dir, "tokenizer.json")) {
		t.Errorf("an incomplete download was not fetched again: %v", err)
	}
}
