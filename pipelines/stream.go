package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// StreamOptions configure --mode stream.
type StreamOptions struct {
	Trigger     time.Duration // how often new files are committed
	IdleTimeout time.Duration // stop after this long without a new file (0: never)
	Monitor     time.Duration // how often the metrics are printed
	// MicroBatch runs a batch job per trigger instead of one streaming job
	// (--micro-batch): for --stages that do not start from the raw files,
	// and for runners without streaming (--runner=direct).
	MicroBatch bool
	// JobRunner runs the streaming job (nil: the batch jobs' runner): on a
	// Java job server, with StreamJobOptions. The batches a killed run
	// left unfinished run as batch jobs, with the other runner.
	JobRunner Runner
}

// Control files under LAKE/_control: a stop request any process (or
// machine) sharing the lake can make, and the running stream's heartbeat.
const (
	controlDir    = "_control"
	stopFile      = "stop"
	heartbeatFile = "stream.json"
)

// Heartbeat is what --status reads.
type Heartbeat struct {
	State     string           `json:"state"` // running or stopped
	PID       int              `json:"pid"`
	Host      string           `json:"host"`
	Input     string           `json:"input"`
	Started   time.Time        `json:"started"`
	Updated   time.Time        `json:"updated"`
	Trigger   string           `json:"trigger"`
	Batches   int              `json:"batches"`
	LastBatch int64            `json:"last_batch"`
	Totals    map[string]int64 `json:"totals"`
	Reason    string           `json:"reason,omitempty"` // why it stopped
	// JobServer: the run's streaming job runs on a job server, where it
	// outlives a killed run until its source sees the run gone.
	JobServer bool `json:"job_server,omitempty"`
}

// The control files live in the lake's own storage, so --stop and --status
// reach a stream from any machine that can reach the lake.

// putControl replaces a control file whole: readers never see half of one.
func putControl(lakeDir, name string, data []byte) error {
	w, err := lake.StorageFor(lakeDir).Create(context.Background(), controlDir+"/"+name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func readControl(lakeDir, name string) ([]byte, error) {
	return lake.StorageFor(lakeDir).ReadFile(context.Background(), controlDir+"/"+name)
}

func clearStop(lakeDir string) {
	lake.StorageFor(lakeDir).Remove(context.Background(), controlDir+"/"+stopFile)
}

// driver names the run that writes the heartbeat.
func (hb Heartbeat) driver() string {
	return fmt.Sprintf("%s/%d/%s", hb.Host, hb.PID, hb.Started.Format(time.RFC3339Nano))
}

// silent reports whether a running stream's heartbeat is older than its
// writer would let it get: the run was killed, or its machine lost.
func (hb Heartbeat) silent(now time.Time) bool {
	trigger, _ := time.ParseDuration(hb.Trigger)
	return hb.State == "running" && now.Sub(hb.Updated) > 3*trigger+30*time.Second
}

// driverGone reports whether the run named driver no longer drives the
// stream on the lake: its heartbeat fell silent, says it stopped, or is
// another run's. A heartbeat that cannot be read is not taken as gone.
func driverGone(lakeDir, driver string) bool {
	hb, err := readHeartbeat(lakeDir)
	if err != nil {
		return false
	}
	return hb.driver() != driver || hb.State != "running" || hb.silent(time.Now())
}

func readHeartbeat(lakeDir string) (*Heartbeat, error) {
	data, err := readControl(lakeDir, heartbeatFile)
	if err != nil {
		return nil, err
	}
	var hb Heartbeat
	if err := json.Unmarshal(data, &hb); err != nil {
		return nil, fmt.Errorf("%s: %w", heartbeatFile, err)
	}
	return &hb, nil
}

func writeHeartbeat(lakeDir string, hb *Heartbeat) error {
	hb.Updated = time.Now().UTC()
	data, _ := json.MarshalIndent(hb, "", "  ")
	return putControl(lakeDir, heartbeatFile, data)
}

// RequestStop asks the stream running on the lake to stop after its
// current batch.
func RequestStop(lakeDir string) error {
	return putControl(lakeDir, stopFile, []byte(time.Now().UTC().Format(time.RFC3339)))
}

func stopRequested(lakeDir string) bool {
	_, err := readControl(lakeDir, stopFile)
	return err == nil
}

// Stream watches the input and commits what arrived every trigger, until the
// idle timeout, ctx (SIGINT/SIGTERM) or a stop request; the batch in flight
// is always finished first. It runs one streaming Beam job (see BuildStream),
// or with o.MicroBatch a batch job per trigger.
func Stream(ctx context.Context, c Config, run Runner, o StreamOptions, out io.Writer) (totals map[string]int64, reason string, err error) {
	if err := c.Validate(); err != nil {
		return nil, "", err
	}
	if o.Trigger <= 0 {
		o.Trigger = 10 * time.Second
	}
	if o.Monitor <= 0 {
		o.Monitor = 10 * time.Second
	}
	if !o.MicroBatch {
		if err := c.canStreamJob(); err != nil {
			return nil, "", err
		}
	}
	if stopRequested(c.Lake) { // meant for an earlier run
		clearStop(c.Lake)
	}
	mon, err := newMonitor(c.Monitoring, out)
	if err != nil {
		return nil, "", err
	}
	from := c.Input
	if c.stages.First > transforms.RawBronze {
		from = fmt.Sprintf("the %s table's new commits (--stages %s)", c.stages.source(), c.stages)
	}
	host, _ := os.Hostname()
	prev, _ := readHeartbeat(c.Lake)
	r := &streamRun{c: c, o: o, mon: mon, out: out,
		hb: Heartbeat{State: "running", PID: os.Getpid(), Host: host, Input: from, Started: time.Now().UTC(), Trigger: o.Trigger.String(), LastBatch: -1,
			JobServer: !o.MicroBatch && c.Env.onJobServer()}}
	if err := writeHeartbeat(c.Lake, &r.hb); err != nil {
		return nil, "", err
	}
	if prev != nil && prev.State == "running" && prev.JobServer {
		// A killed run's job may still plan on its job server until its
		// source reads this run's heartbeat (it looks once a second): what
		// it planned by then this run finishes, instead of racing it.
		fmt.Fprintf(out, "the previous stream's job may still run on its job server: waiting %v for it to stop planning\n", driverWait)
		time.Sleep(driverWait)
	}
	printer := time.NewTicker(o.Monitor)
	defer printer.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-printer.C:
				mon.print()
			case <-done:
				return
			}
		}
	}()
	defer close(done)

	engine := "one streaming job"
	if o.MicroBatch {
		engine = "a batch job per trigger"
	}
	fmt.Fprintf(out, "streaming %s into %s (%s): trigger %s, idle timeout %s (stop with Ctrl-C, or: medallion stop --lake %s)\n",
		from, c.Lake, engine, o.Trigger, o.IdleTimeout, c.Lake)
	if o.MicroBatch {
		reason, err = r.microBatches(ctx, run)
	} else {
		jobRun := o.JobRunner
		if jobRun == nil {
			jobRun = run
		}
		reason, err = r.job(ctx, run, jobRun)
	}
	if err != nil {
		return mon.total, "error", err
	}
	mon.print()
	clearStop(c.Lake)
	r.hb.State, r.hb.Reason, r.hb.Totals = "stopped", reason, mon.total
	if err := writeHeartbeat(c.Lake, &r.hb); err != nil {
		return mon.total, reason, err
	}
	charts, err := mon.charts()
	if err == nil && len(charts) > 0 {
		fmt.Fprintf(out, "monitoring charts: %s\n", filepath.Dir(charts[0]))
	}
	return mon.total, reason, err
}

// streamRun is one --mode stream run: what it prints and records.
type streamRun struct {
	c   Config
	o   StreamOptions
	mon *monitor
	out io.Writer
	hb  Heartbeat
}

// batchDone records and prints a committed batch.
func (r *streamRun) batchDone(sum *Summary, took time.Duration) error {
	if err := r.mon.record(sum); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "%s → %s (%s)\n", sum.unitLine(), sum.addedLine(), took.Round(time.Millisecond))
	r.hb.Batches++
	r.hb.LastBatch = sum.Batch
	r.hb.Totals = r.mon.total
	return writeHeartbeat(r.c.Lake, &r.hb)
}

// idleReason says why a stream stopped by itself.
func (r *streamRun) idleReason() string {
	if r.c.stages.First > transforms.RawBronze {
		return fmt.Sprintf("no new %s commit for %s", r.c.stages.source(), r.o.IdleTimeout)
	}
	return fmt.Sprintf("no new file for %s", r.o.IdleTimeout)
}

// microBatches runs a batch job per trigger until a stop.
func (r *streamRun) microBatches(ctx context.Context, run Runner) (reason string, err error) {
	c, o := r.c, r.o
	next, err := c.stepper(ctx, run)
	if err != nil {
		return "", err
	}
	lastNew := time.Now()
	for {
		switch {
		case ctx.Err() != nil:
			return "signal", nil
		case stopRequested(c.Lake):
			return "stop requested", nil
		}
		tick := time.Now()
		// Not cancellable: a batch that was planned is committed whole.
		sum, err := next(context.WithoutCancel(ctx))
		if err != nil {
			return "", err
		}
		if sum.Batch >= 0 {
			if err := r.batchDone(sum, time.Since(tick)); err != nil {
				return "", err
			}
			lastNew = time.Now()
			continue // more may be waiting beyond the batch cap: no pause
		} else if o.IdleTimeout > 0 && time.Since(lastNew) >= o.IdleTimeout {
			return r.idleReason(), nil
		}
		r.hb.Totals = r.mon.total
		if err := writeHeartbeat(c.Lake, &r.hb); err != nil {
			return "", err
		}
		// Wait for the next trigger, watching for a stop meanwhile.
		for wait := time.Until(tick.Add(o.Trigger)); wait > 0; wait = time.Until(tick.Add(o.Trigger)) {
			if ctx.Err() != nil || stopRequested(c.Lake) {
				break
			}
			time.Sleep(min(wait, 200*time.Millisecond))
		}
	}
}

// PrintStatus says whether a stream runs against the lake, with its last progress.
func PrintStatus(lakeDir string, out io.Writer) error {
	hb, err := readHeartbeat(lakeDir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "no stream has run against %s\n", lakeDir)
		return nil
	}
	if err != nil {
		return err
	}
	state := hb.State
	if hb.silent(time.Now()) {
		state = "not responding (killed? its last heartbeat is old; a new run finishes its batch)"
	}
	fmt.Fprintf(out, "stream on %s: %s\n  pid %d on %s, reading %s, started %s, last progress %s\n  batches %d (last %d)",
		lakeDir, state, hb.PID, hb.Host, hb.Input, hb.Started.Local().Format(time.DateTime), hb.Updated.Local().Format(time.DateTime),
		hb.Batches, hb.LastBatch)
	if hb.Reason != "" {
		fmt.Fprintf(out, ", stopped: %s", hb.Reason)
	}
	fmt.Fprintln(out)
	for _, ms := range monitored() {
		fmt.Fprintf(out, "  %-14s %10s rows\n", ms.Stream, group(hb.Totals[ms.Stream]))
	}
	return nil
}
