package transforms

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
)

// A streaming job commits each window (one batch plan) to every table as
// one Delta version: the window's pieces (written data files, tallies, the
// per-mention counts, the batch's header) are grouped per commit group at
// the window's end, then committed in batch order by a stateful step keyed
// by group. The txn action (AppID, batch) in each commit is the idempotency
// key: a window a runner replays, or a job restarted after a crash redoes,
// adds nothing twice.

func init() {
	register.DoFn2x0[BatchTick, func(string, []byte)](&headerPartFn{})
	register.DoFn2x0[deltaio.DataFile, func(string, []byte)](&filePartFn{})
	register.DoFn3x0[string, int64, func(string, []byte)](&tallyPartFn{})
	register.DoFn2x0[ApplicationRow, func(string, []byte)](&mentionPartFn{})
	register.Function3x1[string, func(*[]byte) bool, func(string, []byte), error](assembleCommit)
	register.DoFn5x1[context.Context, state.Provider, string, []byte, func(BatchCommitted), error](&orderedCommitFn{})
	register.Emitter2[string, []byte]()
	register.Emitter1[BatchCommitted]()
	register.Iter1[[]byte]()
	beam.RegisterType(reflect.TypeOf((*BatchTick)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*BatchCommitted)(nil)).Elem())
}

// BatchTick is the one element a streaming source emits per window: the
// batch (plan) number the window is, and how many files it planned.
type BatchTick struct {
	Batch int64
	Files int64
}

// Kinds of CommitPart.
const (
	partHeader  = 0
	partFile    = 1
	partTally   = 2
	partMention = 3
)

// CommitPart is one piece of a window's commit to a table. Parts, and the
// WindowCommits made of them, travel as JSON bytes: a runner's Java side
// decodes the elements it groups and copies, and Beam Java's row coder does
// not read Go's encoding of a row holding lists (found on Flink).
type CommitPart struct {
	Table   string
	Kind    int64
	Batch   int64 // header
	Files   int64 // header: files planned
	Add     string
	Extras  []string
	Tally   string
	N       int64
	Mention ApplicationRow
}

// WindowCommit is everything one commit group commits for one window.
type WindowCommit struct {
	Group string
	Batch int64
	Files int64
	Parts []CommitPart
}

// BatchCommitted reports one table's commit of one batch (Version -1: the
// table already held it).
type BatchCommitted struct {
	Table   string
	Batch   int64
	Version int64
	Rows    int64
}

// StreamTable is how a streaming job commits to one table.
type StreamTable struct {
	Location   string
	BaseSchema string // lake.Schema.String()
	Operation  string
	Tallies    []string
	Params     map[string]string // fixed operationParameters (gold: the model)
	// Lineage is the table's lineage with the batch left out: FromPlan
	// fills Plan (PlanFormat with the batch), Batch and Files; otherwise
	// Txn is set to the batch's txn (AppID=batch).
	Lineage    Lineage
	FromPlan   bool
	PlanFormat string
	// Application merges the window's per-mention counts into the
	// application table (CommitApplication) instead of adding data files;
	// it records the version of the gold commit made just before it.
	Application bool
}

// StreamCommitConfig is the commit step of a streaming job.
type StreamCommitConfig struct {
	AppID string
	// FirstBatch is the first batch the job's source plans: a group commits
	// batches from it on, in order.
	FirstBatch int64
	// Groups are the commit groups, each its tables in commit order; a key
	// of the stateful step. A table that must commit after another in the
	// same batch (application after gold) shares its group.
	Groups map[string][]string
	Tables map[string]StreamTable
}

// group returns the commit group a table commits in.
func (c StreamCommitConfig) group(table string) string {
	for g, tables := range c.Groups {
		for _, t := range tables {
			if t == table {
				return g
			}
		}
	}
	return table
}

// HeaderParts gives every commit group a header for each window's batch,
// so each table commits once per window even when no row reached it.
func HeaderParts(s beam.Scope, cfg StreamCommitConfig, ticks beam.PCollection) beam.PCollection {
	groups := make([]string, 0, len(cfg.Groups))
	for g := range cfg.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	return beam.ParDo(s.Scope("CommitHeaders"), &headerPartFn{Groups: groups}, ticks)
}

type headerPartFn struct{ Groups []string }

func (f *headerPartFn) ProcessElement(t BatchTick, emit func(string, []byte)) {
	for _, g := range f.Groups {
		emit(g, encode(CommitPart{Kind: partHeader, Batch: t.Batch, Files: t.Files}))
	}
}

// encode renders a part or window commit as JSON: plain strings, numbers
// and lists of them, which cannot fail.
func encode(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// FileParts turns a table's written data files (deltaio.WriteFiles) into
// commit parts.
func FileParts(s beam.Scope, cfg StreamCommitConfig, table string, files beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("FileParts "+table), &filePartFn{Table: table, Group: cfg.group(table)}, files)
}

type filePartFn struct{ Table, Group string }

func (f *filePartFn) ProcessElement(df deltaio.DataFile, emit func(string, []byte)) {
	emit(f.Group, encode(CommitPart{Table: f.Table, Kind: partFile, Add: df.Add, Extras: df.Extras}))
}

// TallyParts sums a table's tallies per window into commit parts.
func TallyParts(s beam.Scope, cfg StreamCommitConfig, table string, tallies beam.PCollection) beam.PCollection {
	s = s.Scope("TallyParts " + table)
	return beam.ParDo(s, &tallyPartFn{Table: table, Group: cfg.group(table)}, deltaio.SumTallies(s, tallies))
}

type tallyPartFn struct{ Table, Group string }

func (f *tallyPartFn) ProcessElement(name string, n int64, emit func(string, []byte)) {
	emit(f.Group, encode(CommitPart{Table: f.Table, Kind: partTally, Tally: name, N: n}))
}

// MentionParts counts a window's gold rows per mention, for the
// application table's commit.
func MentionParts(s beam.Scope, cfg StreamCommitConfig, table string, gold beam.PCollection) beam.PCollection {
	s = s.Scope("MentionParts")
	return beam.ParDo(s, &mentionPartFn{Table: table, Group: cfg.group(table)}, countMentions(s, gold))
}

type mentionPartFn struct{ Table, Group string }

func (f *mentionPartFn) ProcessElement(r ApplicationRow, emit func(string, []byte)) {
	emit(f.Group, encode(CommitPart{Table: f.Table, Kind: partMention, Mention: r}))
}

// CommitWindows commits parts (KV of group and CommitPart, in fixed
// windows) window by window: at a window's end its parts are grouped, then
// a stateful step per group, in the global window, commits the groups'
// tables batch after batch in order, whatever order the runner delivers
// the windows in (a later batch committed first would make an earlier one
// look held). It returns each table's commit of each batch.
func CommitWindows(s beam.Scope, cfg StreamCommitConfig, parts ...beam.PCollection) beam.PCollection {
	s = s.Scope("CommitWindows")
	grouped := beam.GroupByKey(s, beam.Flatten(s, parts...))
	commits := beam.ParDo(s, assembleCommit, grouped)
	global := beam.WindowInto(s, window.NewGlobalWindows(), commits)
	return beam.ParDo(s, &orderedCommitFn{Cfg: cfg}, global)
}

func assembleCommit(group string, parts func(*[]byte) bool, emit func(string, []byte)) error {
	wc := WindowCommit{Group: group, Batch: -1}
	var data []byte
	for parts(&data) {
		var p CommitPart
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("commit group %s: part: %w", group, err)
		}
		if p.Kind == partHeader {
			wc.Batch, wc.Files = p.Batch, p.Files
			continue
		}
		wc.Parts = append(wc.Parts, p)
	}
	emit(group, encode(wc))
	return nil
}

// orderedCommitFn commits one group's windows in batch order. Next is the
// batch it commits next; Pending holds windows that arrived before it
// (bounded by the batches in flight, which the source limits).
type orderedCommitFn struct {
	Cfg StreamCommitConfig

	Next    state.Value[int64]
	Pending state.Bag[[]byte] // WindowCommits, as JSON
}

func (f *orderedCommitFn) ProcessElement(ctx context.Context, sp state.Provider, group string, data []byte, emit func(BatchCommitted)) error {
	var wc WindowCommit
	if err := json.Unmarshal(data, &wc); err != nil {
		return fmt.Errorf("commit group %s: %w", group, err)
	}
	if wc.Batch < 0 {
		return fmt.Errorf("commit group %s: a window without its batch header (%d parts): the source emits one per window", group, len(wc.Parts))
	}
	next, ok, err := f.Next.Read(sp)
	if err != nil {
		return err
	}
	if !ok {
		next = f.Cfg.FirstBatch
	}
	if wc.Batch < next {
		// A replayed window: its commits carry its txn, so the tables that
		// hold it are left as they are.
		return f.commit(ctx, wc, emit)
	}
	stored, _, err := f.Pending.Read(sp)
	if err != nil {
		return err
	}
	pending := []WindowCommit{wc}
	for _, data := range stored {
		var w WindowCommit
		if err := json.Unmarshal(data, &w); err != nil {
			return fmt.Errorf("commit group %s: pending window: %w", group, err)
		}
		pending = append(pending, w)
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].Batch < pending[j].Batch })
	i := 0
	for ; i < len(pending) && pending[i].Batch <= next; i++ {
		if pending[i].Batch < next {
			continue // the same window twice
		}
		if err := f.commit(ctx, pending[i], emit); err != nil {
			return err
		}
		next++
	}
	if err := f.Next.Write(sp, next); err != nil {
		return err
	}
	if err := f.Pending.Clear(sp); err != nil {
		return err
	}
	for _, w := range pending[i:] {
		if err := f.Pending.Add(sp, encode(w)); err != nil {
			return err
		}
	}
	return nil
}

// commit commits one window to its group's tables, in order.
func (f *orderedCommitFn) commit(ctx context.Context, wc WindowCommit, emit func(BatchCommitted)) error {
	goldVersion := int64(-1)
	for _, name := range f.Cfg.Groups[wc.Group] {
		t, ok := f.Cfg.Tables[name]
		if !ok {
			return fmt.Errorf("commit group %s: no table %s", wc.Group, name)
		}
		lin := t.Lineage
		if t.FromPlan {
			lin.Plan, lin.Batch, lin.Files = fmt.Sprintf(t.PlanFormat, wc.Batch), Int64(wc.Batch), int(wc.Files)
		} else {
			lin.Txn = fmt.Sprintf("%s=%d", f.Cfg.AppID, wc.Batch)
		}
		var c deltaio.Committed
		var err error
		if t.Application {
			if goldVersion >= 0 {
				lin.To = Int64(goldVersion)
			}
			var rows []ApplicationRow
			for _, p := range wc.Parts {
				if p.Table == name && p.Kind == partMention {
					rows = append(rows, p.Mention)
				}
			}
			c, err = CommitApplication(ctx, ApplicationConfig{Location: t.Location, AppID: f.Cfg.AppID, Version: wc.Batch, Lineage: lin}, rows)
		} else {
			c, err = f.commitFiles(ctx, t, lin, name, wc)
		}
		if err != nil {
			return fmt.Errorf("batch %d: %w", wc.Batch, err)
		}
		goldVersion = c.Version
		emit(BatchCommitted{Table: name, Batch: wc.Batch, Version: c.Version, Rows: c.Rows})
	}
	return nil
}

func (f *orderedCommitFn) commitFiles(ctx context.Context, t StreamTable, lin Lineage, name string, wc WindowCommit) (deltaio.Committed, error) {
	schema, err := lake.ParseSchema(t.BaseSchema)
	if err != nil {
		return deltaio.Committed{}, err
	}
	var files []deltaio.DataFile
	tallies := map[string]int64{}
	for _, p := range wc.Parts {
		if p.Table != name {
			continue
		}
		switch p.Kind {
		case partFile:
			files = append(files, deltaio.DataFile{Add: p.Add, Extras: p.Extras})
		case partTally:
			tallies[p.Tally] += p.N
		}
	}
	return deltaio.CommitFiles(ctx, deltaio.Config{Location: t.Location, BaseSchema: schema, Operation: t.Operation,
		Parameters: lin.Params(t.Params), AppID: f.Cfg.AppID, Version: wc.Batch, Tallies: t.Tallies}, files, tallies)
}
