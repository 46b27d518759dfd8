//go:build integration

package tracking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// mlflowServer is a real `mlflow server` (the oracle venv's MLflow) on a free
// loopback port, in its own process group, stopped when the test ends.
type mlflowServer struct {
	Base string
	cmd  *exec.Cmd
	log  bytes.Buffer
	// done is closed when the server's process has exited, err then
	// holds how: closed rather than sent, so that both the health wait
	// and stop see it (a server that died at start is waited for once).
	done chan struct{}
	err  error
}

// startMLflowServer starts `mlflow server ARGS --host 127.0.0.1 --port FREE`
// and waits for /health.
func startMLflowServer(t *testing.T, args ...string) *mlflowServer {
	t.Helper()
	bin := filepath.Join(filepath.Dir(oracle.Python(t)), "mlflow")
	port := freePort(t)
	s := &mlflowServer{Base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	args = append([]string{"server"}, append(args, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--workers", "1")...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = t.TempDir()
	s.cmd.Env = append(os.Environ(), oracleEnv...)
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start mlflow server: %v", err)
	}
	s.done = make(chan struct{})
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	if err := s.waitHealthy(120 * time.Second); err != nil {
		t.Fatalf("mlflow server %s: %v\n%s", s.Base, err, s.log.String())
	}
	return s
}

// oracleEnv lets MLflow read a file store, keeps it off the network and
// leaves out the server's job runner (GenAI jobs; it starts a dozen
// huey consumers), which none of these tests use.
var oracleEnv = []string{"MLFLOW_ALLOW_FILE_STORE=true", "MLFLOW_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=true",
	"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false"}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *mlflowServer) waitHealthy(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("exited before it was healthy: %v", s.err)
		case <-time.After(300 * time.Millisecond):
		}
		resp, err := http.Get(s.Base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("not healthy in time")
}

// stop ends the server's whole process group (uvicorn and its workers):
// SIGTERM, then SIGKILL if it lingers.
func (s *mlflowServer) stop() {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // workers the leader left behind
}

// get calls GET /api/2.0/mlflow/ENDPOINT?QUERY on the server and decodes JSON.
func (s *mlflowServer) get(t *testing.T, endpoint string, query url.Values, out any) {
	t.Helper()
	resp, err := http.Get(s.Base + "/api/2.0/mlflow/" + endpoint + "?" + query.Encode())
	if err != nil {
		t.Fatalf("GET %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s?%s: %s: %s", endpoint, query.Encode(), resp.Status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("GET %s: %v: %s", endpoint, err, data)
	}
}
