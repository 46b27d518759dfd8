package transforms

import (
	"fmt"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// WorkerNamespace holds one counter per worker process and kind of work
// ("files@HOST/PID", "texts@HOST/PID"): on a runner with several workers,
// they show which processes read files and which ran the model.
const WorkerNamespace = "workers"

// workerID names this process: its host and process id.
var workerID = func() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}()

// workerCounter counts one kind of work done by this worker process.
func workerCounter(kind string) beam.Counter {
	return beam.NewCounter(WorkerNamespace, kind+"@"+workerID)
}

// ParseWorkerCounter splits a WorkerNamespace counter's name into the kind
// of work ("files", "texts") and the worker process that did it.
func ParseWorkerCounter(name string) (kind, worker string, ok bool) {
	return strings.Cut(name, "@")
}
