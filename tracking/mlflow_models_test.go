package tracking

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/internal/oracle"
)

var probeTexts = []string{"I love this, best day ever!", "this is awful and I hate it", "the meeting is at 3pm", "not bad at all", ""}

// predictions classifies probeTexts with the model folder dir.
func predictions(t *testing.T, dir string) []inference.Prediction {
	t.Helper()
	m, err := inference.Load(dir, inference.Options{})
	if err != nil {
		t.Fatalf("inference.Load(%s): %v", dir, err)
	}
	defer m.Close()
	got, err := m.Predict(probeTexts)
	if err != nil {
		t.Fatalf("predict with %s: %v", dir, err)
	}
	return got
}

// mlflowRegistration is what scripts/oracles/mlflow_register.py reports.
type mlflowRegistration struct {
	RunID    string `json:"run_id"`
	ModelID  string `json:"model_id"`
	Versions []struct {
		Version     int    `json:"version"`
		Source      string `json:"source"`
		DownloadURI string `json:"download_uri"`
	} `json:"versions"`
}

// registerWithMLflow registers the demo model with MLflow's own Python
// client at trackingURI: version 1 as run artifacts (Staging, @champion),
// version 2 as an mlflow.onnx flavour LoggedModel with the tokenizer and
// config as extra_files (Production, @onnx).
func registerWithMLflow(t *testing.T, trackingURI, name string) mlflowRegistration {
	t.Helper()
	abs, err := filepath.Abs(demo)
	must(t, err)
	out := oracle.Run(t, "mlflow_register.py", trackingURI, abs, name)
	var reg mlflowRegistration
	if err := json.Unmarshal(out, &reg); err != nil || len(reg.Versions) != 2 {
		t.Fatalf("mlflow_register.py: %v\n%s", err, out)
	}
	return reg
}

// resolveCase is a URI and the version and stage MLflow gave it.
type resolveCase struct {
	uri     string
	version int
	stage   string
}

var mlflowRegisteredCases = []resolveCase{
	{"models:/mlflow-demo/Production", 2, "Production"}, // the mlflow.onnx flavour model
	{"models:/mlflow-demo@onnx", 2, "Production"},
	{"models:/mlflow-demo@champion", 1, "Staging"}, // the folder logged as run artifacts
	{"models:/mlflow-demo/Staging", 1, "Staging"},
	{"models:/mlflow-demo/1", 1, "Staging"},
	{"models:/mlflow-demo/latest", 2, "Production"},
}

// checkResolvesAndRuns resolves each case and checks the folder classifies
// probeTexts exactly as the demo folder loaded directly does.
func checkResolvesAndRuns(t *testing.T, res Resolver, cases []resolveCase) map[string]Resolved {
	t.Helper()
	want := predictions(t, demo)
	out := map[string]Resolved{}
	for _, c := range cases {
		got, err := res.Resolve(c.uri)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.uri, err)
			continue
		}
		if got.Version != c.version || got.Stage != c.stage || got.Name != "mlflow-demo" {
			t.Errorf("Resolve(%q) = %+v; want version %d in %s", c.uri, got, c.version, c.stage)
		}
		if p := predictions(t, got.Dir); !reflect.DeepEqual(p, want) {
			t.Errorf("%s (%s) predicts %+v; the demo folder %+v", c.uri, got.Dir, p, want)
		}
		out[c.uri] = got
	}
	return out
}

// TestResolveModelsRegisteredByMLflowFileStore registers the demo model
// with MLflow 3.17.2's own Python client into a file store (as run artifacts
// and as an mlflow.onnx flavour LoggedModel, source models:/m-...) and checks
// that our Registry resolves stages, versions and aliases to the versions
// MLflow set, and that each resolved folder runs in inference and classifies
// as the demo folder does.
func TestResolveModelsRegisteredByMLflowFileStore(t *testing.T) {
	t.Parallel()
	oracle.Python(t)
	root := filepath.Join(t.TempDir(), "mlruns")
	reg := registerWithMLflow(t, fileURI(root), "mlflow-demo")
	if reg.Versions[1].Source != "models:/"+reg.ModelID {
		t.Errorf("MLflow registered the LoggedModel from %q, want models:/%s", reg.Versions[1].Source, reg.ModelID)
	}
	resolved := checkResolvesAndRuns(t, Registry{Root: root, Cache: t.TempDir()}, mlflowRegisteredCases)
	// Version 1 is the run's artifact folder itself; version 2 a view whose
	// ONNX file is the LoggedModel's, where MLflow's download URI points.
	if got := resolved["models:/mlflow-demo@champion"].Dir; fileURI(got) != reg.Versions[0].DownloadURI {
		t.Errorf("version 1 resolved to %s; MLflow's download URI is %s", got, reg.Versions[0].DownloadURI)
	}
	target, err := filepath.EvalSymlinks(filepath.Join(resolved["models:/mlflow-demo/Production"].Dir, "onnx", "model.onnx"))
	if err != nil || fileURI(filepath.Dir(target)) != reg.Versions[1].DownloadURI {
		t.Errorf("version 2's model.onnx is %s (%v); MLflow's download URI is %s", target, err, reg.Versions[1].DownloadURI)
	}
	if NewResolver(fileURI(root)).(Registry).Root != root {
		t.Errorf("NewResolver(file URI) does not resolve in %s", root)
	}
}

// TestResolverChoiceAndProxyPaths checks, without MLflow, which resolver a
// registry URI gets and which download URIs the REST resolver accepts (the
// mlflow-artifacts forms `mlflow server` returns, as seen in
// TestMLflowServerSQLite).
func TestResolverChoiceAndProxyPaths(t *testing.T) {
	for reg, want := range map[string]string{"http://127.0.0.1:5000": "tracking.RESTRegistry", "https://mlflow.example": "tracking.RESTRegistry",
		"mlruns": "tracking.Registry", "file:///srv/mlruns": "tracking.Registry"} {
		if got := reflect.TypeOf(NewResolver(reg)).String(); got != want {
			t.Errorf("NewResolver(%q) is a %s, want %s", reg, got, want)
		}
	}
	if got := NewResolver("file:///srv/ml%20runs").(Registry).Root; got != "/srv/ml runs" {
		t.Errorf("file URI root = %q", got)
	}
	for uri, want := range map[string]string{"mlflow-artifacts:/1/models/m-1/artifacts": "1/models/m-1/artifacts",
		"mlflow-artifacts://host:5000/2/abc/artifacts/hf_model": "2/abc/artifacts/hf_model"} {
		if got, err := proxyPath(uri); err != nil || got != want {
			t.Errorf("proxyPath(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	for _, uri := range []string{"s3://bucket/1/abc/artifacts", "file:///srv/artifacts", "runs:/abc/model"} {
		if _, err := proxyPath(uri); err == nil {
			t.Errorf("proxyPath(%q) accepted a location the artifact proxy does not serve", uri)
		}
	}
	if _, err := modelFolder(t.TempDir(), filepath.Join(t.TempDir(), "view")); err == nil {
		t.Error("an empty folder was taken for a model")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
