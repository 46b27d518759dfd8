package tracking

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestFileStoreRunLayout(t *testing.T) {
	root := t.TempDir()
	run, err := StartRun(root, "tweet-sentiment", "eval")
	if err != nil {
		t.Fatal(err)
	}
	if err := run.LogParams(map[string]string{"model_uri": "models:/tweet-sentiment/Production", "gold_table_version": "3"}); err != nil {
		t.Fatal(err)
	}
	if err := run.LogMetrics(map[string]float64{"precision": 0.875, "recall": 1, "f1": 2.0 / 3}); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "confusion_matrix.png")
	os.WriteFile(art, []byte("png"), 0o644)
	if err := run.LogArtifact(art, "plots"); err != nil {
		t.Fatal(err)
	}
	if err := run.LogArtifact(art, "../escape"); err == nil {
		t.Error("an artifact path with .. was accepted")
	}
	if err := run.End(StatusFinished); err != nil {
		t.Fatal(err)
	}
	// A second run lands in the same experiment.
	run2, err := StartRun(root, "tweet-sentiment", "again")
	if err != nil {
		t.Fatal(err)
	}
	dir := run.Where()
	if filepath.Dir(run2.Where()) != filepath.Dir(dir) || filepath.Base(filepath.Dir(dir)) != "1" {
		t.Fatalf("runs in %s and %s; want both in experiment 1", dir, run2.Where())
	}
	var def, exp map[string]any
	readYAML(t, filepath.Join(root, "0", "meta.yaml"), &def)
	readYAML(t, filepath.Join(root, "1", "meta.yaml"), &exp)
	if def["name"] != "Default" || exp["name"] != "tweet-sentiment" || exp["experiment_id"] != "1" || exp["lifecycle_stage"] != "active" {
		t.Errorf("experiments: %v / %v", def, exp)
	}
	var meta map[string]any
	readYAML(t, filepath.Join(dir, "meta.yaml"), &meta)
	for _, k := range []string{"artifact_uri", "end_time", "entry_point_name", "experiment_id", "lifecycle_stage", "run_id",
		"run_name", "run_uuid", "source_name", "source_type", "source_version", "start_time", "status", "tags", "user_id", "deleted_time"} {
		if _, ok := meta[k]; !ok {
			t.Errorf("run meta.yaml lacks %s", k)
		}
	}
	if meta["status"] != 3 || meta["source_type"] != 4 || meta["run_id"] != run.ID() || meta["experiment_id"] != "1" {
		t.Errorf("run meta: %v", meta)
	}
	line := regexp.MustCompile(`^\d{13} (\S+) 0\n$`)
	for k, want := range map[string]string{"precision": "0.875", "recall": "1.0", "f1": "0.6666666666666666"} {
		data, _ := os.ReadFile(filepath.Join(dir, "metrics", k))
		if m := line.FindStringSubmatch(string(data)); m == nil || m[1] != want {
			t.Errorf("metric %s = %q, want a line with %s", k, data, want)
		}
	}
	for p, want := range map[string]string{
		"params/model_uri": "models:/tweet-sentiment/Production", "params/gold_table_version": "3",
		"tags/mlflow.runName": "eval", "tags/mlflow.source.type": "LOCAL", "artifacts/plots/confusion_matrix.png": "png",
	} {
		if data, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", p, data, err, want)
		}
	}
}

func readYAML(t *testing.T, p string, v any) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// fakeMLflow answers the REST calls a run makes, as service.proto defines them.
type fakeMLflow struct {
	mu          sync.Mutex
	experiments map[string]string
	params      map[string]string
	metrics     map[string]float64
	tags        map[string]string
	artifacts   map[string]string
	status      string
	batches     int
}

func (f *fakeMLflow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	if r.Method == "POST" {
		json.NewDecoder(r.Body).Decode(&body)
	}
	reply := func(v any) { json.NewEncoder(w).Encode(v) }
	switch {
	case r.URL.Path == "/api/2.0/mlflow/experiments/get-by-name":
		id, ok := f.experiments[r.URL.Query().Get("experiment_name")]
		if !ok {
			w.WriteHeader(404)
			reply(map[string]string{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such experiment"})
			return
		}
		reply(map[string]any{"experiment": map[string]string{"experiment_id": id}})
	case r.URL.Path == "/api/2.0/mlflow/experiments/create":
		id := fmt.Sprint(len(f.experiments) + 10)
		f.experiments[body["name"].(string)] = id
		reply(map[string]string{"experiment_id": id})
	case r.URL.Path == "/api/2.0/mlflow/runs/create":
		if body["experiment_id"] == nil || body["start_time"] == nil {
			w.WriteHeader(400)
			return
		}
		reply(map[string]any{"run": map[string]any{"info": map[string]string{
			"run_id": "r1", "artifact_uri": "mlflow-artifacts:/" + body["experiment_id"].(string) + "/r1/artifacts"}}})
	case r.URL.Path == "/api/2.0/mlflow/runs/log-batch":
		f.batches++
		for _, p := range asList(body["params"]) {
			f.params[p["key"].(string)] = p["value"].(string)
		}
		for _, p := range asList(body["tags"]) {
			f.tags[p["key"].(string)] = p["value"].(string)
		}
		for _, m := range asList(body["metrics"]) {
			f.metrics[m["key"].(string)] = m["value"].(float64)
		}
		reply(map[string]any{})
	case r.URL.Path == "/api/2.0/mlflow/runs/update":
		f.status = body["status"].(string)
		reply(map[string]any{})
	case strings.HasPrefix(r.URL.Path, "/api/2.0/mlflow-artifacts/artifacts/") && r.Method == "PUT":
		data, _ := io.ReadAll(r.Body)
		f.artifacts[strings.TrimPrefix(r.URL.Path, "/api/2.0/mlflow-artifacts/artifacts/")] = string(data)
		reply(map[string]any{})
	default:
		w.WriteHeader(404)
		reply(map[string]string{"error_code": "ENDPOINT_NOT_FOUND", "message": r.URL.Path})
	}
}

func asList(v any) []map[string]any {
	var out []map[string]any
	items, _ := v.([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any))
	}
	return out
}

func TestRESTRun(t *testing.T) {
	f := &fakeMLflow{experiments: map[string]string{}, params: map[string]string{}, metrics: map[string]float64{},
		tags: map[string]string{}, artifacts: map[string]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	run, err := StartRun(srv.URL, "tweet-sentiment", "eval")
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for i := 0; i < 150; i++ { // more than one batch of params
		params[fmt.Sprintf("p%03d", i)] = fmt.Sprint(i)
	}
	if err := run.LogParams(params); err != nil {
		t.Fatal(err)
	}
	if err := run.LogMetrics(map[string]float64{"f1": 0.5}); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(t.TempDir(), "cm.png")
	os.WriteFile(art, []byte("png bytes"), 0o644)
	if err := run.LogArtifact(art, "plots"); err != nil {
		t.Fatal(err)
	}
	if err := run.End(StatusFinished); err != nil {
		t.Fatal(err)
	}
	if f.experiments["tweet-sentiment"] != "10" || len(f.params) != 150 || f.metrics["f1"] != 0.5 || f.status != "FINISHED" {
		t.Errorf("server saw experiments %v, %d params, metrics %v, status %q", f.experiments, len(f.params), f.metrics, f.status)
	}
	if f.batches != 3 { // 100 + 50 params, then 1 metric
		t.Errorf("log-batch calls = %d, want 3", f.batches)
	}
	if f.artifacts["10/r1/artifacts/plots/cm.png"] != "png bytes" {
		t.Errorf("artifacts = %v", f.artifacts)
	}
	// An existing experiment is reused.
	if _, err := StartRun(srv.URL, "tweet-sentiment", "again"); err != nil || len(f.experiments) != 1 {
		t.Errorf("second run: %v, experiments %v", err, f.experiments)
	}
	if _, err := StartRun("http://127.0.0.1:1", "x", "y"); err == nil {
		t.Error("a run against a closed port started")
	}
}
