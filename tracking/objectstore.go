package tracking

// A registry on an object store (--registry s3://bucket/mlruns or gs://...)
// is a file store (MLflow's, or one written by Register) copied there as it
// is. It is read through lake's storage, never written, and a version
// resolves to the location of its artifacts in the same store: workers on
// any machine fetch the model from there (inference.Fetch), which a local
// path would not allow.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tweetsentiment/medallion/lake"
)

// remote reports whether the registry is on an object store.
func (r Registry) remote() bool { return lake.IsRemote(r.Root) }

// readFile reads a file of the registry by its slash-separated elements.
func (r Registry) readFile(elem ...string) ([]byte, error) {
	if r.remote() {
		return lake.StorageFor(r.Root).ReadFile(context.Background(), path.Join(elem...))
	}
	return os.ReadFile(filepath.Join(append([]string{r.Root}, elem...)...))
}

var versionDirName = regexp.MustCompile(`^version-[0-9]+$`)

// versionDirs lists the version-<n> folders of a model. An object store
// has no folders: there they are the ones holding a meta.yaml.
func (r Registry) versionDirs(name string) ([]string, error) {
	if !r.remote() {
		entries, err := os.ReadDir(r.modelDir(name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var dirs []string
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "version-") {
				dirs = append(dirs, e.Name())
			}
		}
		return dirs, nil
	}
	var dirs []string
	err := lake.StorageFor(lake.Join(r.Root, "models", name)).Walk(context.Background(), func(n string, _ int64, _ time.Time) error {
		if dir, rest, ok := strings.Cut(n, "/"); ok && rest == "meta.yaml" && versionDirName.MatchString(dir) {
			dirs = append(dirs, dir)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r.Root, err)
	}
	sort.Strings(dirs)
	return dirs, nil
}

// remoteArtifacts finds a version's artifacts in a registry on an object
// store, in the order localArtifacts looks: Register's own copy in
// version-<n>/artifacts, then storage_location and source. Those are
// object-store locations when MLflow logged the artifacts there, or the
// file:// locations MLflow's file store recorded on the machine that
// registered, which are found at the same place inside the copied store
// (see storeRelative).
func (r Registry) remoteArtifacts(mv ModelVersion) (string, error) {
	ctx := context.Background()
	candidates := []string{lake.Join(r.Root, "models", mv.Name, fmt.Sprintf("version-%d", mv.Version), "artifacts")}
	for _, loc := range []string{mv.StorageLocation, mv.Source} {
		switch {
		case loc == "":
		case lake.IsRemote(loc):
			candidates = append(candidates, strings.TrimRight(loc, "/"))
		case strings.HasPrefix(loc, "file:") || filepath.IsAbs(loc):
			if p, err := fileURIPath(loc); err == nil {
				if rel, ok := storeRelative(filepath.ToSlash(p), mv.RunID); ok {
					candidates = append(candidates, lake.Join(r.Root, rel))
				}
			}
		}
	}
	for _, c := range candidates {
		if !lake.IsDir(ctx, c) {
			continue
		}
		if err := checkRemoteFolder(c); err != nil {
			if _, _, merr := lake.Stat(ctx, lake.Join(c, "MLmodel")); merr == nil {
				return "", fmt.Errorf("its artifacts at %s are an MLflow model (MLmodel), which is run from an object store only as a Hugging Face ONNX export folder "+
					"(config.json, tokenizer.json, onnx/model.onnx): register that folder (mlflow.log_artifacts), or use a local registry", c)
			}
			return "", err
		}
		return c, nil
	}
	return "", fmt.Errorf("its artifacts are not in %s (looked at %s)", r.Root, strings.Join(candidates, ", "))
}

// runID is the form of MLflow's run ids (uuid4 hex).
var runID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// storeRelative finds where an absolute location that MLflow's file store
// recorded lies inside the store: MLflow writes <root>/<experiment>/<run>/
// artifacts/... for a run's artifacts and <root>/<experiment>/models/<m-id>/
// artifacts/... for a logged model's, <root> being the store's path on the
// machine that registered. From <experiment> on, the path is the same in a
// copy of the store.
func storeRelative(p, run string) (string, bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := 1; i+1 < len(segs); i++ {
		if segs[i+1] != "artifacts" {
			continue
		}
		switch {
		case segs[i] == run || run == "" && runID.MatchString(segs[i]):
			return path.Join(segs[i-1:]...), true
		case i >= 2 && segs[i-1] == "models" && strings.HasPrefix(segs[i], "m-"):
			return path.Join(segs[i-2:]...), true
		}
	}
	return "", false
}

// checkRemoteFolder checks that location is a Hugging Face ONNX export
// folder (config.json and a model file, as isHFFolder) without downloading it.
func checkRemoteFolder(location string) error {
	ctx := context.Background()
	if _, _, err := lake.Stat(ctx, lake.Join(location, "config.json")); err != nil {
		return fmt.Errorf("%s is not a Hugging Face ONNX export folder (no config.json): %w", location, err)
	}
	for _, name := range []string{"onnx/model.onnx", "model.onnx", "onnx/model_quantized.onnx", "model_quantized.onnx"} {
		_, _, err := lake.Stat(ctx, lake.Join(location, name))
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return fmt.Errorf("%s is not a Hugging Face ONNX export folder: no onnx/model.onnx, model.onnx, onnx/model_quantized.onnx or model_quantized.onnx", location)
}
