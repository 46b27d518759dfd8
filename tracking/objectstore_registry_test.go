//go:build integration

package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/internal/oracle"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/laketest"
)

// sameModelFiles checks that the folder at a remote location holds exactly
// the demo model's files, by content digest.
func sameModelFiles(t *testing.T, location string) {
	t.Helper()
	t.Setenv(inference.CacheEnv, t.TempDir())
	_, got, err := inference.Mirror(context.Background(), location)
	if err != nil {
		t.Fatalf("fetch %s: %v", location, err)
	}
	if want, _ := inference.LocalDigest(demo); got != want {
		t.Errorf("%s holds other files than the demo model (digest %s, want %s)", location, got, want)
	}
}

// A registry written by our Register, copied to S3 (versitygw) and resolved
// there: stages, versions and aliases pick the versions they pick locally,
// and each resolves to its artifacts' s3:// location, which holds the model.
// Wiring test of our own layout.
func TestRegistryOnS3(t *testing.T) {
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "registry")
	local := Registry{Root: t.TempDir()}
	for _, s := range []struct{ stage, alias string }{{"Production", "champion"}, {"Staging", "challenger"}} {
		if _, err := local.Register("tweet-sentiment", demo, s.stage, s.alias); err != nil {
			t.Fatal(err)
		}
	}
	root := "s3://" + bucket + "/mlruns"
	if err := lake.CopyDir(context.Background(), local.Root, root); err != nil {
		t.Fatal(err)
	}
	reg, ok := NewResolver(root).(Registry)
	if !ok {
		t.Fatalf("NewResolver(%s) is a %T", root, NewResolver(root))
	}
	artifacts := func(v int) string { return fmt.Sprintf("%s/models/tweet-sentiment/version-%d/artifacts", root, v) }
	cases := []struct {
		uri     string
		version int
		stage   string
	}{
		{"models:/tweet-sentiment/Production", 1, "Production"},
		{"models:/tweet-sentiment@champion", 1, "Production"},
		{"models:/tweet-sentiment/Staging", 2, "Staging"},
		{"models:/tweet-sentiment@challenger", 2, "Staging"},
		{"models:/tweet-sentiment/1", 1, "Production"},
		{"models:/tweet-sentiment/latest", 2, "Staging"},
	}
	for _, c := range cases {
		got, err := reg.Resolve(c.uri)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.uri, err)
			continue
		}
		if got.Dir != artifacts(c.version) || got.Version != c.version || got.Stage != c.stage {
			t.Errorf("Resolve(%q) = %+v; want version %d (%s) at %s", c.uri, got, c.version, c.stage, artifacts(c.version))
		}
	}
	sameModelFiles(t, artifacts(1))
	// A model folder given directly on S3 resolves to itself.
	if got, err := reg.Resolve(artifacts(2)); err != nil || got.Dir != artifacts(2) {
		t.Errorf("Resolve(%s) = %+v, %v", artifacts(2), got, err)
	}
	for _, bad := range []struct{ uri, want string }{
		{"models:/tweet-sentiment@nobody", "alias nobody is not set"},
		{"models:/other/Production", "no model named other"},
		{"models:/tweet-sentiment/Archived", "no such version"},
		{root + "/models", "not a model folder"},
	} {
		if _, err := reg.Resolve(bad.uri); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Resolve(%q): %v, want an error saying %q", bad.uri, err, bad.want)
		}
	}
	if _, err := reg.Register("x", demo, "", ""); err == nil {
		t.Error("Register into a registry on S3: no error")
	}
}

// MLflow's own client (3.x, scripts/oracles/mlflow_register.py) registers
// the demo model into a file store, which is then copied to S3: the
// versions it registered from a run's artifact folder resolve to that
// folder's place in the copy (MLflow recorded its file:// location on the
// registering machine), holding the model; the mlflow.onnx flavour version
// is refused with a message saying why. Against MLflow's own layout.
func TestRegistryOnS3RegisteredByMLflow(t *testing.T) {
	oracle.Python(t)
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "registry")
	store := filepath.Join(t.TempDir(), "mlruns")
	reg := registerWithMLflow(t, fileURI(store), "mlflow-demo")
	root := "s3://" + bucket + "/copied/mlruns"
	if err := lake.CopyDir(context.Background(), store, root); err != nil {
		t.Fatal(err)
	}
	// Where MLflow put version 1's artifacts, inside the store.
	src, err := fileURIPath(reg.Versions[0].Source)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(store, src)
	if err != nil || strings.HasPrefix(rel, "..") {
		t.Fatalf("MLflow put version 1 at %s, outside the store %s", src, store)
	}
	want := root + "/" + filepath.ToSlash(rel)
	r := Registry{Root: root}
	for _, uri := range []string{"models:/mlflow-demo@champion", "models:/mlflow-demo/Staging", "models:/mlflow-demo/1"} {
		got, err := r.Resolve(uri)
		if err != nil || got.Dir != want || got.Version != 1 || got.Stage != "Staging" {
			t.Errorf("Resolve(%q) = %+v, %v; want version 1 (Staging) at %s", uri, got, err, want)
		}
	}
	sameModelFiles(t, want)
	for _, uri := range []string{"models:/mlflow-demo/Production", "models:/mlflow-demo@onnx"} {
		if _, err := r.Resolve(uri); err == nil || !strings.Contains(err.Error(), "MLmodel") {
			t.Errorf("Resolve(%q) of the onnx flavour version: %v, want an error about the MLflow model (MLmodel)", uri, err)
		}
	}
}

// An MLflow tracking server (3.x, the oracle's) whose model version's
// source is an s3:// folder, as with an S3 artifact root and no artifact
// proxy: RESTRegistry resolves it to that location (MLflow's download URI)
// without downloading it. Against MLflow's own server.
func TestRESTRegistryArtifactsOnS3(t *testing.T) {
	oracle.Python(t)
	s3 := laketest.StartS3(t)
	s3.Env(t)
	bucket := s3.Bucket(t, "artifacts")
	folder := "s3://" + bucket + "/models/demo"
	if err := lake.CopyDir(context.Background(), demo, folder); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	srv := startMLflowServer(t, "--backend-store-uri", "sqlite:///"+filepath.Join(tmp, "db.sqlite"),
		"--default-artifact-root", "s3://"+bucket+"/mlflow", "--no-serve-artifacts")
	post := func(endpoint string, body any) {
		t.Helper()
		data, _ := json.Marshal(body)
		resp, err := http.Post(srv.Base+"/api/2.0/mlflow/"+endpoint, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("POST %s: %v", endpoint, err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s: %s", endpoint, resp.Status, out.String())
		}
	}
	post("registered-models/create", map[string]any{"name": "s3-demo"})
	post("model-versions/create", map[string]any{"name": "s3-demo", "source": folder})
	post("model-versions/transition-stage", map[string]any{"name": "s3-demo", "version": "1", "stage": "Production", "archive_existing_versions": false})
	post("registered-models/alias", map[string]any{"name": "s3-demo", "alias": "champion", "version": "1"})
	r := RESTRegistry{Base: srv.Base, Cache: t.TempDir()}
	for _, uri := range []string{"models:/s3-demo/Production", "models:/s3-demo@champion", "models:/s3-demo/1"} {
		got, err := r.Resolve(uri)
		if err != nil || got.Dir != folder || got.Version != 1 || got.Name != "s3-demo" {
			t.Errorf("Resolve(%q) = %+v, %v; want version 1 at %s", uri, got, err, folder)
		}
	}
	if entries, _ := os.ReadDir(r.Cache); len(entries) != 0 {
		t.Errorf("resolving an s3:// version downloaded into the cache: %v", entries)
	}
}
