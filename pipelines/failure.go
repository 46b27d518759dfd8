package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/tweetsentiment/medallion/transforms"
)

// Failure is a failed run told the way a user needs it: one line saying
// what failed where, one saying what to do next. The runner's own error
// (prism's: the bundle's whole execution plan, with the DoFn's error at the
// very end) stays inside, for a verbose report and errors.Is/As.
//
// Msg and Hint name the settings they are about as {Setting}, Setting a
// field of Config, Env or StreamOptions: Error renders them with the
// field's name, and a command renders them with its own names for them
// (Render), its flags, say.
type Failure struct {
	Msg  string // one line: the root cause, with the file, table or model
	Hint string // one line: what to do next
	Err  error  // the full error
}

func (f *Failure) Error() string { return Render(f.Msg, nil) }
func (f *Failure) Unwrap() error { return f.Err }

// settingRef is a {Setting} in a Failure's text.
var settingRef = regexp.MustCompile(`\{([A-Z][A-Za-z]*)\}`)

// Render fills the {Setting} references in s with name(Setting); with a
// nil name, with the setting's own name.
func Render(s string, name func(setting string) string) string {
	return settingRef.ReplaceAllStringFunc(s, func(ref string) string {
		if name == nil {
			return ref[1 : len(ref)-1]
		}
		return name(ref[1 : len(ref)-1])
	})
}

// failedHeader is the line Beam puts before a DoFn's error, or before a
// job's error as the job server reported it.
var failedHeader = regexp.MustCompile(`^(DoFn\[.*\]|job \S+) failed:$`)

// RootCause digs the error a DoFn returned out of a runner's error: Beam Go
// workers report "… while executing Process for Plan[…]: <the plan, one step
// a line> caused by: DoFn[…] failed: <the error>", and prism wraps that
// again. Without a "caused by", it is the error's first line that is not
// such a header ("job … failed:", then what the job server said).
func RootCause(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "caused by:"); i >= 0 {
		s = s[i+len("caused by:"):]
	}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || failedHeader.MatchString(line) {
			continue
		}
		return line
	}
	return strings.TrimSpace(s)
}

// Hints, by what the root cause says. A batch that failed is redone whole
// by the next run, so each ends in "rerun".
const (
	hintRerun    = "rerun to finish the batch: only committed table versions are visible, and a rerun redoes the batch without adding anything twice ({Verbose} shows the runner's logs)"
	hintSpace    = "free space where the lake is (or move it), then rerun: an unfinished batch is redone, and nothing committed is lost"
	hintReadOnly = "make the lake writable by this user, then rerun: an unfinished batch is redone, and nothing committed is lost"
	hintRuntime  = "install ONNX Runtime where the workers run (scripts/setup.sh, or ORT_LIB in their environment), then rerun: an unfinished batch is redone, and nothing committed is lost"
	hintLost     = "start the cluster's master again (or point {Endpoint} at a job server whose cluster runs), then rerun: the batch is redone, and nothing is committed twice"
	hintModel    = "restore the model folder or the registry (or choose another with {Model} and {Registry}), then rerun: an unfinished batch is redone, and nothing committed is lost"
)

// batchFailure turns a batch's runner error into a Failure.
func batchFailure(batch int64, err error) *Failure {
	cause := RootCause(err)
	if errors.Is(err, context.Canceled) {
		cause = "interrupted"
	}
	hint := HintFor(cause)
	if hint == "" {
		hint = hintRerun
	}
	if strings.Contains(cause, "java.net.ConnectException") {
		// The job server reached its cluster's master (Flink's JobManager,
		// a Spark Master) and now cannot: without high availability the
		// job went with it.
		cause, hint = "the runner lost the job: the job server cannot reach its cluster ("+cause+")", hintLost
	}
	return &Failure{Msg: fmt.Sprintf("batch %d failed: %s", batch, cause), Hint: hint, Err: err}
}

// HintFor is what to do about a root cause that names a known fault
// ("" when it names none).
func HintFor(cause string) string {
	lc := strings.ToLower(cause)
	switch {
	case strings.Contains(lc, "no space left on device") || strings.Contains(lc, "disk quota exceeded"):
		return hintSpace
	case strings.Contains(lc, "read-only file system") || strings.Contains(lc, "permission denied"):
		return hintReadOnly
	case strings.Contains(lc, "onnx runtime is not available"):
		return hintRuntime
	case strings.Contains(lc, "onnx") || strings.Contains(lc, "model") || strings.Contains(lc, "registry"):
		return hintModel
	}
	return ""
}

// stuckFailure is a redo that cannot go on by itself: a planned file
// vanished or changed, and some tables already committed the batch from
// what the file held when planned.
func stuckFailure(c Config, plan *Plan, held []string, path string, fault *transforms.FileFault) *Failure {
	var lacking []string
	for _, t := range transforms.TableNames() {
		if !slices.Contains(held, t) {
			lacking = append(lacking, t)
		}
	}
	what := "vanished"
	if fault.Category == transforms.ReasonChanged {
		what = "changed after planning (" + fault.Detail + ")"
	}
	return &Failure{
		Msg: fmt.Sprintf("batch %d: planned file %s %s after %s committed the batch from it (%s lack the batch and cannot be finished without the file)",
			plan.Batch, path, what, strings.Join(held, ", "), strings.Join(lacking, ", ")),
		Hint: fmt.Sprintf("put the file back as it was and rerun to finish the batch exactly, or run `medallion abandon --lake %s --batch %d` to close it in the other tables (nothing committed is lost)",
			c.Lake, plan.Batch),
		Err: fault,
	}
}

// QuietLogs sends prism's and Beam's logs (slog, Beam's log package, Go's
// log) nowhere, or to w at info level when verbose: a failed run prints its
// root cause in one line, not 10 KB of bundle plans at ERROR level.
func QuietLogs(w io.Writer, verbose bool) {
	if verbose {
		slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})))
		beamlog.SetLogger(slogLogger{})
		stdlog.SetOutput(w)
		return
	}
	slog.SetDefault(slog.New(ownWarnings{slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})}))
	beamlog.SetLogger(slogLogger{})
	stdlog.SetOutput(io.Discard)
}

// ownModule prefixes the functions of this module's library packages.
const ownModule = "github.com/tweetsentiment/medallion/"

// ownWarnings passes on the warnings this module's packages log (a Delta
// checkpoint that failed while its commit stands, say) and drops every
// record logged elsewhere: prism logs a failed bundle's whole plan at ERROR
// level, several times, and its root cause reaches the user as the run's
// error anyway.
type ownWarnings struct{ slog.Handler }

func (h ownWarnings) Handle(ctx context.Context, r slog.Record) error {
	if r.PC == 0 {
		return nil
	}
	fn, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
	// This module's packages only, less the bridge from Beam's log package
	// (slogLogger), whose records are Beam's.
	if !strings.HasPrefix(fn.Function, ownModule) || strings.HasPrefix(fn.Function, ownModule+"pipelines.slogLogger.") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h ownWarnings) WithAttrs(as []slog.Attr) slog.Handler {
	return ownWarnings{h.Handler.WithAttrs(as)}
}
func (h ownWarnings) WithGroup(n string) slog.Handler { return ownWarnings{h.Handler.WithGroup(n)} }

// slogLogger routes Beam's log package through slog.Default, so one switch
// (QuietLogs) governs both.
type slogLogger struct{}

func (slogLogger) Log(ctx context.Context, sev beamlog.Severity, _ int, msg string) {
	level := slog.LevelInfo
	switch sev {
	case beamlog.SevDebug:
		level = slog.LevelDebug
	case beamlog.SevWarn:
		level = slog.LevelWarn
	case beamlog.SevError, beamlog.SevFatal:
		level = slog.LevelError
	}
	slog.Default().Log(ctx, level, msg)
}
