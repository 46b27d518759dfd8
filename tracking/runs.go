package tracking

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
)

// Run statuses, as MLflow numbers them in the file store.
const (
	StatusRunning  = 1
	StatusFinished = 3
	StatusFailed   = 4
)

// FormatVersion names the tracking format this package writes; runs log it
// as a param, as the original logged MLflow's version.
const FormatVersion = "mlflow-file-store/2 (tracking REST api/2.0)"

// Run logs params, metrics, tags and artifacts of one MLflow run.
type Run interface {
	ID() string
	// Where says where the run lives: a folder or a server URL.
	Where() string
	LogParams(map[string]string) error
	// LogMetrics logs each value at step 0.
	LogMetrics(map[string]float64) error
	// LogMetricAt adds one value to a metric's history at step.
	LogMetricAt(key string, value float64, step int64) error
	SetTags(map[string]string) error
	// LogArtifact copies a local file under the run's artifacts, in dir.
	LogArtifact(local, dir string) error
	// LogArtifacts copies a local folder's files, recursively, under the
	// run's artifacts, in dir (as mlflow.log_artifacts does).
	LogArtifacts(localDir, dir string) error
	End(status int) error
}

// StartRun starts a run in experiment (created when missing) at
// trackingURI: an http(s):// MLflow server, or a file store folder (a path
// or file:// URI; empty means ./mlruns).
func StartRun(trackingURI, experiment, runName string) (Run, error) {
	if strings.HasPrefix(trackingURI, "http://") || strings.HasPrefix(trackingURI, "https://") {
		return startRESTRun(trackingURI, experiment, runName)
	}
	root := strings.TrimPrefix(trackingURI, "file://")
	if root == "" {
		root = "mlruns"
	}
	return FileStore{Root: root}.StartRun(experiment, runName)
}

// FileStore is MLflow's file-based tracking store (mlflow/store/tracking/
// file_store.py): deprecated upstream in favour of a database, but still what
// an embedded tool can write and MLflow can read (from MLflow 3.13 set
// MLFLOW_ALLOW_FILE_STORE=true).
type FileStore struct {
	Root string
}

type experimentMeta struct {
	ArtifactLocation string `yaml:"artifact_location"`
	CreationTime     int64  `yaml:"creation_time"`
	ExperimentID     string `yaml:"experiment_id"`
	LastUpdateTime   int64  `yaml:"last_update_time"`
	LifecycleStage   string `yaml:"lifecycle_stage"`
	Name             string `yaml:"name"`
}

// RunMeta is a run's meta.yaml.
type RunMeta struct {
	ArtifactURI    string   `yaml:"artifact_uri"`
	EndTime        *int64   `yaml:"end_time"`
	EntryPointName string   `yaml:"entry_point_name"`
	ExperimentID   string   `yaml:"experiment_id"`
	LifecycleStage string   `yaml:"lifecycle_stage"`
	RunID          string   `yaml:"run_id"`
	RunName        string   `yaml:"run_name"`
	RunUUID        string   `yaml:"run_uuid"`
	SourceName     string   `yaml:"source_name"`
	SourceType     int      `yaml:"source_type"`
	SourceVersion  string   `yaml:"source_version"`
	StartTime      int64    `yaml:"start_time"`
	Status         int      `yaml:"status"`
	Tags           []string `yaml:"tags"`
	UserID         string   `yaml:"user_id"`
	DeletedTime    *int64   `yaml:"deleted_time"`
}

func fileURI(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	return "file://" + filepath.ToSlash(abs)
}

// experimentID finds an experiment by name, creating it (and MLflow's
// Default experiment 0 in a new store) when missing.
func (s FileStore) experimentID(name string) (string, error) {
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(s.Root)
	if err != nil {
		return "", err
	}
	next := 1
	haveDefault := false
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if !e.IsDir() || err != nil {
			continue
		}
		var m experimentMeta
		data, err := os.ReadFile(filepath.Join(s.Root, e.Name(), "meta.yaml"))
		if err != nil {
			continue
		}
		if err := yaml.Unmarshal(data, &m); err != nil {
			return "", fmt.Errorf("experiment %s/meta.yaml: %w", e.Name(), err)
		}
		if m.Name == name && m.LifecycleStage == "active" {
			return m.ExperimentID, nil
		}
		haveDefault = haveDefault || id == 0
		next = max(next, id+1)
	}
	if !haveDefault {
		if _, err := s.createExperiment(0, "Default"); err != nil {
			return "", err
		}
	}
	for ; ; next++ {
		id, err := s.createExperiment(next, name)
		if errors.Is(err, fs.ErrExist) {
			continue // another writer took the id
		}
		return id, err
	}
}

func (s FileStore) createExperiment(id int, name string) (string, error) {
	sid := strconv.Itoa(id)
	dir := filepath.Join(s.Root, sid)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	now := time.Now().UnixMilli()
	return sid, writeYAML(filepath.Join(dir, "meta.yaml"), experimentMeta{
		ArtifactLocation: fileURI(dir), CreationTime: now, ExperimentID: sid, LastUpdateTime: now,
		LifecycleStage: "active", Name: name,
	})
}

// StartRun creates a RUNNING run in experiment.
func (s FileStore) StartRun(experiment, runName string) (Run, error) {
	exp, err := s.experimentID(experiment)
	if err != nil {
		return nil, fmt.Errorf("tracking store %s: %w", s.Root, err)
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	dir := filepath.Join(s.Root, exp, id)
	for _, sub := range []string{"metrics", "params", "tags", "artifacts"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	userName := "unknown"
	if u, err := user.Current(); err == nil {
		userName = u.Username
	}
	r := &fileRun{dir: dir, meta: RunMeta{
		ArtifactURI: fileURI(filepath.Join(dir, "artifacts")), ExperimentID: exp, LifecycleStage: "active",
		RunID: id, RunName: runName, RunUUID: id, SourceType: 4, StartTime: time.Now().UnixMilli(),
		Status: StatusRunning, Tags: []string{}, UserID: userName,
	}}
	if err := writeYAML(filepath.Join(dir, "meta.yaml"), r.meta); err != nil {
		return nil, err
	}
	src, _ := os.Executable()
	return r, r.SetTags(map[string]string{
		"mlflow.runName": runName, "mlflow.user": userName, "mlflow.source.type": "LOCAL", "mlflow.source.name": filepath.Base(src),
	})
}

type fileRun struct {
	dir  string
	meta RunMeta
}

func (r *fileRun) ID() string    { return r.meta.RunID }
func (r *fileRun) Where() string { return r.dir }

// safeKey refuses keys that would leave the run folder.
func safeKey(k string) error {
	if k == "" || strings.Contains(k, "..") || strings.HasPrefix(k, "/") || strings.ContainsAny(k, "\\\x00") {
		return fmt.Errorf("invalid key %q", k)
	}
	return nil
}

func (r *fileRun) writeValues(sub string, kv map[string]string) error {
	for k, v := range kv {
		if err := safeKey(k); err != nil {
			return err
		}
		p := filepath.Join(r.dir, sub, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (r *fileRun) LogParams(p map[string]string) error { return r.writeValues("params", p) }
func (r *fileRun) SetTags(t map[string]string) error   { return r.writeValues("tags", t) }

// LogMetrics appends "timestamp value step" lines, as MLflow does.
func (r *fileRun) LogMetrics(m map[string]float64) error {
	now := time.Now().UnixMilli()
	for _, k := range sortedKeys(m) {
		if err := r.appendMetric(k, m[k], now, 0); err != nil {
			return err
		}
	}
	return nil
}

func (r *fileRun) LogMetricAt(key string, value float64, step int64) error {
	return r.appendMetric(key, value, time.Now().UnixMilli(), step)
}

func (r *fileRun) appendMetric(key string, value float64, timestamp, step int64) error {
	if err := safeKey(key); err != nil {
		return err
	}
	p := filepath.Join(r.dir, "metrics", filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("metric %s: %w", key, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("metric %s: %w", key, err)
	}
	_, err = fmt.Fprintf(f, "%d %s %d\n", timestamp, formatMetric(value), step)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("metric %s: %w", key, err)
	}
	return nil
}

// formatMetric writes floats as Python's repr does for the common cases, so
// MLflow reads back the same value.
func formatMetric(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".en") {
		s += ".0"
	}
	return s
}

func (r *fileRun) LogArtifact(local, dir string) error {
	if dir != "" {
		if err := safeKey(dir); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	dst := filepath.Join(r.dir, "artifacts", filepath.FromSlash(dir), filepath.Base(local))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

func (r *fileRun) LogArtifacts(localDir, dir string) error {
	return walkArtifacts(localDir, dir, r.LogArtifact)
}

// walkArtifacts calls logFile for every regular file under localDir with the
// artifact folder it belongs in (dir joined with the file's relative folder).
func walkArtifacts(localDir, dir string, logFile func(local, dir string) error) error {
	return filepath.WalkDir(localDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("artifact %s: not a regular file", p)
		}
		rel, err := filepath.Rel(localDir, filepath.Dir(p))
		if err != nil {
			return err
		}
		sub := path.Join(filepath.ToSlash(dir), filepath.ToSlash(rel))
		if sub == "." {
			sub = ""
		}
		if err := logFile(p, sub); err != nil {
			return fmt.Errorf("log artifacts %s: %w", localDir, err)
		}
		return nil
	})
}

func (r *fileRun) End(status int) error {
	end := time.Now().UnixMilli()
	r.meta.EndTime = &end
	r.meta.Status = status
	return writeYAML(filepath.Join(r.dir, "meta.yaml"), r.meta)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
