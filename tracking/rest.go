package tracking

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"
)

// restRun logs to an MLflow tracking server over its REST API (api/2.0),
// following mlflow/protos/service.proto. Artifacts go through the server's
// artifact proxy (mlflow-artifacts), which `mlflow server` serves by default.
type restRun struct {
	restClient
	runID    string
	expID    string
	artifact string // path of the run's artifact root under mlflow-artifacts/artifacts
}

// MLflow's batch limits (runs/log-batch).
const (
	maxBatchMetrics = 1000
	maxBatchParams  = 100
	maxBatchTags    = 100
)

func startRESTRun(base, experiment, runName string) (Run, error) {
	r := &restRun{restClient: newRESTClient(base)}
	var got struct {
		Experiment struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	err := r.call("GET", "experiments/get-by-name?experiment_name="+url.QueryEscape(experiment), nil, &got)
	switch {
	case err == nil:
		r.expID = got.Experiment.ExperimentID
	case isNotFound(err):
		var created struct {
			ExperimentID string `json:"experiment_id"`
		}
		if err := r.call("POST", "experiments/create", map[string]any{"name": experiment}, &created); err != nil {
			return nil, err
		}
		r.expID = created.ExperimentID
	default:
		return nil, err
	}
	var run struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	tags := []map[string]string{{"key": "mlflow.runName", "value": runName}, {"key": "mlflow.source.type", "value": "LOCAL"}}
	if err := r.call("POST", "runs/create", map[string]any{
		"experiment_id": r.expID, "run_name": runName, "start_time": time.Now().UnixMilli(), "tags": tags,
	}, &run); err != nil {
		return nil, err
	}
	r.runID = run.Run.Info.RunID
	// mlflow-artifacts:/<exp>/<run>/artifacts → <exp>/<run>/artifacts
	r.artifact = path.Join(r.expID, r.runID, "artifacts")
	if u, err := url.Parse(run.Run.Info.ArtifactURI); err == nil && u.Scheme == "mlflow-artifacts" {
		r.artifact = strings.TrimPrefix(u.Path, "/")
	}
	return r, nil
}

type apiError struct {
	Status int
	Code   string `json:"error_code"`
	Msg    string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("MLflow server: %d %s: %s", e.Status, e.Code, e.Msg)
}

func isNotFound(err error) bool {
	e, ok := err.(*apiError)
	return ok && (e.Code == "RESOURCE_DOES_NOT_EXIST" || e.Status == http.StatusNotFound)
}

// restClient talks to an MLflow tracking server's REST API.
type restClient struct {
	base   string
	client *http.Client
}

func newRESTClient(base string) restClient {
	return restClient{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 60 * time.Second}}
}

// newRequest builds a request to the server, authenticated with
// MLFLOW_TRACKING_TOKEN when it is set.
func (r restClient) newRequest(method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	if tok := os.Getenv("MLFLOW_TRACKING_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}

// call sends one request to /api/2.0/mlflow/<endpoint>.
func (r restClient) call(method, endpoint string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := r.newRequest(method, r.base+"/api/2.0/mlflow/"+endpoint, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("MLflow server %s: %w", r.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		json.Unmarshal(data, e)
		if e.Msg == "" {
			e.Msg = strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("MLflow server %s %s: %w", method, endpoint, err)
		}
	}
	return nil
}

func (r *restRun) ID() string    { return r.runID }
func (r *restRun) Where() string { return r.base + "/#/experiments/" + r.expID + "/runs/" + r.runID }

func kvList(m map[string]string) []map[string]string {
	out := make([]map[string]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, map[string]string{"key": k, "value": m[k]})
	}
	return out
}

func (r *restRun) logBatch(field string, items []map[string]any, limit int) error {
	for start := 0; start < len(items); start += limit {
		chunk := items[start:min(start+limit, len(items))]
		if err := r.call("POST", "runs/log-batch", map[string]any{"run_id": r.runID, field: chunk}, nil); err != nil {
			return err
		}
	}
	return nil
}

func asAny(kv []map[string]string) []map[string]any {
	out := make([]map[string]any, len(kv))
	for i, m := range kv {
		out[i] = map[string]any{"key": m["key"], "value": m["value"]}
	}
	return out
}

func (r *restRun) LogParams(p map[string]string) error {
	return r.logBatch("params", asAny(kvList(p)), maxBatchParams)
}

func (r *restRun) SetTags(t map[string]string) error {
	return r.logBatch("tags", asAny(kvList(t)), maxBatchTags)
}

func (r *restRun) LogMetricAt(key string, value float64, step int64) error {
	return r.call("POST", "runs/log-metric", map[string]any{
		"run_id": r.runID, "key": key, "value": value, "timestamp": time.Now().UnixMilli(), "step": step}, nil)
}

func (r *restRun) LogArtifacts(localDir, dir string) error {
	return walkArtifacts(localDir, dir, r.LogArtifact)
}

func (r *restRun) LogMetrics(m map[string]float64) error {
	now := time.Now().UnixMilli()
	items := make([]map[string]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		items = append(items, map[string]any{"key": k, "value": m[k], "timestamp": now, "step": 0})
	}
	return r.logBatch("metrics", items, maxBatchMetrics)
}

// LogArtifact uploads a file with PUT /api/2.0/mlflow-artifacts/artifacts/<root>/<dir>/<name>.
func (r *restRun) LogArtifact(local, dir string) error {
	data, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	p := path.Join(r.artifact, dir, path.Base(strings.ReplaceAll(local, "\\", "/")))
	req, err := r.newRequest("PUT", r.base+"/api/2.0/mlflow-artifacts/artifacts/"+escapePath(p), bytes.NewReader(data))
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("MLflow server %s: upload %s: %w", r.base, p, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("MLflow server %s: upload %s: %s: %s", r.base, p, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func (r *restRun) End(status int) error {
	name := map[int]string{StatusRunning: "RUNNING", StatusFinished: "FINISHED", StatusFailed: "FAILED"}[status]
	return r.call("POST", "runs/update", map[string]any{"run_id": r.runID, "status": name, "end_time": time.Now().UnixMilli()}, nil)
}
