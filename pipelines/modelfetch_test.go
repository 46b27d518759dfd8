//go:build integration

package pipelines

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/inference"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/laketest"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// With workers that may run on other machines, Validate refuses at once a
// lake, input or model on a local path (naming the flag and what to do),
// unless the paths are declared shared; with everything on S3 it resolves
// the model to its s3:// location and content digest, which gold's workers
// get, without loading it (no ONNX Runtime needed on the driver). Wiring
// test of our own checks; the S3 server is versitygw.
func TestValidateWorkersElsewhere(t *testing.T) {
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "medallion")
	t.Setenv(inference.CacheEnv, t.TempDir())
	model := "s3://" + bucket + "/models/demo"
	if err := lake.CopyDir(context.Background(), demoModel, model); err != nil {
		t.Fatal(err)
	}
	broken := "s3://" + bucket + "/models/no-onnx"
	if data, err := os.ReadFile(filepath.Join(demoModel, "config.json")); err != nil || lake.WriteFile(context.Background(), broken+"/config.json", data) != nil {
		t.Fatal("upload config.json")
	}
	registry := t.TempDir()
	if _, err := (tracking.Registry{Root: registry}).Register("tweet-sentiment", demoModel, "Production", ""); err != nil {
		t.Fatal(err)
	}
	digest, err := inference.LocalDigest(demoModel)
	if err != nil {
		t.Fatal(err)
	}
	localLake, localIn := t.TempDir(), t.TempDir()
	wd, _ := os.Getwd()
	relLake, _ := filepath.Rel(wd, localLake)
	relIn, _ := filepath.Rel(wd, localIn)
	s3Lake, s3In := "s3://"+bucket+"/lake", "s3://"+bucket+"/raw"

	cases := []struct {
		name             string
		lake, input, mdl string
		registry         string
		fromTable        string
		shared           bool
		want             string // "" for valid; else what the error names
	}{
		{"local lake", localLake, s3In, model, "", "", false, "Lake " + localLake + " is a local path"},
		{"local input", s3Lake, localIn, model, "", "", false, "Input " + localIn + " is a local path"},
		{"local model folder", s3Lake, s3In, demoModel, "", "", false, "Model " + demoModel + " is the local folder"},
		{"model in a local registry", s3Lake, s3In, "models:/tweet-sentiment/Production", registry, "", false, "is the local folder"},
		{"remote folder without a model file", s3Lake, s3In, broken, "", "", false, "not a model folder"},
		{"everything on S3", s3Lake, s3In, model, "", "", false, ""},
		{"from a table: no input needed", s3Lake, "", model, "", transforms.SilverTable.Name, false, ""},
		{"local paths declared shared", localLake, localIn, demoModel, "", "", true, ""},
		{"relative local paths declared shared", relLake, relIn, demoModel, "", "", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Input: c.input, Lake: c.lake, Codec: "zstd", Model: c.mdl, Registry: c.registry, FromTable: c.fromTable,
				SharedPaths: c.shared, Monitoring: t.TempDir(), Env: Env{Runner: "universal", EnvironmentType: "PROCESS"}}
			err := cfg.Open(context.Background())
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Validate: %v; want an error saying %q", err, c.want)
				}
				if f, ok := err.(*Failure); ok && !strings.Contains(f.Hint, "{SharedPaths}") {
					t.Errorf("hint %q does not name SharedPaths", f.Hint)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for flag, p := range map[string]string{"--lake": cfg.Lake, "--input": cfg.Input} {
				if p != "" && !lake.IsRemote(p) && !filepath.IsAbs(p) {
					t.Errorf("%s %s is sent to the workers relative: they resolve it in their own folder", flag, p)
				}
			}
			ic := cfg.inferenceConfig(cfg.model.Dir)
			if lake.IsRemote(c.mdl) {
				if ic.ModelLocation != c.mdl || ic.ModelDigest != digest || ic.ModelDir != "" {
					t.Errorf("gold gets %+v; want location %s, digest %s", ic, c.mdl, digest)
				}
			} else if abs, _ := filepath.Abs(c.mdl); ic.ModelDir != abs || ic.ModelLocation != "" {
				t.Errorf("gold gets %+v; want the folder %s", ic, abs)
			}
		})
	}

	// LOOPBACK runs the workers in this process: local paths are fine.
	t.Run("LOOPBACK", func(t *testing.T) {
		needRuntime(t)
		cfg := Config{Input: localIn, Lake: localLake, Codec: "zstd", Model: demoModel, Monitoring: t.TempDir(), Env: Env{Runner: "universal", EnvironmentType: "LOOPBACK"}}
		if err := cfg.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// A batch run with the raw files, the lake and the model registry all on S3
// (versitygw) - the model registered with Register, the registry copied to
// S3, resolved from models:/ there and fetched into the digest-keyed cache -
// gives the same five tables as a run on local paths with the local model
// folder. Wiring test end to end, in process (prism).
func TestModelOnS3EndToEnd(t *testing.T) {
	needRuntime(t)
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "medallion")
	cache := t.TempDir()
	t.Setenv(inference.CacheEnv, cache)
	ctx := context.Background()
	in := t.TempDir()
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 300, PerFile: 10, Format: "ndjson", Seed: 71, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(context.Background(), in, "s3://"+bucket+"/raw"); err != nil {
		t.Fatal(err)
	}
	registry := t.TempDir()
	if _, err := (tracking.Registry{Root: registry}).Register("tweet-sentiment", demoModel, "Production", "champion"); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(context.Background(), registry, "s3://"+bucket+"/mlruns"); err != nil {
		t.Fatal(err)
	}

	local := Config{Input: in, Lake: t.TempDir(), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}
	if _, err := Run(ctx, local, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	remote := local
	remote.Input, remote.Lake = "s3://"+bucket+"/raw", "s3://"+bucket+"/lake"
	remote.Model, remote.Registry = "models:/tweet-sentiment/Production", "s3://"+bucket+"/mlruns"
	sum, err := Run(ctx, remote, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Check(); err != nil {
		t.Error(err)
	}
	for _, name := range transforms.TableNames() {
		a := tableMultiset(t, filepath.Join(local.Lake, name))
		b := tableMultiset(t, lake.Join(remote.Lake, name))
		for i := range b {
			b[i] = strings.ReplaceAll(b[i], "s3://"+bucket+"/raw/", in+"/")
		}
		sort.Strings(b)
		if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 && name != transforms.QuarantineTable.Name {
			t.Errorf("%s: %d rows with local paths, %d with everything on S3", name, len(a), len(b))
		}
	}
	// The model came from S3 into the cache, once, under its digest.
	digest, _ := inference.LocalDigest(demoModel)
	entries, _ := os.ReadDir(cache)
	var folders []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			folders = append(folders, e.Name())
		}
	}
	if len(folders) != 1 || folders[0] != digest {
		t.Errorf("model cache holds %v, want one folder %s", folders, digest)
	}
}

// Workers that share nothing with the driver but the object store: the job
// server starts each SDK worker as a process of its own (PROCESS, as Flink's
// and Spark's task managers do), with a model cache of their own; input,
// lake and registry are on S3 (versitygw). The driver cannot load ONNX
// Runtime (ORT_LIB names no library) and needs none; the workers fetch the
// model from S3 into their cache under its digest; the tables equal an
// in-process run's with the local model. Wiring test end to end.
func TestProcessWorkersShareNothing(t *testing.T) {
	needRuntime(t)
	boot, _ := filepath.Abs("../.cache/bin/beam-boot")
	needTool(t, "Beam's Go boot program", boot)
	script, _ := filepath.Abs("../scripts/process-worker.sh")
	srv := laketest.StartS3(t)
	srv.Env(t)
	bucket := srv.Bucket(t, "medallion")
	workerCache := t.TempDir()
	t.Setenv(inference.CacheEnv, workerCache) // the job server's, so its workers'
	t.Setenv("BEAM_BOOT", boot)
	endpoint, logs := startJobServerLogged(t)
	bin := medallionBin(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "raw")
	if _, err := gen.Generate(gen.Options{Out: in, Tweets: 300, PerFile: 10, Format: "ndjson", Seed: 72, Bad: 0.03}); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(context.Background(), in, "s3://"+bucket+"/raw"); err != nil {
		t.Fatal(err)
	}
	registry := filepath.Join(dir, "mlruns")
	if _, err := (tracking.Registry{Root: registry}).Register("tweet-sentiment", demoModel, "Production", ""); err != nil {
		t.Fatal(err)
	}
	if err := lake.CopyDir(context.Background(), registry, "s3://"+bucket+"/mlruns"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	local := filepath.Join(dir, "local")
	if _, err := Run(ctx, Config{Input: in, Lake: local, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1, Monitoring: t.TempDir()}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	remote := "s3://" + bucket + "/lake"
	run := exec.CommandContext(rctx, bin, "run", "--input", "s3://"+bucket+"/raw", "--lake", remote, "--registry", "s3://"+bucket+"/mlruns",
		"--model", "models:/tweet-sentiment/Production", "--shards", "2", "--inference-threads", "1", "--monitoring", t.TempDir(),
		"--runner=universal", "--endpoint="+endpoint, "--environment_type=PROCESS",
		`--environment_config={"command":"`+script+`"}`, "--worker_binary="+bin)
	run.Dir = dir
	driverCache := t.TempDir()
	run.Env = append(os.Environ(), "ORT_LIB="+filepath.Join(dir, "no-such-libonnxruntime.so"), inference.CacheEnv+"="+driverCache)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("medallion with PROCESS workers and everything on S3: %v\n%s\njob server:\n%s", err, out, logs.String())
	}
	for _, name := range transforms.TableNames() {
		a := tableMultiset(t, filepath.Join(local, name))
		b := tableMultiset(t, lake.Join(remote, name))
		for i := range b {
			b[i] = strings.ReplaceAll(b[i], "s3://"+bucket+"/raw/", in+"/")
		}
		sort.Strings(b)
		if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) == 0 && name != transforms.QuarantineTable.Name {
			t.Errorf("%s: %d rows in process, %d from worker processes sharing nothing", name, len(a), len(b))
		}
	}
	digest, _ := inference.LocalDigest(demoModel)
	for who, cache := range map[string]string{"workers'": workerCache, "driver's": driverCache} {
		if got, err := inference.LocalDigest(filepath.Join(cache, digest)); err != nil || got != digest {
			t.Errorf("the %s cache has no verified copy of the model: %v", who, err)
		}
	}
}
