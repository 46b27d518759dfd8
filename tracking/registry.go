// Package tracking reads and writes MLflow's file-store formats: the model
// registry (models/<name>/version-<n>/meta.yaml, aliases) that the pipeline
// resolves models:/ URIs against.
package tracking

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tweetsentiment/medallion/lake"
)

// Stages of a model version (MLflow's, deprecated upstream in favour of
// aliases but still what models:/NAME/Production means).
var Stages = []string{"None", "Staging", "Production", "Archived"}

// Registry is an MLflow file-store model registry rooted at an mlruns
// folder, or at a copy of one on an object store (s3://, gs://), which is
// only read (see objectstore.go).
type Registry struct {
	Root string
	// Cache holds the Hugging Face layout views of mlflow.onnx flavour
	// models (default: see cacheRoot).
	Cache string
}

// ModelVersion is what version-<n>/meta.yaml holds.
type ModelVersion struct {
	CreationTimestamp    int64   `yaml:"creation_timestamp"`
	CurrentStage         string  `yaml:"current_stage"`
	Description          string  `yaml:"description"`
	LastUpdatedTimestamp int64   `yaml:"last_updated_timestamp"`
	Name                 string  `yaml:"name"`
	RunID                string  `yaml:"run_id"`
	RunLink              string  `yaml:"run_link"`
	Source               string  `yaml:"source"`
	Status               string  `yaml:"status"`
	StatusMessage        *string `yaml:"status_message"`
	StorageLocation      string  `yaml:"storage_location"`
	UserID               *string `yaml:"user_id"`
	Version              int     `yaml:"version"`
}

type registeredModel struct {
	CreationTimestamp    int64   `yaml:"creation_timestamp"`
	Description          *string `yaml:"description"`
	LastUpdatedTimestamp int64   `yaml:"last_updated_timestamp"`
	Name                 string  `yaml:"name"`
}

// Names and aliases are restricted to characters that cannot leave the
// registry folder: a name like "../x" or "a/b" is refused.
var (
	validName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	validAlias = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$`)
)

func checkName(name string) error {
	if !validName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("invalid model name %q: use letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

func (r Registry) modelDir(name string) string { return filepath.Join(r.Root, "models", name) }

func (r Registry) versionDir(name string, v int) string {
	return filepath.Join(r.modelDir(name), fmt.Sprintf("version-%d", v))
}

// Register copies a model folder into the registry as the next version of
// name, and optionally sets its stage and an alias.
func (r Registry) Register(name, modelDir, stage, alias string) (ModelVersion, error) {
	if r.remote() {
		return ModelVersion{}, fmt.Errorf("registry %s: a registry on an object store is read-only here: register into a local one and copy it there", r.Root)
	}
	if err := checkName(name); err != nil {
		return ModelVersion{}, err
	}
	if alias != "" && !validAlias.MatchString(alias) {
		return ModelVersion{}, fmt.Errorf("invalid alias %q", alias)
	}
	if stage == "" {
		stage = "None"
	}
	stage, err := canonicalStage(stage)
	if err != nil {
		return ModelVersion{}, err
	}
	if _, err := os.Stat(filepath.Join(modelDir, "config.json")); err != nil {
		return ModelVersion{}, fmt.Errorf("%s is not a model folder (no config.json): %w", modelDir, err)
	}
	now := time.Now().UnixMilli()
	md := r.modelDir(name)
	if err := os.MkdirAll(md, 0o755); err != nil {
		return ModelVersion{}, err
	}
	if _, err := os.Stat(filepath.Join(md, "meta.yaml")); errors.Is(err, fs.ErrNotExist) {
		if err := writeYAML(filepath.Join(md, "meta.yaml"), registeredModel{CreationTimestamp: now, LastUpdatedTimestamp: now, Name: name}); err != nil {
			return ModelVersion{}, err
		}
	}
	versions, err := r.Versions(name)
	if err != nil {
		return ModelVersion{}, err
	}
	next := 1
	for _, v := range versions {
		next = max(next, v.Version+1)
	}
	vdir := r.versionDir(name, next)
	// Claim the version folder atomically, so two registrations never share one.
	if err := os.Mkdir(vdir, 0o755); err != nil {
		return ModelVersion{}, fmt.Errorf("claim version %d of %s: %w", next, name, err)
	}
	dst := filepath.Join(vdir, "artifacts")
	if err := copyDir(modelDir, dst); err != nil {
		return ModelVersion{}, fmt.Errorf("copy %s into the registry: %w", modelDir, err)
	}
	abs, _ := filepath.Abs(dst)
	mv := ModelVersion{
		CreationTimestamp: now, CurrentStage: stage, LastUpdatedTimestamp: now, Name: name,
		Source: "file://" + filepath.ToSlash(abs), StorageLocation: "file://" + filepath.ToSlash(abs),
		Status: "READY", Version: next,
	}
	if err := writeYAML(filepath.Join(vdir, "meta.yaml"), mv); err != nil {
		return ModelVersion{}, err
	}
	if alias != "" {
		if err := r.SetAlias(name, alias, next); err != nil {
			return ModelVersion{}, err
		}
	}
	return mv, nil
}

// Transition moves a version to stage, as MLflow's
// transition_model_version_stage does: with archiveExisting (Staging and
// Production only), the other versions in that stage move to Archived. It
// returns the versions it changed.
func (r Registry) Transition(name string, version int, stage string, archiveExisting bool) ([]ModelVersion, error) {
	if r.remote() {
		return nil, fmt.Errorf("registry %s: a registry on an object store is read-only here", r.Root)
	}
	stage, err := canonicalStage(stage)
	if err != nil {
		return nil, err
	}
	if archiveExisting && stage != "Staging" && stage != "Production" {
		return nil, fmt.Errorf("archiving the existing versions applies to Staging and Production only, not %s", stage)
	}
	versions, err := r.Versions(name)
	if err != nil {
		return nil, err
	}
	target := findVersion(versions, version)
	if target == nil {
		return nil, fmt.Errorf("registry %s: %s has no version %d", r.Root, name, version)
	}
	now := time.Now().UnixMilli()
	var changed []ModelVersion
	for i := range versions {
		mv := &versions[i]
		switch {
		case mv.Version == version:
			mv.CurrentStage = stage
		case archiveExisting && mv.CurrentStage == stage:
			mv.CurrentStage = "Archived"
		default:
			continue
		}
		mv.LastUpdatedTimestamp = now
		if err := writeYAML(filepath.Join(r.versionDir(name, mv.Version), "meta.yaml"), *mv); err != nil {
			return changed, err
		}
		changed = append(changed, *mv)
	}
	return changed, nil
}

// SetAlias points alias at a version.
func (r Registry) SetAlias(name, alias string, version int) error {
	if r.remote() {
		return fmt.Errorf("registry %s: a registry on an object store is read-only here", r.Root)
	}
	if err := checkName(name); err != nil {
		return err
	}
	if !validAlias.MatchString(alias) {
		return fmt.Errorf("invalid alias %q", alias)
	}
	dir := filepath.Join(r.modelDir(name), "aliases")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, alias), []byte(strconv.Itoa(version)), 0o644)
}

// Versions lists a model's versions, oldest first.
func (r Registry) Versions(name string) ([]ModelVersion, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	dirs, err := r.versionDirs(name)
	if err != nil {
		return nil, err
	}
	var out []ModelVersion
	for _, d := range dirs {
		var mv ModelVersion
		data, err := r.readFile("models", name, d, "meta.yaml")
		if errors.Is(err, fs.ErrNotExist) {
			continue // being registered right now
		}
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", r.Root, err)
		}
		if err := yaml.Unmarshal(data, &mv); err != nil {
			return nil, fmt.Errorf("registry %s: %s/%s/meta.yaml: %w", r.Root, name, d, err)
		}
		out = append(out, mv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func canonicalStage(s string) (string, error) {
	for _, st := range Stages {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown stage %q (want one of %s)", s, strings.Join(Stages, ", "))
}

// Resolved is a model found from a URI.
type Resolved struct {
	URI string
	// Dir is the model folder: a local path, or an s3:// or gs:// location
	// (a registry or a folder on an object store), which workers fetch.
	Dir     string
	Name    string // empty for a plain folder
	Version int
	Stage   string
	// Digest is the content digest of a folder on an object store, which
	// the pipeline sets when it resolves the model (inference.Mirror).
	Digest string `json:",omitempty"`
}

// Resolve turns models:/NAME/Production, models:/NAME/Staging,
// models:/NAME/3, models:/NAME/latest, models:/NAME@alias or a plain folder
// into the model's folder. A URI that finds nothing says how to register one.
// Versions registered by MLflow's own client are found where MLflow put
// them (see localArtifacts), and an mlflow.onnx flavour model is opened
// through a Hugging Face layout view (see modelFolder).
func (r Registry) Resolve(uri string) (Resolved, error) {
	if !strings.HasPrefix(uri, "models:/") {
		return resolveFolder(uri)
	}
	ref, err := parseModelURI(uri)
	if err != nil {
		return Resolved{}, err
	}
	hint := fmt.Sprintf("register one with: go run ./scripts/register --registry %s --name %s --model-dir DIR --stage Production", r.Root, ref.Name)
	if r.remote() {
		hint = fmt.Sprintf("register one in a local store (go run ./scripts/register --registry mlruns --name %s --model-dir DIR --stage Production) and copy it to %s", ref.Name, r.Root)
	}
	versions, err := r.Versions(ref.Name)
	if err != nil {
		return Resolved{}, err
	}
	if len(versions) == 0 {
		return Resolved{}, fmt.Errorf("model %q: no model named %s in registry %s; %s", uri, ref.Name, r.Root, hint)
	}
	pick, err := r.pickVersion(ref, versions)
	if err != nil {
		return Resolved{}, err
	}
	if pick == nil {
		return Resolved{}, fmt.Errorf("model %q: no such version in registry %s; %s", uri, r.Root, hint)
	}
	if r.remote() {
		loc, err := r.remoteArtifacts(*pick)
		if err != nil {
			return Resolved{}, fmt.Errorf("model %q (version %d): %w", uri, pick.Version, err)
		}
		return Resolved{URI: uri, Dir: loc, Name: ref.Name, Version: pick.Version, Stage: pick.CurrentStage}, nil
	}
	src, err := r.localArtifacts(*pick)
	if err != nil {
		return Resolved{}, fmt.Errorf("model %q (version %d): %w", uri, pick.Version, err)
	}
	dir, err := modelFolder(src, filepath.Join(cacheRoot(r.Cache), "views", hashKey(src)))
	if err != nil {
		return Resolved{}, fmt.Errorf("model %q (version %d): %w", uri, pick.Version, err)
	}
	return Resolved{URI: uri, Dir: dir, Name: ref.Name, Version: pick.Version, Stage: pick.CurrentStage}, nil
}

// resolveFolder accepts a plain model folder, here or on an object store.
func resolveFolder(dir string) (Resolved, error) {
	if lake.IsRemote(dir) {
		if err := checkRemoteFolder(dir); err != nil {
			return Resolved{}, fmt.Errorf("model %s: not a models:/ URI and not a model folder: %w", dir, err)
		}
		return Resolved{URI: dir, Dir: dir}, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return Resolved{}, fmt.Errorf("model %s: not a models:/ URI and not a model folder (no config.json)", dir)
	}
	return Resolved{URI: dir, Dir: dir}, nil
}

// modelRef is a parsed models:/ URI: exactly one of Alias, Stage, Version
// or Latest says which version.
type modelRef struct {
	URI, Name, Alias, Stage string
	Version                 int
	Latest                  bool
}

func parseModelURI(uri string) (modelRef, error) {
	rest := strings.TrimPrefix(uri, "models:/")
	ref := modelRef{URI: uri}
	var selector string
	if n, a, ok := strings.Cut(rest, "@"); ok && !strings.Contains(a, "/") {
		ref.Name, ref.Alias = n, a
	} else if n, s, ok := strings.Cut(rest, "/"); ok {
		ref.Name, selector = n, s
	} else {
		return ref, fmt.Errorf("model URI %q: want models:/NAME/STAGE, models:/NAME/VERSION or models:/NAME@ALIAS", uri)
	}
	if err := checkName(ref.Name); err != nil {
		return ref, fmt.Errorf("model URI %q: %w", uri, err)
	}
	switch {
	case ref.Alias != "":
		if !validAlias.MatchString(ref.Alias) {
			return ref, fmt.Errorf("model URI %q: invalid alias %q", uri, ref.Alias)
		}
	case strings.EqualFold(selector, "latest"):
		ref.Latest = true
	default:
		if v, err := strconv.Atoi(selector); err == nil {
			ref.Version = v
			break
		}
		stage, err := canonicalStage(selector)
		if err != nil {
			return ref, fmt.Errorf("model URI %q: %w", uri, err)
		}
		ref.Stage = stage
	}
	return ref, nil
}

// pickVersion finds the version a reference means in the file store; nil
// when there is none.
func (r Registry) pickVersion(ref modelRef, versions []ModelVersion) (*ModelVersion, error) {
	switch {
	case ref.Alias != "":
		data, err := r.readFile("models", ref.Name, "aliases", ref.Alias)
		if err != nil {
			return nil, fmt.Errorf("model %q: alias %s is not set in registry %s", ref.URI, ref.Alias, r.Root)
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("model %q: alias file holds %q", ref.URI, data)
		}
		return findVersion(versions, v), nil
	case ref.Latest:
		return &versions[len(versions)-1], nil
	case ref.Stage != "":
		var pick *ModelVersion
		for i := range versions { // the latest version in the stage wins
			if versions[i].CurrentStage == ref.Stage {
				pick = &versions[i]
			}
		}
		return pick, nil
	}
	return findVersion(versions, ref.Version), nil
}

// localArtifacts finds a version's artifacts on this machine. Our Register
// copies them into version-N/artifacts, which wins (so a registry folder can
// be moved or mounted elsewhere). MLflow's own client copies nothing: it
// records storage_location (the artifacts of a run, or of a LoggedModel
// under <experiment>/models/m-ID/artifacts) and a source that may be
// models:/m-ID or runs:/RUN/PATH; those are followed in that order, as
// MLflow's get_model_version_download_uri does.
func (r Registry) localArtifacts(mv ModelVersion) (string, error) {
	own := filepath.Join(r.versionDir(mv.Name, mv.Version), "artifacts")
	if isDir(own) {
		return own, nil
	}
	var tried []string
	for _, loc := range []string{mv.StorageLocation, mv.Source} {
		if loc == "" {
			continue
		}
		p, err := r.localPath(loc)
		if err == nil && isDir(p) {
			return p, nil
		}
		tried = append(tried, loc)
	}
	return "", fmt.Errorf("its artifacts are not on this machine (looked at %s)", strings.Join(tried, ", "))
}

// localPath maps an MLflow artifact location to a local path: file:// URIs
// and plain paths, models:/m-ID (a LoggedModel in this store) and
// runs:/RUN/PATH (a run's artifacts in this store).
func (r Registry) localPath(loc string) (string, error) {
	switch {
	case strings.HasPrefix(loc, "models:/m-"):
		return r.loggedModelArtifacts(strings.TrimPrefix(loc, "models:/"))
	case strings.HasPrefix(loc, "runs:/"):
		run, rel, _ := strings.Cut(strings.TrimPrefix(loc, "runs:/"), "/")
		root, err := r.runArtifacts(run)
		if err != nil {
			return "", err
		}
		return filepath.Join(root, filepath.FromSlash(rel)), nil
	}
	return fileURIPath(loc)
}

// fileURIPath turns file:///a/b (percent-encoded, as Python's as_uri
// writes) or a plain path into a path.
func fileURIPath(loc string) (string, error) {
	if !strings.HasPrefix(loc, "file:") {
		if strings.Contains(loc, "://") {
			return "", fmt.Errorf("%s is not a local artifact location", loc)
		}
		return loc, nil
	}
	u, err := url.Parse(loc)
	if err != nil || (u.Host != "" && u.Host != "localhost") {
		return "", fmt.Errorf("%s is not a local file URI", loc)
	}
	return filepath.FromSlash(u.Path), nil
}

// loggedModelArtifacts finds <experiment>/models/<id>/meta.yaml and returns
// its artifact_location.
func (r Registry) loggedModelArtifacts(id string) (string, error) {
	if !validName.MatchString(id) {
		return "", fmt.Errorf("invalid logged model id %q", id)
	}
	metas, _ := filepath.Glob(filepath.Join(r.Root, "*", "models", id, "meta.yaml"))
	if len(metas) == 0 {
		return "", fmt.Errorf("logged model %s is not in %s", id, r.Root)
	}
	var m struct {
		ArtifactLocation string `yaml:"artifact_location"`
	}
	if err := readYAMLFile(metas[0], &m); err != nil {
		return "", err
	}
	return fileURIPath(m.ArtifactLocation)
}

// runArtifacts finds <experiment>/<run>/meta.yaml and returns its artifact_uri.
func (r Registry) runArtifacts(run string) (string, error) {
	if !validName.MatchString(run) {
		return "", fmt.Errorf("invalid run id %q", run)
	}
	metas, _ := filepath.Glob(filepath.Join(r.Root, "*", run, "meta.yaml"))
	if len(metas) == 0 {
		return "", fmt.Errorf("run %s is not in %s", run, r.Root)
	}
	var m RunMeta
	if err := readYAMLFile(metas[0], &m); err != nil {
		return "", err
	}
	return fileURIPath(m.ArtifactURI)
}

func readYAMLFile(p string, v any) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func findVersion(vs []ModelVersion, v int) *ModelVersion {
	for i := range vs {
		if vs[i].Version == v {
			return &vs[i]
		}
	}
	return nil
}

func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// copyDir copies regular files and folders; links and other special files
// are refused rather than followed out of the model folder.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
		return fmt.Errorf("%s: not a regular file", p)
	})
}
