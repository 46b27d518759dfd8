package pipelines

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// --mode stream runs one long-running Beam job: a source that watches the
// input plans batch after batch (the same plans, under the same
// checkpoint, as batch runs), each batch is one fixed event-time window,
// and the window's rows are committed to every table as one Delta version
// (transforms.CommitWindows). The source ends itself on --stop, SIGINT or
// --idle-timeout, so the watermark reaches the end of time, every window
// fires and the job finishes with every planned batch committed: no drain
// needed (prism has none).

func init() {
	register.DoFn6x2[context.Context, *sdf.ManualWatermarkEstimator, *sdf.LockRTracker, Watch,
		func(beam.EventTime, transforms.PlannedFile), func(beam.EventTime, transforms.BatchTick),
		sdf.ProcessContinuation, error](&watchFn{})
	register.Emitter2[beam.EventTime, transforms.PlannedFile]()
	register.Emitter2[beam.EventTime, transforms.BatchTick]()
	register.DoFn1x2[transforms.PlannedFile, int64, transforms.PlannedFile](&keyFileFn{})
	register.Function3x0[int64, func(*transforms.PlannedFile) bool, func(transforms.PlannedFile)](ungroupFiles)
	register.Iter1[transforms.PlannedFile]()
	register.Emitter1[transforms.PlannedFile]()
	beam.RegisterType(reflect.TypeOf((*Watch)(nil)).Elem())
}

// Watch is what a streaming job's source watches, and how.
type Watch struct {
	Input, Lake   string
	MaxBatchBytes int64
	TriggerMs     int64 // the window: a batch is planned at most this often
	IdleMs        int64 // stop after this long without a new file (0: never)
	// StartMs is the first window's start (a multiple of TriggerMs), the
	// event time of batch FirstBatch; batch b is the window
	// StartMs + (b-FirstBatch)·TriggerMs.
	StartMs    int64
	FirstBatch int64
	// MaxInFlight bounds the batches planned but not yet committed to every
	// table, and with it the job's memory and its commit step's state.
	MaxInFlight int64
	AppID       string
	Done        string // the table whose commit of a batch ends it (application)
	// Driver is the stream run that started the job (Heartbeat.driver):
	// a job on a job server outlives its driver, so the source stops when
	// that run is gone, and a restarted run does not race the old job.
	Driver string
}

func (w Watch) batchTime(b int64) time.Time {
	return time.UnixMilli(w.StartMs + (b-w.FirstBatch)*w.TriggerMs)
}

// watchFn is the source: a splittable DoFn whose restriction is the batch
// numbers it may still plan. Each call checks for a stop, then lists the
// input at most once per trigger, plans the new files as the next batch
// (written to the checkpoint before they are emitted) and emits them, with
// the batch's tick, at the batch's window; the watermark then moves to the
// window's end, which fires its commits.
type watchFn struct {
	cp      *checkpoint
	lastNew time.Time // the last plan, the last batch's commit, or the first call
	// committed is one past the last batch seen committed to every table.
	committed int64
	due       time.Time // next listing
	// resumeAt is when this call asked to be called again: Flink's portable
	// runner calls a resumed source again at once, whatever delay it asked
	// for (thousands of calls a second here, starving the work itself).
	resumeAt time.Time
	// stop decides when the source ends (Watch.stopPolicy).
	stop *stopPolicy
}

func (f *watchFn) CreateInitialRestriction(w Watch) offsetrange.Restriction {
	return offsetrange.Restriction{Start: w.FirstBatch, End: math.MaxInt64}
}

func (f *watchFn) CreateTracker(r offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(watchTracker{offsetrange.NewTracker(r)})
}

// watchTracker is the source's restriction tracker: it takes the
// self-checkpoint a resume needs (a split at fraction 0) and refuses every
// other split. A runner splitting a long call in two (prism does) would
// leave two sources planning the same batches, one of them far ahead: the
// batch numbers are the restriction, and only one may plan them.
type watchTracker struct{ *offsetrange.Tracker }

func (t watchTracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if fraction > 0 {
		return t.GetRestriction(), nil, nil
	}
	return t.Tracker.TrySplit(fraction)
}

func (f *watchFn) RestrictionSize(Watch, offsetrange.Restriction) float64 { return 1 }

func (f *watchFn) SplitRestriction(_ Watch, r offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{r}
}

func (f *watchFn) TruncateRestriction(*sdf.LockRTracker, Watch) offsetrange.Restriction {
	return offsetrange.Restriction{}
}

func (f *watchFn) CreateWatermarkEstimator() *sdf.ManualWatermarkEstimator {
	return &sdf.ManualWatermarkEstimator{}
}

// poll is how often a waiting source looks for a stop request.
const poll = 200 * time.Millisecond

func (f *watchFn) ProcessElement(ctx context.Context, we *sdf.ManualWatermarkEstimator, rt *sdf.LockRTracker, w Watch,
	emitFile func(beam.EventTime, transforms.PlannedFile), emitTick func(beam.EventTime, transforms.BatchTick)) (sdf.ProcessContinuation, error) {
	if wait := time.Until(f.resumeAt); wait > 0 {
		time.Sleep(min(wait, poll)) // called back early: wait here instead
	}
	next := rt.GetRestriction().(offsetrange.Restriction).Start
	we.UpdateWatermark(w.batchTime(next)) // every earlier batch is emitted
	now := time.Now()
	if f.lastNew.IsZero() {
		f.lastNew = now
	}
	if f.stop == nil {
		f.stop = w.stopPolicy()
	}
	trigger := time.Duration(w.TriggerMs) * time.Millisecond
	idleFor := f.stop.idle
	idle := f.stop.idleSince(now, f.lastNew)
	if idle && next > w.FirstBatch && f.committed < next {
		// Idle time counts from the last batch's commit, as in a batch job
		// per trigger: files landing once the last ones are in are awaited.
		// Until the commit is seen every call looks for it, so the count
		// starts within a call of it (a count reset only every idleFor
		// could end the job moments after the commit).
		done, err := holdsTxn(ctx, lake.Join(w.Lake, w.Done), w.AppID, next-1)
		if err != nil {
			return f.resume(poll), err
		}
		f.lastNew, idle = now.Add(-idleFor), false // look again next call
		if done {
			f.committed, f.lastNew = next, now
		}
	}
	if idle && f.cp != nil {
		// One more look, so files that landed just now are not left out.
		if files, err := listInput(w.Input, f.cp.isClaimed); err != nil {
			return f.resume(poll), err
		} else if len(files) > 0 {
			f.lastNew, f.due, idle = now, now, false
		}
	}
	// No signal reaches a job's source: the command turns one into a stop
	// request.
	if idle || f.stop.now(context.Background(), now) != NotStopped {
		rt.TryClaim(int64(math.MaxInt64)) // ends the restriction: the watermark goes to the end of time
		return sdf.StopProcessing(), rt.GetError()
	}
	if now.Before(f.due) {
		return f.resume(min(f.due.Sub(now), poll)), nil
	}
	if oldest := next - w.MaxInFlight; oldest >= w.FirstBatch {
		if done, err := holdsTxn(ctx, lake.Join(w.Lake, w.Done), w.AppID, oldest); err != nil || !done {
			return f.resume(poll / 4), err
		}
	}
	if f.cp == nil {
		cp, err := openCheckpoint(ctx, w.Lake)
		if err != nil {
			return sdf.StopProcessing(), err
		}
		f.cp = cp
	}
	// The runner may hand the restriction to another instance of the
	// source between calls: read the plans made since this one's last.
	if err := f.cp.catchUp(ctx, next-1); err != nil {
		return sdf.StopProcessing(), err
	}
	plan, more, err := f.plan(ctx, w, next)
	if err != nil || plan == nil {
		f.due = now.Add(trigger)
		return f.resume(min(trigger, poll)), err
	}
	if !rt.TryClaim(next) {
		return sdf.StopProcessing(), rt.GetError()
	}
	at := mtime.FromTime(w.batchTime(next))
	for _, p := range plan.planned() {
		emitFile(at, p)
	}
	emitTick(at, transforms.BatchTick{Batch: next, Files: int64(len(plan.Files))})
	we.UpdateWatermark(w.batchTime(next + 1)) // the window is complete
	f.lastNew = time.Now()
	if f.due = f.lastNew.Add(trigger); more {
		f.due = f.lastNew // files beyond the batch cap wait: no pause
	}
	return f.resume(0), nil
}

// stopPolicy is the source's stop policy: the watched lake's stop request,
// the driver, the idle timeout.
func (w Watch) stopPolicy() *stopPolicy {
	return &stopPolicy{lake: w.Lake, idle: time.Duration(w.IdleMs) * time.Millisecond, driver: w.Driver}
}

// resume asks the runner to call the source again in d.
func (f *watchFn) resume(d time.Duration) sdf.ProcessContinuation {
	f.resumeAt = time.Now().Add(d)
	return sdf.ResumeProcessingIn(d)
}

// aheadOfJob says why the lake's plans can be ahead of a streaming job's
// source: another stream, or the runner restarting the job from its start
// (Flink after losing a TaskManager: the restarted source does not resume
// from the batch it had reached). The job stops rather than plan a batch
// twice; a new run carries on from the lake's plans.
const aheadOfJob = "another stream is running on the lake (medallion status), or the runner restarted this job from its start after a failure (rerun the stream: it carries on from the lake's plans)"

// plan returns batch next's plan: one an earlier attempt of this call wrote
// (a runner retrying the source's bundle), else a new plan of the files no
// plan holds, nil when there is none. more reports files left beyond it.
func (f *watchFn) plan(ctx context.Context, w Watch, next int64) (plan *Plan, more bool, err error) {
	if last := f.cp.last; last != nil && last.Batch >= next {
		if last.Batch != next {
			return nil, false, fmt.Errorf("checkpoint %s: batch %d is planned, but this job plans batch %d next: %s", w.Lake, last.Batch, next, aheadOfJob)
		}
		return last, false, nil
	}
	files, err := listInput(w.Input, f.cp.isClaimed)
	if err != nil || len(files) == 0 {
		return nil, false, err
	}
	plan, err = f.cp.plan(ctx, files, w.MaxBatchBytes, AllStages)
	if err != nil {
		return nil, false, err
	}
	if plan.Batch != next {
		return nil, false, fmt.Errorf("checkpoint %s: planned batch %d, but this job plans batch %d next: %s", w.Lake, plan.Batch, next, aheadOfJob)
	}
	return plan, len(files) > len(plan.Files), nil
}

// BuildStream adds the streaming job to s: the diagram of Build, with the
// watching source in front and every table's writes committed per window.
func BuildStream(s beam.Scope, c Config, w Watch) {
	files, ticks := beam.ParDo2(s, &watchFn{}, beam.Create(s, w))
	windows := window.NewFixedWindows(time.Duration(w.TriggerMs) * time.Millisecond)
	files = beam.WindowInto(s, windows, files)
	ticks = beam.WindowInto(s, windows, ticks)
	k := &windowSink{c: c, cfg: c.streamCommit(w)}
	c.medallion(s, AllStages, c.readRaw(s, spread(s, c.Shards, files), true), k)
	k.finish(s, ticks)
}

// spread breaks fusion after the source, so a batch's files are read on
// every worker, not the source's alone. It groups within the batch's window:
// beam.Reshuffle goes through the global window, and on Flink the files it
// put back in their window arrived behind the watermark, so their rows
// missed their window's commit.
func spread(s beam.Scope, shards int, files beam.PCollection) beam.PCollection {
	s = s.Scope("Spread")
	return beam.ParDo(s, ungroupFiles, beam.GroupByKey(s, beam.ParDo(s, &keyFileFn{Shards: max(shards, 1)}, files)))
}

type keyFileFn struct{ Shards int }

func (f *keyFileFn) ProcessElement(p transforms.PlannedFile) (int64, transforms.PlannedFile) {
	h := fnv.New32a()
	h.Write([]byte(p.Path))
	return int64(h.Sum32() % uint32(f.Shards)), p
}

func ungroupFiles(_ int64, files func(*transforms.PlannedFile) bool, emit func(transforms.PlannedFile)) {
	var p transforms.PlannedFile
	for files(&p) {
		emit(p)
	}
}

// streamCommit is how the streaming job commits: each table with the
// lineage a batch's commit records, the plan and batch filled in per
// window; application commits right after gold, in gold's group, so it
// never counts rows gold lacks.
func (c Config) streamCommit(w Watch) transforms.StreamCommitConfig {
	cfg := transforms.StreamCommitConfig{AppID: w.AppID, FirstBatch: w.FirstBatch, Groups: map[string][]string{}, Tables: map[string]transforms.StreamTable{}}
	for _, t := range transforms.Tables {
		l, fromPlan := c.lineage(t, AllStages)
		st := transforms.StreamTable{Location: t.Location(c.Lake), BaseSchema: t.Schema.String(), Lineage: l, Tallies: t.Tallies,
			FromPlan: fromPlan, Application: t.Name == transforms.ApplicationTable.Name}
		if fromPlan {
			st.PlanFormat = planFormat
		}
		if l.Model != nil {
			st.Params = c.modelParams()
		}
		cfg.Tables[t.Name] = st
		if !st.Application {
			cfg.Groups[t.Name] = []string{t.Name}
		}
	}
	gold := transforms.GoldTable.Name
	cfg.Groups[gold] = append(cfg.Groups[gold], transforms.ApplicationTable.Name)
	return cfg
}

// maxInFlight is how many planned batches a streaming job may have
// uncommitted: one committing while the next is read and scored.
const maxInFlight = 2

// canStreamJob says why the configuration needs --micro-batch, if it does.
func (c Config) canStreamJob() error {
	if c.stages != AllStages {
		return &Failure{Msg: fmt.Sprintf("a stream with {Stages} %s runs as a batch job per trigger", c.stages), Hint: "set {MicroBatch}"}
	}
	if c.Env.Runner == "direct" {
		return &Failure{Msg: "the direct runner runs no streaming jobs", Hint: "use prism (the default {Runner}), or set {MicroBatch}"}
	}
	return nil
}

// job runs the stream as one streaming Beam job. A batch a killed run left
// unfinished is finished first, as a batch job; the job's source then plans
// from the next batch on. While the job runs, its batches are followed in
// the lake: a batch is done when every table holds its txn, and is then
// summarised, printed and recorded like a micro-batch.
func (r *streamRun) job(signal context.Context, run, jobRun Runner) (Stopped, error) {
	c, o := r.c, r.o
	// A signal stops the source; what the job planned is still committed
	// and reported.
	ctx := context.WithoutCancel(signal)
	cp, err := openCheckpoint(ctx, c.Lake)
	if err != nil {
		return Stopped{}, err
	}
	for {
		// The batches a killed job left in flight, oldest first.
		plan, err := cp.unfinished(ctx)
		if err != nil {
			return Stopped{}, err
		}
		if plan == nil {
			break
		}
		start := time.Now()
		sum, err := runPlan(ctx, c, plan, true, run)
		if err != nil {
			return Stopped{}, err
		}
		if err := r.batchDone(sum, time.Since(start)); err != nil {
			return Stopped{}, err
		}
	}
	first := int64(0)
	if cp.last != nil {
		first = cp.last.Batch + 1
	}
	trigger := max(o.Trigger.Milliseconds(), 1)
	w := Watch{Input: c.Input, Lake: c.Lake, MaxBatchBytes: c.MaxBatchBytes, TriggerMs: trigger, IdleMs: o.IdleTimeout.Milliseconds(),
		StartMs: time.Now().UnixMilli() / trigger * trigger, FirstBatch: first, MaxInFlight: maxInFlight,
		AppID: AllStages.appID(), Done: transforms.ApplicationTable.Name, Driver: r.hb.driver()}
	before := map[string]int64{}
	for _, t := range transforms.TableNames() {
		if before[t], err = latestVersion(ctx, c.table(t)); err != nil {
			return Stopped{}, err
		}
	}
	p, s := beam.NewPipelineWithRoot()
	BuildStream(s, c, w)
	sweepLoopbackFiles(os.TempDir(), time.Minute)
	ended := make(chan error, 1)
	go func() {
		_, err := jobRun(p)
		ended <- err
	}()
	next, signalled := first, false
	follow := func() error { // report the batches every table now holds
		for {
			held, err := tablesHold(ctx, c.Lake, transforms.TableNames(), w.AppID, next)
			if err != nil || !held {
				return err
			}
			plan := new(Plan)
			if err := plansLedger(c.Lake).read(ctx, next, plan); err != nil {
				return err
			}
			sum, err := summarize(ctx, c, AllStages, next, before, nil)
			if err != nil {
				return err
			}
			sum.Batch, sum.FirstBatch, sum.PlannedFiles = next, next, len(plan.Files)
			sum.Planned, sum.Landed = plan.Created, plan.landed()
			// Processing time in a stream is latency: from the batch's plan
			// to each stage's commit.
			sum.ProcessingMicros = map[string]int64{}
			var last time.Time
			for _, ms := range monitored() {
				at := sum.table(ms.Name).Committed
				sum.ProcessingMicros[ms.Name] = max(at.Sub(plan.Created).Microseconds(), 0)
				if at.After(last) {
					last = at
				}
			}
			if err := sum.Check(); err != nil {
				return fmt.Errorf("batch %d: %w", next, err)
			}
			c.Metrics.batch(ctx, c, sum)
			for _, tr := range sum.Tables {
				before[tr.Name] = tr.After
			}
			if err := r.batchDone(sum, last.Sub(plan.Created)); err != nil {
				return err
			}
			next++
		}
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case err := <-ended:
			if err != nil {
				return Stopped{}, batchFailure(next, err)
			}
			if err := follow(); err != nil {
				return Stopped{}, err
			}
			stop := stopPolicy{lake: c.Lake}
			if why := stop.now(signal, time.Now()); why != NotStopped {
				return Stopped{Reason: why}, nil
			}
			return idleStop(c, o.IdleTimeout), nil
		case <-tick.C:
		}
		if signal.Err() != nil && !signalled {
			// The source ends on the stop request; the job then commits
			// what it planned and finishes.
			signalled = true
			c.Metrics.setState("stopping", "signalled")
			if err := RequestStop(c.Lake); err != nil {
				return Stopped{}, err
			}
		}
		if err := follow(); err != nil {
			return Stopped{}, err
		}
		if time.Since(r.hb.Updated) >= o.Trigger { // status: alive, even while idle
			if err := r.beat(ctx); err != nil {
				return Stopped{}, err
			}
		}
	}
}
