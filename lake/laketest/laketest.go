// Package laketest starts object stores for tests on loopback: a real
// S3-compatible server (versitygw, built by scripts/setup-test.sh into
// .cache/bin) and an in-process GCS emulator (fake-gcs-server).
package laketest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Credentials of the test S3 server's single account.
const (
	AccessKey = "laketest-access"
	SecretKey = "laketest-secret-key"
	Region    = "us-east-1"
)

// S3Server is a versitygw process serving a temporary directory over S3.
// Its posix backend stores object a/b in bucket B as the file Root/B/a/b, so
// a test can read what the S3 client wrote with an independent reader.
type S3Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Root     string
	Client   *s3.Client
}

// VersityGW finds the versitygw binary: $VERSITYGW, else the repository's
// .cache/bin. Outside CI a missing binary skips the test loudly; in CI
// (CI=true) it fails, because scripts/setup-test.sh must have built it.
func VersityGW(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", ".cache", "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		msg := "SKIPPING S3 TEST: versitygw not found at " + p + " (run scripts/setup-test.sh, or set VERSITYGW)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// StartS3 starts versitygw on a free loopback port and stops it when the
// test ends.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := VersityGW(t)
	root := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", addr, "--quiet", "posix", root)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	srv := &S3Server{Endpoint: "http://" + addr, Root: root}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(srv.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not come up on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Client = s3.New(s3.Options{
		BaseEndpoint:               aws.String(srv.Endpoint),
		Region:                     Region,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	return srv
}

// Bucket creates a bucket and returns its name.
func (s *S3Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	if _, err := s.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Env sets the standard AWS variables so that code which makes its own
// client from the environment (lake.DefaultS3Client) reaches this server.
func (s *S3Server) Env(t testing.TB) {
	t.Setenv("AWS_ENDPOINT_URL_S3", s.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// GCSServer is an in-process GCS emulator on loopback.
type GCSServer struct {
	Client *storage.Client
	Host   string // 127.0.0.1:PORT
}

// StartGCS starts a GCS emulator with the buckets given.
func StartGCS(t testing.TB, buckets ...string) *GCSServer {
	t.Helper()
	// The emulator serves reads made through STORAGE_EMULATOR_HOST (the XML
	// API) only for its public host, so that must name its real address.
	port := freePort(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: uint16(port),
		PublicHost: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		t.Fatalf("start gcs emulator: %v", err)
	}
	t.Cleanup(srv.Stop)
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := storage.NewClient(context.Background(), option.WithEndpoint("http://"+host+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &GCSServer{Client: c, Host: host}
}

// Env points clients made from the environment (STORAGE_EMULATOR_HOST) at
// this emulator.
func (g *GCSServer) Env(t testing.TB) { t.Setenv("STORAGE_EMULATOR_HOST", g.Host) }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
