//go:build integration

package tracking

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// oracleView is what MLflow reports about a run and a registered model,
// whether read by its Python client (scripts/oracles/mlflow_read.py) or
// gathered from a server's REST API.
type oracleView struct {
	Info struct {
		RunID          string `json:"run_id"`
		RunName        string `json:"run_name"`
		ExperimentID   string `json:"experiment_id"`
		Status         string `json:"status"`
		StartTime      int64  `json:"start_time"`
		EndTime        int64  `json:"end_time"`
		ArtifactURI    string `json:"artifact_uri"`
		LifecycleStage string `json:"lifecycle_stage"`
	} `json:"info"`
	ExperimentName string                    `json:"experiment_name"`
	Params         map[string]string         `json:"params"`
	Tags           map[string]string         `json:"tags"`
	Metrics        map[string]float64        `json:"metrics"`
	History        map[string][]metricPoint  `json:"history"`
	Artifacts      map[string]oracleArtifact `json:"artifacts"`
	Registry       *oracleRegistry           `json:"registry"`
}

type metricPoint struct {
	Timestamp int64   `json:"timestamp"`
	Value     float64 `json:"value"`
	Step      int64   `json:"step"`
}

type oracleArtifact struct {
	Size    int64  `json:"size"`
	Content string `json:"content"`
}

type oracleRegistry struct {
	Name     string          `json:"name"`
	Aliases  map[string]int  `json:"aliases"`
	Versions []oracleVersion `json:"versions"`
	Latest   map[string]int  `json:"latest"` // stage → latest version in it
}

type oracleVersion struct {
	Version      int      `json:"version"`
	CurrentStage string   `json:"current_stage"`
	Source       string   `json:"source"`
	Status       string   `json:"status"`
	Aliases      []string `json:"aliases"`
	DownloadURI  string   `json:"download_uri"`
}

// loggedRun is what the test logged with our code, to compare MLflow's view with.
type loggedRun struct {
	id, experiment, name string
	start, end           int64 // bounds of every timestamp we wrote (ms)
	params, tags         map[string]string
	history              map[string][]metricPoint // timestamps zero: checked against bounds
	artifacts            map[string]string
}

// logEvaluationRun writes a run the way eda does, plus stepped metrics and
// an artifact folder, with our tracking code.
func logEvaluationRun(t *testing.T, trackingURI string) loggedRun {
	t.Helper()
	lr := loggedRun{experiment: "tweet-sentiment", name: "evaluation 2026-01-02 03:04:05", start: time.Now().UnixMilli(),
		params: map[string]string{"model_uri": "models:/tweet-sentiment/Production", "gold_table_version": "3",
			"tracking_format_version": FormatVersion, "note": "accents é and spaces"},
		tags:      map[string]string{"team": "data", "mlflow.note.content": "evaluation of gold"},
		history:   map[string][]metricPoint{},
		artifacts: map[string]string{"summary.json": `{"rows": 3}`, "plots/cm.svg": "<svg/>", "report/index.html": "<html></html>", "report/data/mentions.csv": "mention,total\na,1\n"},
	}
	run, err := StartRun(trackingURI, lr.experiment, lr.name)
	if err != nil {
		t.Fatal(err)
	}
	lr.id = run.ID()
	must(t, run.LogParams(lr.params))
	must(t, run.SetTags(lr.tags))
	flat := map[string]float64{"precision": 0.875, "recall": 1, "f1": 2.0 / 3, "neutral_rate": 0}
	must(t, run.LogMetrics(flat))
	for k, v := range flat {
		lr.history[k] = []metricPoint{{Value: v}}
	}
	for step, v := range []float64{0.9, 0.5, 0.25} {
		must(t, run.LogMetricAt("loss", v, int64(step*10)))
		lr.history["loss"] = append(lr.history["loss"], metricPoint{Value: v, Step: int64(step * 10)})
	}
	src := t.TempDir()
	for rel, content := range lr.artifacts {
		writeFile(t, filepath.Join(src, rel), content)
	}
	must(t, run.LogArtifact(filepath.Join(src, "summary.json"), ""))
	must(t, run.LogArtifact(filepath.Join(src, "plots", "cm.svg"), "plots"))
	must(t, run.LogArtifacts(filepath.Join(src, "report"), "report"))
	must(t, run.End(StatusFinished))
	lr.end = time.Now().UnixMilli()
	return lr
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

// checkRun compares MLflow's view of the run (from oracle) with what we logged.
func checkRun(t *testing.T, oracle string, got oracleView, want loggedRun, artifactURI string) {
	t.Helper()
	i := got.Info
	if i.RunID != want.id || i.RunName != want.name || i.Status != "FINISHED" || i.LifecycleStage != "active" || got.ExperimentName != want.experiment {
		t.Errorf("%s: run info %+v in experiment %q; want id %s, name %q, FINISHED, active, experiment %q", oracle, i, got.ExperimentName, want.id, want.name, want.experiment)
	}
	if i.StartTime < want.start || i.EndTime < i.StartTime || i.EndTime > want.end {
		t.Errorf("%s: start %d end %d outside [%d, %d]", oracle, i.StartTime, i.EndTime, want.start, want.end)
	}
	if artifactURI != "" && i.ArtifactURI != artifactURI {
		t.Errorf("%s: artifact_uri %q, want %q", oracle, i.ArtifactURI, artifactURI)
	}
	if !reflect.DeepEqual(got.Params, want.params) {
		t.Errorf("%s: params %v, want %v", oracle, got.Params, want.params)
	}
	for k, v := range want.tags {
		if got.Tags[k] != v {
			t.Errorf("%s: tag %s = %q, want %q", oracle, k, got.Tags[k], v)
		}
	}
	if got.Tags["mlflow.runName"] != want.name {
		t.Errorf("%s: tag mlflow.runName = %q, want %q", oracle, got.Tags["mlflow.runName"], want.name)
	}
	checkMetrics(t, oracle, got, want)
	if got.Artifacts != nil {
		checkArtifacts(t, oracle, got.Artifacts, want.artifacts)
	}
}

func checkMetrics(t *testing.T, oracle string, got oracleView, want loggedRun) {
	t.Helper()
	if len(got.Metrics) != len(want.history) || len(got.History) != len(want.history) {
		t.Errorf("%s: metrics %v, histories of %d; want %d metrics", oracle, got.Metrics, len(got.History), len(want.history))
	}
	for k, points := range want.history {
		if last := points[len(points)-1].Value; got.Metrics[k] != last {
			t.Errorf("%s: metric %s = %v, want %v (the value at the highest step)", oracle, k, got.Metrics[k], last)
		}
		h := got.History[k]
		sort.SliceStable(h, func(a, b int) bool { return h[a].Step < h[b].Step })
		if len(h) != len(points) {
			t.Errorf("%s: history of %s = %+v, want %+v", oracle, k, h, points)
			continue
		}
		for j, p := range points {
			if h[j].Value != p.Value || h[j].Step != p.Step || h[j].Timestamp < want.start || h[j].Timestamp > want.end {
				t.Errorf("%s: %s[%d] = %+v, want value %v step %d at a time in [%d, %d]", oracle, k, j, h[j], p.Value, p.Step, want.start, want.end)
			}
		}
	}
}

func checkArtifacts(t *testing.T, oracle string, got map[string]oracleArtifact, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: artifacts %v, want %v", oracle, keys(got), keys(want))
	}
	for p, content := range want {
		a, ok := got[p]
		if !ok || a.Size != int64(len(content)) || (a.Content != "" && a.Content != content) {
			t.Errorf("%s: artifact %s = %+v (present %v), want %q", oracle, p, a, ok, content)
		}
	}
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }

// registerTwoVersions registers the demo model twice with our code:
// version 1 in Production, version 2 in Staging with alias "champion".
func registerTwoVersions(t *testing.T, root string) Registry {
	t.Helper()
	reg := Registry{Root: root}
	if _, err := reg.Register("tweet-sentiment", demo, "Production", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register("tweet-sentiment", demo, "Staging", "champion"); err != nil {
		t.Fatal(err)
	}
	return reg
}

// checkRegistry compares MLflow's view of the registry with what
// registerTwoVersions wrote.
func checkRegistry(t *testing.T, oracle string, got *oracleRegistry, root string, full bool) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no registry in the answer", oracle)
	}
	if got.Aliases["champion"] != 2 || got.Latest["Production"] != 1 || got.Latest["Staging"] != 2 || len(got.Latest) != 2 {
		t.Errorf("%s: aliases %v, latest per stage %v; want champion→2, Production→1, Staging→2", oracle, got.Aliases, got.Latest)
	}
	if !full {
		return
	}
	if got.Name != "tweet-sentiment" || len(got.Versions) != 2 {
		t.Fatalf("%s: model %q with versions %+v", oracle, got.Name, got.Versions)
	}
	for i, stage := range []string{"Production", "Staging"} {
		v := got.Versions[i]
		loc := fileURI(filepath.Join(root, "models", "tweet-sentiment", "version-"+strconv.Itoa(i+1), "artifacts"))
		wantAliases := []string{}
		if i == 1 {
			wantAliases = []string{"champion"}
		}
		if v.Version != i+1 || v.CurrentStage != stage || v.Status != "READY" || v.Source != loc || v.DownloadURI != loc || !reflect.DeepEqual(append([]string{}, v.Aliases...), wantAliases) {
			t.Errorf("%s: version %+v; want %d in %s, READY, source and download URI %s, aliases %v", oracle, v, i+1, stage, loc, wantAliases)
		}
	}
}

// TestMLflowReadsOurFileStore writes a run and a registry with our code and
// compares every value with what MLflow's own Python client (mlflow 3.17.2,
// scripts/oracles/mlflow_read.py) and then `mlflow server` serving the same
// file store over its REST API (runs/get, metrics/get-history,
// artifacts/list, registered-models/get-latest-versions,
// registered-models/alias) report.
func TestMLflowReadsOurFileStore(t *testing.T) {
	t.Parallel()
	oracle.Python(t)
	root := filepath.Join(t.TempDir(), "mlruns")
	lr := logEvaluationRun(t, "file://"+root)
	registerTwoVersions(t, root)
	uri := fileURI(root)
	var got oracleView
	out := oracle.Run(t, "mlflow_read.py", uri, uri, lr.id, "tweet-sentiment", "champion")
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("oracle output: %v\n%s", err, out)
	}
	checkRun(t, "MLflow client", got, lr, "")
	checkRegistry(t, "MLflow client", got.Registry, root, true)

	srv := startMLflowServer(t, "--backend-store-uri", uri)
	view := restView(t, srv, lr.id)
	checkRun(t, "mlflow server", view, lr, got.Info.ArtifactURI)
	checkRegistry(t, "mlflow server", restRegistry(t, srv, "tweet-sentiment", "champion"), root, false)
}

// restView gathers a run from a server's REST API into the oracle's shape.
func restView(t *testing.T, srv *mlflowServer, runID string) oracleView {
	t.Helper()
	var resp struct {
		Run struct {
			Info json.RawMessage `json:"info"`
			Data struct {
				Params  []struct{ Key, Value string } `json:"params"`
				Tags    []struct{ Key, Value string } `json:"tags"`
				Metrics []struct {
					Key   string  `json:"key"`
					Value float64 `json:"value"`
				} `json:"metrics"`
			} `json:"data"`
		} `json:"run"`
	}
	srv.get(t, "runs/get", url.Values{"run_id": {runID}}, &resp)
	var v oracleView
	must(t, json.Unmarshal(resp.Run.Info, &v.Info))
	v.Params, v.Tags, v.Metrics, v.History = map[string]string{}, map[string]string{}, map[string]float64{}, map[string][]metricPoint{}
	for _, p := range resp.Run.Data.Params {
		v.Params[p.Key] = p.Value
	}
	for _, p := range resp.Run.Data.Tags {
		v.Tags[p.Key] = p.Value
	}
	for _, m := range resp.Run.Data.Metrics {
		v.Metrics[m.Key] = m.Value
		var h struct {
			Metrics []metricPoint `json:"metrics"`
		}
		srv.get(t, "metrics/get-history", url.Values{"run_id": {runID}, "metric_key": {m.Key}}, &h)
		v.History[m.Key] = h.Metrics
	}
	var exp struct {
		Experiment struct{ Name string } `json:"experiment"`
	}
	srv.get(t, "experiments/get", url.Values{"experiment_id": {v.Info.ExperimentID}}, &exp)
	v.ExperimentName = exp.Experiment.Name
	v.Artifacts = restArtifacts(t, srv, runID, "")
	return v
}

// restArtifacts lists a run's artifacts recursively with artifacts/list
// (sizes only: the listing carries no content).
func restArtifacts(t *testing.T, srv *mlflowServer, runID, dir string) map[string]oracleArtifact {
	t.Helper()
	var list struct {
		Files []struct {
			Path     string      `json:"path"`
			IsDir    bool        `json:"is_dir"`
			FileSize json.Number `json:"file_size"`
		} `json:"files"`
	}
	q := url.Values{"run_id": {runID}}
	if dir != "" {
		q.Set("path", dir)
	}
	srv.get(t, "artifacts/list", q, &list)
	out := map[string]oracleArtifact{}
	for _, f := range list.Files {
		if f.IsDir {
			for k, v := range restArtifacts(t, srv, runID, f.Path) {
				out[k] = v
			}
			continue
		}
		size, err := f.FileSize.Int64()
		if err != nil {
			t.Errorf("artifacts/list: %s size %q: %v", f.Path, f.FileSize, err)
		}
		out[f.Path] = oracleArtifact{Size: size}
	}
	return out
}

// restRegistry reads the latest version per stage and the aliases from a
// server's REST API.
func restRegistry(t *testing.T, srv *mlflowServer, name string, aliases ...string) *oracleRegistry {
	t.Helper()
	reg := &oracleRegistry{Name: name, Aliases: map[string]int{}, Latest: map[string]int{}}
	for _, stage := range Stages {
		var resp struct {
			ModelVersions []struct{ Version string } `json:"model_versions"`
		}
		srv.get(t, "registered-models/get-latest-versions", url.Values{"name": {name}, "stages": {stage}}, &resp)
		if len(resp.ModelVersions) > 0 {
			reg.Latest[stage] = atoi(t, resp.ModelVersions[0].Version)
		}
	}
	for _, a := range aliases {
		var resp struct {
			ModelVersion struct{ Version string } `json:"model_version"`
		}
		srv.get(t, "registered-models/alias", url.Values{"name": {name}, "alias": {a}}, &resp)
		reg.Aliases[a] = atoi(t, resp.ModelVersion.Version)
	}
	return reg
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("version %q: %v", s, err)
	}
	return n
}
