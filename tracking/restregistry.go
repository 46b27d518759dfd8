package tracking

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tweetsentiment/medallion/lake"
)

// RESTRegistry resolves models:/ URIs against an MLflow tracking server's
// model registry (mlflow/protos/model_registry.proto: registered-models/
// get-latest-versions, registered-models/alias, model-versions/get,
// model-versions/get-download-uri) and downloads the version's artifacts
// through the server's artifact proxy (mlflow-artifacts, `mlflow server
// --serve-artifacts`, the default) into Cache/<host>/<name>/version-<N>.
// A complete download is kept and reused: a version's artifacts do not
// change.
type RESTRegistry struct {
	Base  string // http(s)://host:port of the tracking server
	Cache string // default: see cacheRoot
}

// restModelVersion is a ModelVersion message as the REST API returns it.
type restModelVersion struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	CurrentStage string `json:"current_stage"`
	Source       string `json:"source"`
}

// Resolve finds the version the URI names on the server, downloads its
// artifacts (once) and returns a folder inference.Load opens.
func (r RESTRegistry) Resolve(uri string) (Resolved, error) {
	if !strings.HasPrefix(uri, "models:/") {
		return resolveFolder(uri)
	}
	ref, err := parseModelURI(uri)
	if err != nil {
		return Resolved{}, err
	}
	c := newRESTClient(r.Base)
	mv, err := r.findVersion(c, ref)
	if err != nil {
		return Resolved{}, fmt.Errorf("model %q on %s: %w", uri, r.Base, err)
	}
	version, err := strconv.Atoi(mv.Version)
	if err != nil {
		return Resolved{}, fmt.Errorf("model %q on %s: version %q: %w", uri, r.Base, mv.Version, err)
	}
	// Artifacts on an object store are not downloaded here: the version
	// resolves to their location, which workers fetch themselves.
	if loc, err := objectStoreArtifacts(c, ref.Name, version); err != nil {
		return Resolved{}, fmt.Errorf("model %q (version %d) on %s: %w", uri, version, r.Base, err)
	} else if loc != "" {
		return Resolved{URI: uri, Dir: loc, Name: ref.Name, Version: version, Stage: mv.CurrentStage}, nil
	}
	dir, err := r.download(c, ref.Name, version)
	if err != nil {
		return Resolved{}, fmt.Errorf("model %q (version %d) on %s: %w", uri, version, r.Base, err)
	}
	return Resolved{URI: uri, Dir: dir, Name: ref.Name, Version: version, Stage: mv.CurrentStage}, nil
}

// findVersion asks the server which version a reference means.
func (r RESTRegistry) findVersion(c restClient, ref modelRef) (restModelVersion, error) {
	q := url.Values{"name": {ref.Name}}
	switch {
	case ref.Alias != "":
		q.Set("alias", ref.Alias)
		return getModelVersion(c, "registered-models/alias?"+q.Encode())
	case ref.Version > 0:
		q.Set("version", strconv.Itoa(ref.Version))
		return getModelVersion(c, "model-versions/get?"+q.Encode())
	}
	if ref.Stage != "" {
		q.Set("stages", ref.Stage)
	}
	var got struct {
		ModelVersions []restModelVersion `json:"model_versions"`
	}
	if err := c.call("GET", "registered-models/get-latest-versions?"+q.Encode(), nil, &got); err != nil {
		return restModelVersion{}, err
	}
	if len(got.ModelVersions) == 0 {
		return restModelVersion{}, fmt.Errorf("no version in stage %s", ref.Stage)
	}
	// Without a stage the server returns the latest version of each stage:
	// the highest of them is the latest version.
	sort.Slice(got.ModelVersions, func(i, j int) bool {
		a, _ := strconv.Atoi(got.ModelVersions[i].Version)
		b, _ := strconv.Atoi(got.ModelVersions[j].Version)
		return a > b
	})
	return got.ModelVersions[0], nil
}

func getModelVersion(c restClient, endpoint string) (restModelVersion, error) {
	var got struct {
		ModelVersion restModelVersion `json:"model_version"`
	}
	if err := c.call("GET", endpoint, nil, &got); err != nil {
		return restModelVersion{}, err
	}
	return got.ModelVersion, nil
}

// objectStoreArtifacts returns the version's artifact location when the
// server reports one on an object store (an s3:// or gs:// artifact root
// without the artifact proxy), checked to be a Hugging Face ONNX export
// folder; "" when the artifacts are elsewhere.
func objectStoreArtifacts(c restClient, name string, version int) (string, error) {
	q := url.Values{"name": {name}, "version": {strconv.Itoa(version)}}
	var got struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	if err := c.call("GET", "model-versions/get-download-uri?"+q.Encode(), nil, &got); err != nil {
		return "", err
	}
	if !lake.IsRemote(got.ArtifactURI) {
		return "", nil
	}
	loc := strings.TrimRight(got.ArtifactURI, "/")
	if err := checkRemoteFolder(loc); err != nil {
		return "", err
	}
	return loc, nil
}

// manifestName records a complete download: artifact path → size.
const manifestName = "manifest.json"

// download mirrors a version's artifacts into the cache, unless a complete
// copy is already there, and returns its Hugging Face layout folder.
func (r RESTRegistry) download(c restClient, name string, version int) (string, error) {
	u, err := url.Parse(c.base)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(cacheRoot(r.Cache), strings.NewReplacer(":", "_", "/", "_").Replace(u.Host), name, fmt.Sprintf("version-%d", version))
	if !completeDownload(dst) {
		if err := r.fetchVersion(c, name, version, dst); err != nil {
			return "", err
		}
	}
	return modelFolder(filepath.Join(dst, "artifacts"), filepath.Join(dst, "model"))
}

// fetchVersion downloads into a temporary folder next to dst and renames it
// into place once every file is there with the size the server listed.
func (r RESTRegistry) fetchVersion(c restClient, name string, version int, dst string) error {
	q := url.Values{"name": {name}, "version": {strconv.Itoa(version)}}
	var got struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	if err := c.call("GET", "model-versions/get-download-uri?"+q.Encode(), nil, &got); err != nil {
		return err
	}
	root, err := proxyPath(got.ArtifactURI)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sizes := map[string]int64{}
	if err := c.downloadTree(root, "", filepath.Join(tmp, "artifacts"), sizes); err != nil {
		return err
	}
	if len(sizes) == 0 {
		return fmt.Errorf("%s holds no artifacts", got.ArtifactURI)
	}
	manifest, err := json.MarshalIndent(sizes, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestName), manifest, 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil { // an incomplete earlier attempt
		return err
	}
	if err := os.Rename(tmp, dst); err != nil && !completeDownload(dst) {
		return fmt.Errorf("move the download into the cache: %w", err)
	}
	return nil
}

// proxyPath turns mlflow-artifacts:/P or mlflow-artifacts://host/P into P,
// the path under /api/2.0/mlflow-artifacts/artifacts.
func proxyPath(artifactURI string) (string, error) {
	u, err := url.Parse(artifactURI)
	if err != nil || u.Scheme != "mlflow-artifacts" {
		return "", fmt.Errorf("artifacts at %q are not served through the server's artifact proxy (run mlflow server with --serve-artifacts and an --artifacts-destination)", artifactURI)
	}
	return strings.Trim(u.Path, "/"), nil
}

// completeDownload checks that every file the manifest lists is in the
// cache with its size.
func completeDownload(dst string) bool {
	data, err := os.ReadFile(filepath.Join(dst, manifestName))
	if err != nil {
		return false
	}
	var sizes map[string]int64
	if json.Unmarshal(data, &sizes) != nil || len(sizes) == 0 {
		return false
	}
	for rel, size := range sizes {
		st, err := os.Stat(filepath.Join(dst, "artifacts", filepath.FromSlash(rel)))
		if err != nil || st.Size() != size {
			return false
		}
	}
	return true
}

// artifactEntry is one FileInfo of the artifact proxy's listing.
type artifactEntry struct {
	Path     string      `json:"path"`
	IsDir    bool        `json:"is_dir"`
	FileSize json.Number `json:"file_size"`
}

// downloadTree lists root/rel with GET /api/2.0/mlflow-artifacts/artifacts?path=
// and downloads every file below it into local, recording sizes.
func (c restClient) downloadTree(root, rel, local string, sizes map[string]int64) error {
	var list struct {
		Files []artifactEntry `json:"files"`
	}
	if err := c.callArtifacts("artifacts?path="+url.QueryEscape(path.Join(root, rel)), &list); err != nil {
		return err
	}
	for _, f := range list.Files {
		name := path.Base(f.Path)
		if name == "." || name == ".." || name == "/" {
			return fmt.Errorf("artifact listing of %s names %q", path.Join(root, rel), f.Path)
		}
		child := path.Join(rel, name)
		if f.IsDir {
			if err := c.downloadTree(root, child, local, sizes); err != nil {
				return err
			}
			continue
		}
		size, err := f.FileSize.Int64()
		if err != nil {
			return fmt.Errorf("artifact %s: size %q: %w", child, f.FileSize, err)
		}
		if err := c.downloadFile(path.Join(root, child), filepath.Join(local, filepath.FromSlash(child)), size); err != nil {
			return err
		}
		sizes[child] = size
	}
	return nil
}

// callArtifacts GETs /api/2.0/mlflow-artifacts/<endpoint> and decodes JSON.
func (c restClient) callArtifacts(endpoint string, out any) error {
	req, err := c.newRequest("GET", c.base+"/api/2.0/mlflow-artifacts/"+endpoint, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("MLflow server %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("MLflow server %s: list %s: %s: %s", c.base, endpoint, resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("MLflow server %s: list %s: %w", c.base, endpoint, err)
	}
	return nil
}

// downloadFile GETs one artifact through the proxy and checks its size.
func (c restClient) downloadFile(remote, local string, size int64) error {
	req, err := c.newRequest("GET", c.base+"/api/2.0/mlflow-artifacts/artifacts/"+escapePath(remote), nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("MLflow server %s: download %s: %w", c.base, remote, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("MLflow server %s: download %s: %s: %s", c.base, remote, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	f, err := os.Create(local)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", remote, err)
	}
	if n != size {
		return fmt.Errorf("download %s: got %d bytes, the server listed %d", remote, n, size)
	}
	return nil
}
