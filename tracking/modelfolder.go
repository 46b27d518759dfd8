package tracking

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Resolver turns a model URI (models:/NAME/STAGE, models:/NAME/VERSION,
// models:/NAME/latest, models:/NAME@ALIAS) or a plain folder into a local
// folder inference.Load opens. Registry resolves in an MLflow file store,
// RESTRegistry against an MLflow tracking server.
type Resolver interface {
	Resolve(uri string) (Resolved, error)
}

// NewResolver picks the resolver for a registry URI: an http(s):// MLflow
// tracking server, or a file store folder (a path or file:// URI).
func NewResolver(registry string) Resolver {
	if strings.HasPrefix(registry, "http://") || strings.HasPrefix(registry, "https://") {
		return RESTRegistry{Base: registry}
	}
	if p, err := fileURIPath(registry); err == nil && strings.HasPrefix(registry, "file:") {
		registry = p
	}
	return Registry{Root: registry}
}

// cacheRoot is where downloaded models and layout views live: dir when set,
// else $MEDALLION_MODEL_CACHE, else the user's cache folder.
func cacheRoot(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv("MEDALLION_MODEL_CACHE"); env != "" {
		return env
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "medallion", "models")
	}
	return filepath.Join(os.TempDir(), "medallion-models")
}

func hashKey(s string) string {
	abs, err := filepath.Abs(s)
	if err == nil {
		s = abs
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// mlmodel is the part of an MLflow MLmodel file that locates an ONNX model.
type mlmodel struct {
	Flavors struct {
		ONNX *struct {
			Data       string `yaml:"data"`
			ExtraFiles []struct {
				Path string `yaml:"path"`
			} `yaml:"extra_files"`
		} `yaml:"onnx"`
	} `yaml:"flavors"`
}

// modelFolder returns a folder in the Hugging Face ONNX export layout
// (config.json, tokenizer.json, onnx/model.onnx) for a model's artifacts:
// the artifacts themselves when they are such a folder (a folder logged as
// run artifacts), or, for an mlflow.onnx flavour model (MLmodel with an
// onnx flavour whose extra_files carry config.json and tokenizer.json), a
// view of symbolic links built at view:
//
//	view/config.json, tokenizer.json, ...  → the flavour's extra_files (by base name)
//	view/onnx/model.onnx                     → the flavour's data file
//	view/onnx/<sibling>                      → the files next to it (ONNX external data)
func modelFolder(dir, view string) (string, error) {
	if isHFFolder(dir) {
		return dir, nil
	}
	var m mlmodel
	if err := readYAMLFile(filepath.Join(dir, "MLmodel"), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s is neither a Hugging Face ONNX export (config.json, onnx/model.onnx) nor an MLflow model (MLmodel)", dir)
		}
		return "", err
	}
	if m.Flavors.ONNX == nil || m.Flavors.ONNX.Data == "" {
		return "", fmt.Errorf("%s: the MLflow model has no onnx flavour", dir)
	}
	if isHFFolder(view) && linksInto(view, dir) {
		return view, nil
	}
	if err := buildView(dir, view, m); err != nil {
		return "", fmt.Errorf("%s: Hugging Face view of the onnx flavour model: %w", dir, err)
	}
	return view, nil
}

// isHFFolder says whether dir is a Hugging Face ONNX export: config.json and
// a model in onnx/ (the Xenova layout) or at the top (what optimum-cli
// writes), as inference.FindModelFile looks for it.
func isHFFolder(dir string) bool {
	if !exists(filepath.Join(dir, "config.json")) {
		return false
	}
	for _, name := range []string{"onnx/model.onnx", "model.onnx", "onnx/model_quantized.onnx", "model_quantized.onnx"} {
		if exists(filepath.Join(dir, filepath.FromSlash(name))) {
			return true
		}
	}
	return false
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// linksInto says whether view's onnx/model.onnx still points into dir (a
// view left from another model or a moved store is rebuilt).
func linksInto(view, dir string) bool {
	target, err := os.Readlink(filepath.Join(view, "onnx", "model.onnx"))
	abs, aerr := filepath.Abs(dir)
	return err == nil && aerr == nil && strings.HasPrefix(target, abs+string(filepath.Separator))
}

// buildView writes the links into a fresh folder and renames it over view.
func buildView(dir, view string, m mlmodel) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(view), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(view), ".view-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := linkONNX(abs, tmp, m.Flavors.ONNX.Data); err != nil {
		return err
	}
	for _, f := range m.Flavors.ONNX.ExtraFiles {
		if err := linkFile(filepath.Join(abs, filepath.FromSlash(f.Path)), filepath.Join(tmp, filepath.Base(f.Path))); err != nil {
			return err
		}
	}
	if !exists(filepath.Join(tmp, "config.json")) || !exists(filepath.Join(tmp, "tokenizer.json")) {
		return errors.New("config.json and tokenizer.json must be logged with the model as the flavour's extra_files " +
			"(mlflow.onnx.log_model(..., extra_files=[config.json, tokenizer.json, tokenizer_config.json]))")
	}
	if err := os.RemoveAll(view); err != nil {
		return err
	}
	if err := os.Rename(tmp, view); err != nil && !isHFFolder(view) { // another process built it first
		return err
	}
	return nil
}

// linkONNX links the flavour's data file as onnx/model.onnx and its sibling
// files (external tensor data) next to it.
func linkONNX(abs, view, data string) error {
	src := filepath.Join(abs, filepath.FromSlash(data))
	if !strings.HasPrefix(src, abs+string(filepath.Separator)) {
		return fmt.Errorf("onnx flavour data %q is outside the model", data)
	}
	if err := os.Mkdir(filepath.Join(view, "onnx"), 0o755); err != nil {
		return err
	}
	siblings, err := os.ReadDir(filepath.Dir(src))
	if err != nil {
		return err
	}
	for _, e := range siblings {
		p := filepath.Join(filepath.Dir(src), e.Name())
		if !e.Type().IsRegular() || p == src || e.Name() == "model.onnx" {
			continue
		}
		if err := linkFile(p, filepath.Join(view, "onnx", e.Name())); err != nil {
			return err
		}
	}
	return linkFile(src, filepath.Join(view, "onnx", "model.onnx"))
}

func linkFile(src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	return os.Symlink(src, dst)
}
