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

// Silent reports whether a running stream's heartbeat is older than its
// writer would let it get: the run was killed, or its machine lost.
func (hb Heartbeat) Silent(now time.Time) bool {
	trigger, _ := time.ParseDuration(hb.Trigger)
	return hb.State == "running" && now.Sub(hb.Updated) > silentAfter(trigger)
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
func Stream(ctx context.Context, c Config, run Runner, o StreamOptions, out io.Writer) (*StreamResult, error) {
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	if o.Trigger <= 0 {
		o.Trigger = 10 * time.Second
	}
	if o.Monitor <= 0 {
		o.Monitor = 10 * time.Second
	}
	if c.kafka() && !c.fromTable() {
		// The streaming job's source watches files; a topic is read by a
		// batch job per trigger, each planning the offsets that arrived.
		o.MicroBatch = true
	}
	if !o.MicroBatch {
		if err := c.canStreamJob(); err != nil {
			return nil, err
		}
		if c.Env.engine(ctx) == "spark" {
			// Beam's portable Spark runner fails the job's first bundle:
			// "The ActiveBundle does not have a registered bundle checkpoint
			// handler" (the source is a self-checkpointing splittable DoFn).
			return nil, &Failure{Msg: "Beam's Spark job server cannot run the streaming job (its runner has no bundle checkpoints, which the job's file source needs)",
				Hint: "set {MicroBatch} (a batch job per trigger, which Spark runs), or stream on Flink's job server"}
		}
	}
	if stopRequested(c.Lake) { // meant for an earlier run
		clearStop(c.Lake)
	}
	mon, err := newMonitor(c.Monitoring, out)
	if err != nil {
		return nil, err
	}
	from := c.Input
	if c.stages.First > transforms.RawBronze {
		from = fmt.Sprintf("the %s table's new commits (stages %s)", c.stages.source(), c.stages)
	}
	c.Metrics.start(ctx, c, o.Trigger)
	pending := c.backlog(ctx)
	host, _ := os.Hostname()
	prev, _ := readHeartbeat(c.Lake)
	r := &streamRun{c: c, o: o, mon: mon, out: out, pending: pending,
		hb: Heartbeat{State: "running", PID: os.Getpid(), Host: host, Input: from, Started: time.Now().UTC(), Trigger: o.Trigger.String(), LastBatch: -1,
			JobServer: !o.MicroBatch && c.Env.onJobServer()}}
	if err := writeHeartbeat(c.Lake, &r.hb); err != nil {
		return nil, err
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
	res := &StreamResult{}
	if o.MicroBatch {
		res.Stopped, err = r.microBatches(ctx, run)
	} else {
		jobRun := o.JobRunner
		if jobRun == nil {
			jobRun = run
		}
		res.Stopped, err = r.job(ctx, run, jobRun)
	}
	res.Totals = mon.total
	if err != nil {
		c.Metrics.setState("failed", err.Error())
		return res, err
	}
	mon.print()
	clearStop(c.Lake)
	c.Metrics.setState("stopped", res.Stopped.String())
	r.hb.State, r.hb.Reason, r.hb.Totals = "stopped", res.Stopped.String(), mon.total
	if err := writeHeartbeat(c.Lake, &r.hb); err != nil {
		return res, err
	}
	charts, err := mon.charts()
	if err == nil && len(charts) > 0 {
		res.Charts = filepath.Dir(charts[0])
		fmt.Fprintf(out, "monitoring charts: %s\n", res.Charts)
	}
	return res, err
}

// StreamResult is what a stream did: rows per monitored stream (named as
// the course's, transforms.Table.Stream), why it stopped, and where its
// monitoring charts are.
type StreamResult struct {
	Totals  map[string]int64
	Stopped Stopped
	Charts  string
}

// streamRun is one --mode stream run: what it prints and records.
type streamRun struct {
	c   Config
	o   StreamOptions
	mon *monitor
	out io.Writer
	hb  Heartbeat
	// pending counts the backlog for the metrics (nil: none kept).
	pending *backlog
	// beaten is the batch count at the last beat.
	beaten int
}

// beat writes the heartbeat of a trigger, and the metrics' state and
// backlog: idle when no batch was committed since the last beat.
func (r *streamRun) beat(ctx context.Context) error {
	state := "running"
	if r.hb.Batches == r.beaten {
		state = "idle"
	}
	if stopRequested(r.c.Lake) {
		state = "stopping"
	}
	r.beaten = r.hb.Batches
	r.c.Metrics.setState(state, "")
	r.c.Metrics.countBacklog(ctx, r.pending)
	r.hb.Totals = r.mon.total
	return writeHeartbeat(r.c.Lake, &r.hb)
}

// batchDone records and prints a committed batch.
func (r *streamRun) batchDone(sum *Summary, took time.Duration) error {
	if err := r.mon.record(sum); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "%s → %s (%s)\n", sum.unitLine(), sum.addedLine(), took.Round(time.Millisecond))
	r.hb.Batches++
	r.hb.LastBatch = sum.Batch
	r.pending.done(sum.Batch)
	r.c.Metrics.setState("running", "")
	r.hb.Totals = r.mon.total
	return writeHeartbeat(r.c.Lake, &r.hb)
}

// microBatches runs a batch job per trigger until a stop.
func (r *streamRun) microBatches(ctx context.Context, run Runner) (Stopped, error) {
	c, o := r.c, r.o
	next, err := c.stepper(ctx, run, false)
	if err != nil {
		return Stopped{}, err
	}
	stop := &stopPolicy{lake: c.Lake, idle: o.IdleTimeout}
	lastNew := time.Now()
	for {
		if why := stop.now(ctx, time.Now()); why != NotStopped {
			return Stopped{Reason: why}, nil
		}
		tick := time.Now()
		// Not cancellable: a batch that was planned is committed whole.
		sum, err := next(context.WithoutCancel(ctx))
		if err != nil {
			return Stopped{}, err
		}
		if sum.Batch >= 0 {
			if err := r.batchDone(sum, time.Since(tick)); err != nil {
				return Stopped{}, err
			}
			lastNew = time.Now()
			continue // more may be waiting beyond the batch cap: no pause
		} else if stop.idleSince(time.Now(), lastNew) {
			return idleStop(c, o.IdleTimeout), nil
		}
		if err := r.beat(ctx); err != nil {
			return Stopped{}, err
		}
		// Wait for the next trigger, watching for a stop meanwhile.
		for wait := time.Until(tick.Add(o.Trigger)); wait > 0; wait = time.Until(tick.Add(o.Trigger)) {
			if stop.now(ctx, time.Now()) != NotStopped {
				break
			}
			time.Sleep(min(wait, poll))
		}
	}
}

// Status is the heartbeat of the stream that last ran on the lake, nil when
// none has: its state, progress, totals and, once stopped, why.
func Status(lakeDir string) (*Heartbeat, error) {
	hb, err := readHeartbeat(lakeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return hb, err
}
