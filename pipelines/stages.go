package pipelines

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// StagesAll is the --stages value of the whole chain (the default): one job
// per batch carries rows from the raw files to application in memory.
const StagesAll = "raw:bronze,bronze:silver,silver:gold,gold:application"

// Stages is the run of consecutive stages one run runs, First to Last. A run
// whose first stage is not raw:bronze starts from its upstream table: it
// reads the commits appended there since its own checkpoint, as a Delta
// streaming source does.
type Stages struct{ First, Last transforms.Stage }

// AllStages is the whole chain.
var AllStages = Stages{transforms.RawBronze, transforms.GoldApplication}

// ParseStages reads a --stages value: stage names, comma separated, that
// follow one another in the chain ("" is the whole chain).
func ParseStages(s string) (Stages, error) {
	if strings.TrimSpace(s) == "" {
		return AllStages, nil
	}
	parts := strings.Split(s, ",")
	var st Stages
	for i, p := range parts {
		k, ok := transforms.ParseStage(strings.TrimSpace(p))
		if !ok {
			return Stages{}, &Failure{Msg: fmt.Sprintf("{Stages} %q: no stage %q (the stages, in order: %s)", s, strings.TrimSpace(p), StagesAll)}
		}
		if i == 0 {
			st.First = k
		} else if k != st.First+transforms.Stage(i) {
			return Stages{}, &Failure{Msg: fmt.Sprintf("{Stages} %q: the stages must follow one another in the chain's order (%s): each reads what the one before wrote", s, StagesAll)}
		}
	}
	st.Last = st.First + transforms.Stage(len(parts)-1)
	return st, nil
}

func (s Stages) String() string {
	names := make([]string, 0, s.Last-s.First+1)
	for st := s.First; st <= s.Last; st++ {
		names = append(names, st.String())
	}
	return strings.Join(names, ",")
}

func (s Stages) has(stage transforms.Stage) bool { return s.First <= stage && stage <= s.Last }

// source is what the first stage reads: "raw", or the upstream table.
func (s Stages) source() string { return s.First.Input() }

// appID names the commits of runs of these stages in the tables' txn
// actions. The whole chain and the chain from bronze keep the names they
// have always had.
func (s Stages) appID() string {
	switch s {
	case AllStages:
		return AppID
	case Stages{transforms.BronzeSilver, transforms.GoldApplication}:
		return StageAppID
	}
	return "medallion-" + s.First.Input() + "-to-" + s.Last.Output().Name
}

// StageAppID names the commits of runs of
// bronze:silver,silver:gold,gold:application.
const StageAppID = "medallion-from-bronze"

// allStages lists every run of consecutive stages.
func allStages() []Stages {
	var out []Stages
	for f := transforms.RawBronze; f <= transforms.GoldApplication; f++ {
		for l := f; l <= transforms.GoldApplication; l++ {
			out = append(out, Stages{f, l})
		}
	}
	return out
}

// stagesOf returns the stages whose one job made commits with txn app (a
// rescore scores silver to gold and rebuilds application; a rebuild of
// silver is followed by one); ok is false for other writers.
func stagesOf(app string) (Stages, bool) {
	switch app {
	case RescoreAppID:
		return Stages{transforms.SilverGold, transforms.GoldApplication}, true
	case RebuildAppID:
		return Stages{transforms.BronzeSilver, transforms.GoldApplication}, true
	}
	for _, s := range allStages() {
		if s.appID() == app {
			return s, true
		}
	}
	return Stages{}, false
}

// carriers are the txn app ids of the runs that carry rows through both
// stage a and stage b in one job: what a's table holds under one of their
// txn versions, b's table holds under the same one.
func carriers(a, b transforms.Stage) []string {
	var out []string
	for _, s := range allStages() {
		if s.has(a) && s.has(b) {
			out = append(out, s.appID())
		}
	}
	return out
}

// tables are the tables the stages commit to, in pipeline order.
func (s Stages) tables() []string {
	var out []string
	for _, t := range transforms.Tables {
		if slices.ContainsFunc(t.Writers, s.has) {
			out = append(out, t.Name)
		}
	}
	return out
}

// stageOffset is one run of stages that start from a table: the upstream
// versions it reads, fixed (put-if-absent) before any is read, like a Delta
// streaming source's offset log. A rerun after a kill redoes it with the
// same versions and stages, and the tables that already hold it (txn)
// skip it.
type stageOffset struct {
	Seq    int64  `json:"seq"`
	From   int64  `json:"from_version"` // first upstream version read
	To     int64  `json:"to_version"`   // last upstream version read
	Stages string `json:"stages,omitempty"`
	// Empty marks an offset with no row to read (the commits were the
	// whole chain's, or compactions): it only moves the checkpoint on.
	Empty   bool      `json:"empty,omitempty"`
	Created time.Time `json:"created"`
}

// stages returns the offset's stages; offsets written before the field
// existed were bronze:silver,silver:gold,gold:application.
func (o *stageOffset) stages() Stages {
	s, err := ParseStages(o.Stages)
	if o.Stages == "" || err != nil {
		return Stages{transforms.BronzeSilver, transforms.GoldApplication}
	}
	return s
}

// runNextOffset runs the next offset of stages that start from a table (an
// unfinished one first) and summarises it; with nothing new upstream it
// returns a summary with no batch.
func runNextOffset(ctx context.Context, c Config, run Runner) (*Summary, error) {
	off, redo, err := nextStageOffset(ctx, c)
	if err != nil || off == nil {
		return &Summary{Batch: -1, Stages: c.stages}, err
	}
	sum, err := runStageOffset(ctx, c, off, run)
	if err != nil {
		return nil, fmt.Errorf("stages %s, offset %d (%s v%d–v%d): %w", off.stages(), off.Seq, off.stages().source(), off.From, off.To, err)
	}
	sum.Redo = redo
	return sum, nil
}

// stageCursor is where the stage reading a table stands: its newest offset,
// whether a killed run left that unfinished, and the upstream versions
// after it (from > latest: none).
type stageCursor struct {
	last         *stageOffset
	unfinished   bool
	from, latest int64
}

// readCursor reads the cursor of the stages that start at stage.
func readCursor(ctx context.Context, c Config, stage transforms.Stage) (*stageCursor, error) {
	src := stage.Input()
	last, err := newest(ctx, stageLedger(c.Lake, src), func(o *stageOffset) int64 { return o.Seq })
	if err != nil {
		return nil, err
	}
	cur := &stageCursor{last: last, latest: -1}
	if last != nil {
		done, err := offsetDone(ctx, c, last)
		if err != nil {
			return nil, err
		}
		if cur.unfinished = !done; cur.unfinished {
			return cur, nil
		}
		cur.from = last.To + 1
	}
	cur.latest, err = latestVersion(ctx, c.table(src))
	return cur, err
}

// nextStageOffset returns the offset to run: the last one when a table it
// writes lacks it (a run died), else a new one over the upstream versions
// since, else nil when the upstream table has nothing new.
func nextStageOffset(ctx context.Context, c Config) (off *stageOffset, redo bool, err error) {
	cur, err := readCursor(ctx, c, c.stages.First)
	if err != nil {
		return nil, false, err
	}
	if cur.unfinished {
		return cur.last, true, nil
	}
	if cur.from > cur.latest {
		return nil, false, nil
	}
	src := c.stages.source()
	adds, err := stageAdds(ctx, lake.Open(c.table(src)), c.stages.First, cur.from, cur.latest)
	if err != nil {
		return nil, false, err
	}
	off = &stageOffset{From: cur.from, To: cur.latest, Stages: c.stages.String(), Empty: len(adds) == 0, Created: time.Now().UTC()}
	if cur.last != nil {
		off.Seq = cur.last.Seq + 1
	}
	if err := stageLedger(c.Lake, src).claim(ctx, off.Seq, off); err != nil {
		return nil, false, err
	}
	if off.Empty {
		return nil, false, nil // nothing to carry on: no job, no commit
	}
	return off, false, nil
}

// offsetDone reports whether every table the offset's stages write holds it.
func offsetDone(ctx context.Context, c Config, off *stageOffset) (bool, error) {
	if off.Empty {
		return true, nil
	}
	return tablesHold(ctx, c.Lake, off.stages().tables(), off.stages().appID(), off.Seq)
}

// stagePending reports whether the table a stage reads has commits the
// stage has not carried on yet: an unfinished offset, or new appended rows
// since the last one. A rescore waits for them (it would count them twice).
func stagePending(ctx context.Context, c Config, stage transforms.Stage) (string, error) {
	cur, err := readCursor(ctx, c, stage)
	if err != nil {
		return "", err
	}
	if cur.unfinished {
		return fmt.Sprintf("offset %d of stages %s is unfinished", cur.last.Seq, cur.last.stages()), nil
	}
	if cur.from > cur.latest {
		return "", nil
	}
	src := stage.Input()
	adds, err := stageAdds(ctx, lake.Open(c.table(src)), stage, cur.from, cur.latest)
	if err != nil || len(adds) == 0 {
		return "", err
	}
	return fmt.Sprintf("%s v%d–v%d holds rows stage %s has not read", src, cur.from, cur.latest, stage.String()), nil
}

// stageAdds returns the files the upstream table's commits in [from, to]
// appended that stage must read, in commit order. Commits of runs that
// carried their rows through stage in the same job are passed over (the
// whole chain's batches, for every stage); what is left is what other
// writers (a backfill, a second source, Spark) and runs that stopped
// before stage appended. A commit that removes data is an error unless it
// is a compaction (dataChange=false), whose files hold rows read before.
func stageAdds(ctx context.Context, upstream *lake.Table, stage transforms.Stage, from, to int64) ([]lake.AddFile, error) {
	commits, err := upstream.History(ctx, from)
	if err != nil {
		return nil, err
	}
	var adds []lake.AddFile
	for _, cm := range commits {
		if cm.Version > to {
			break
		}
		if cm.HasTxn {
			if st, ok := stagesOf(cm.Txn.AppID); ok && st.has(stage) {
				continue // that job carried the rows through this stage already
			}
		}
		for _, r := range cm.Removes {
			if r.DataChange {
				return nil, fmt.Errorf("%s v%d (%s) removes data (%s): a stage reads appends only; rebuild the tables below it instead",
					upstream.Location, cm.Version, cm.Info.Operation, r.Path)
			}
		}
		for _, a := range cm.Adds {
			if a.DataChange {
				adds = append(adds, a)
			}
		}
	}
	if len(commits) > 0 && commits[0].Version > from {
		return nil, fmt.Errorf("%s v%d–v%d: the log no longer has them (a checkpoint replaced them): the stage cannot read that range",
			upstream.Location, from, commits[0].Version-1)
	}
	return adds, nil
}

// runStageOffset runs the offset's stages on its upstream files in one Beam
// job, whose workers read them (application alone needs no job: it counts
// gold rows per mention here); every commit carries (the stages' app id,
// Seq), so a redo adds nothing twice.
func runStageOffset(ctx context.Context, c Config, off *stageOffset, run Runner) (*Summary, error) {
	st := off.stages()
	app := st.appID()
	up := lake.Open(c.table(st.source()))
	adds, err := stageAdds(ctx, up, st.First, off.From, off.To)
	if err != nil {
		return nil, err
	}
	before := map[string]int64{}
	for _, t := range st.tables() {
		if before[t], err = latestVersion(ctx, c.table(t)); err != nil {
			return nil, err
		}
	}
	read := transforms.Lineage{Stage: st.First.String(), Table: st.source(), From: transforms.Int64(off.From), To: transforms.Int64(off.To), Mode: "append"}
	var upstreamRows int64
	var res beam.PipelineResult
	if st.First == transforms.GoldApplication {
		rows, err := readRows(ctx, up, off.To, adds, transforms.DecodeGoldCounts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.source(), err)
		}
		upstreamRows = int64(len(rows))
		if _, err := transforms.CommitApplication(ctx, transforms.ApplicationConfig{Location: c.table(transforms.ApplicationTable.Name), AppID: app, Version: off.Seq,
			Lineage: read}, transforms.CountGold(rows)); err != nil {
			return nil, err
		}
	} else {
		p, s := beam.NewPipelineWithRoot()
		snap, err := up.Snapshot(ctx, off.To)
		if err != nil {
			return nil, fmt.Errorf("%s v%d: %w", st.source(), off.To, err)
		}
		files, n, err := tableFiles(ctx, up, snap, adds)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.source(), err)
		}
		upstreamRows = n
		spread := beam.Reshuffle(s, beam.CreateList(s, files))
		var in upstream
		if st.First == transforms.BronzeSilver {
			in.bronze = transforms.ReadBronze(s, spread)
		} else {
			in.silver = transforms.ReadSilver(s, spread)
		}
		c.medallion(s, st, in, batchSink{c: c, st: st, version: off.Seq, read: &read})
		if res, err = run(p); err != nil {
			return nil, batchFailure(off.Seq, err)
		}
	}
	sum, err := summarize(ctx, c, st, off.Seq, before, res)
	if err != nil {
		return nil, err
	}
	sum.Batch, sum.FirstBatch, sum.UpstreamRows = off.Seq, off.Seq, upstreamRows
	sum.Source = fmt.Sprintf("%s v%d–v%d", st.source(), off.From, off.To)
	if err := sum.Check(); err != nil {
		return nil, fmt.Errorf("offset %d: %w", off.Seq, err)
	}
	c.Metrics.batch(ctx, c, sum)
	return sum, nil
}

// tableFiles describes a table's data files adds, shaped to the schema of
// the snapshot they are read at, for workers to read, and counts their rows
// from the adds' statistics, reading a file here only when its writer
// recorded none.
func tableFiles(ctx context.Context, t *lake.Table, snap *lake.Snapshot, adds []lake.AddFile) ([]transforms.TableFile, int64, error) {
	files, err := transforms.NewTableFiles(t.Location, snap, adds)
	if err != nil {
		return nil, 0, err
	}
	var rows int64
	for i, a := range adds {
		if n, ok, err := a.Rows(); err == nil && ok {
			rows += n
			continue
		}
		rec, err := files[i].Read(ctx)
		if err != nil {
			return nil, 0, err
		}
		rows += rec.NumRows()
		rec.Release()
	}
	return files, rows, nil
}
