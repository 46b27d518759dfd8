package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// AppID names this pipeline's writes in the tables' txn actions.
const AppID = "medallion"

// Plan is one batch: the files it ingests, fixed before any is read, so a
// run that dies half-way is redone with exactly the same files. Plans are
// written once (put-if-absent) under LAKE/_checkpoints/plans, like Spark's
// offset log; a plan is complete when every table records its number in a
// txn action, atomically with the batch's data.
//
// Sizes and ModTimes (Unix nanoseconds, parallel to Files) record what each
// file was when planned, so a redo can tell a file the user deleted or
// rewrote since from the one planned (plans written before these fields
// existed have neither, and their files are checked for existence only).
type Plan struct {
	Batch int64    `json:"batch"`
	Files []string `json:"files"`
	// Kafka are the offsets the batch reads from a Kafka topic, one range
	// per partition (a plan holds files or ranges, never both).
	Kafka    []transforms.KafkaRange `json:"kafka,omitempty"`
	Sizes    []int64                 `json:"sizes,omitempty"`
	ModTimes []int64                 `json:"mod_times,omitempty"`
	// Stages are the stages the batch runs ("": the whole chain); a redo
	// runs the same ones, whatever --stages the rerun was given.
	Stages  string    `json:"stages,omitempty"`
	Created time.Time `json:"created"`
}

// Batch is one batch as a run finds it: its plan, as the ledger holds it,
// and what the tables held of it when the run began.
type Batch struct {
	Plan *Plan
	// Held are the tables that had committed the batch.
	Held []string
	// Replay is bronze's rows of the batch, when its files are no longer as
	// planned and bronze and quarantine hold it: the other tables follow
	// from them.
	Replay []transforms.BronzeRow
}

// stages returns the batch's stages.
func (p *Plan) stages() Stages {
	s, err := ParseStages(p.Stages)
	if err != nil {
		return AllStages
	}
	return s
}

// planned returns the plan's files with what planning recorded of each.
func (p *Plan) planned() []transforms.PlannedFile {
	out := make([]transforms.PlannedFile, len(p.Files))
	known := len(p.Sizes) == len(p.Files) && len(p.ModTimes) == len(p.Files)
	for i, f := range p.Files {
		out[i] = transforms.PlannedFile{Path: f, Known: known}
		if known {
			out[i].Size, out[i].ModTime = p.Sizes[i], p.ModTimes[i]
		}
	}
	return out
}

// landed returns when each planned file landed: its modification time as
// planned (none for plans written before these were recorded).
func (p *Plan) landed() []time.Time {
	out := make([]time.Time, len(p.ModTimes))
	for i, ns := range p.ModTimes {
		out[i] = time.Unix(0, ns)
	}
	return out
}

type checkpoint struct {
	plans   ledger
	lake    string
	claimed map[string]bool // files in any plan
	// kafkaNext is, per topic and partition, the offset after the plans' last.
	kafkaNext map[string]int64
	last      *Plan
	byBatch   map[int64]*Plan // the plans read or written
}

// planName is where a batch's plan is, relative to the lake.
func planName(batch int64) string { return plansLedger("").name(batch) }

func openCheckpoint(ctx context.Context, lakeDir string) (*checkpoint, error) {
	cp := &checkpoint{plans: plansLedger(lakeDir), lake: lakeDir, claimed: map[string]bool{}, kafkaNext: map[string]int64{}, byBatch: map[int64]*Plan{}}
	plans, err := records[Plan](ctx, cp.plans)
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		cp.add(p)
	}
	return cp, nil
}

// add records a plan read or written: its files are claimed.
func (cp *checkpoint) add(p *Plan) {
	for _, f := range p.Files {
		cp.claimed[f] = true
	}
	for _, r := range p.Kafka {
		if k := kafkaKey(r.Topic, r.Partition); r.To > cp.kafkaNext[k] {
			cp.kafkaNext[k] = r.To
		}
	}
	cp.byBatch[p.Batch] = p
	if cp.last == nil || p.Batch > cp.last.Batch {
		cp.last = p
	}
}

// isClaimed reports whether a plan already holds the file.
func (cp *checkpoint) isClaimed(path string) bool { return cp.claimed[path] }

// complete reports whether every table the plan's stages write recorded its batch.
func (cp *checkpoint) complete(ctx context.Context, p *Plan) (bool, error) {
	return tablesHold(ctx, cp.lake, p.stages().tables(), p.stages().appID(), p.Batch)
}

// unfinished returns the oldest plan some table lacks, nil when every
// table holds every plan. Only the newest plans can be unfinished (a
// streaming job has several in flight), and a table commits batches in
// order, so holding one means holding every earlier one: the search goes
// back from the newest plan to the first complete one.
func (cp *checkpoint) unfinished(ctx context.Context) (*Plan, error) {
	var oldest *Plan
	for p := cp.last; p != nil; p = cp.byBatch[p.Batch-1] {
		done, err := cp.complete(ctx, p)
		if err != nil || done {
			return oldest, err
		}
		oldest = p
	}
	return oldest, nil
}

// catchUp reads the plans up to batch upTo that this checkpoint has not
// seen (another process planned them since it was opened).
func (cp *checkpoint) catchUp(ctx context.Context, upTo int64) error {
	from := int64(0)
	if cp.last != nil {
		from = cp.last.Batch + 1
	}
	for b := from; b <= upTo; b++ {
		p := new(Plan)
		if err := cp.plans.read(ctx, b, p); err != nil {
			return err
		}
		cp.add(p)
	}
	return nil
}

// inputFile is a file found under --input.
type inputFile struct {
	Path string
	Size int64
	Mod  time.Time
}

// next returns the batch to run: an unfinished plan first (a run died), else
// a new plan of files not claimed before, else nil. A new plan takes files in
// name order up to maxBytes of input (at least one file), which bounds what
// one batch holds in memory whatever the input's size. A new plan runs st.
func (cp *checkpoint) next(ctx context.Context, available []inputFile, maxBytes int64, st Stages) (plan *Plan, redo bool, err error) {
	if p, err := cp.unfinished(ctx); err != nil || p != nil {
		return p, p != nil, err
	}
	plan, err = cp.plan(ctx, available, maxBytes, st)
	return plan, false, err
}

// plan writes and returns a new plan of files not claimed before (nil when
// there is none), whether or not the last plan is complete: a streaming
// job's source plans batch after batch while earlier ones are in flight.
func (cp *checkpoint) plan(ctx context.Context, available []inputFile, maxBytes int64, st Stages) (*Plan, error) {
	var fresh []inputFile
	for _, f := range available { // listInput may have left claimed files in
		if !cp.claimed[f.Path] {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].Path < fresh[j].Path })
	p := &Plan{Batch: 0, Created: time.Now().UTC()}
	if st != AllStages {
		p.Stages = st.String()
	}
	for _, f := range fresh[:batchLen(fresh, maxBytes)] {
		p.Files = append(p.Files, f.Path)
		p.Sizes = append(p.Sizes, f.Size)
		p.ModTimes = append(p.ModTimes, f.Mod.UnixNano())
	}
	if cp.last != nil {
		p.Batch = cp.last.Batch + 1
	}
	if err := cp.plans.claim(ctx, p.Batch, p); err != nil {
		return nil, err
	}
	cp.add(p)
	return p, nil
}

// listInput lists the input's files (a folder, or a glob), hidden ones and
// those claimed (when claimed is not nil) left out, as absolute paths with
// their sizes. Local files are stat'ed only when unclaimed: a run over
// 100,000 one-tweet files lists them once per batch, and later listings
// then cost a directory read, not 100,000 stats.
func listInput(input string, claimed func(path string) bool) ([]inputFile, error) {
	ctx := context.Background()
	if !lake.IsRemote(input) { // absolute, so paths match the plans'
		abs, err := filepath.Abs(input)
		if err != nil {
			return nil, err
		}
		input = abs
	}
	pattern := input
	if lake.IsDir(ctx, input) {
		pattern = lake.Join(input, "*")
	}
	matches, err := lake.Glob(ctx, pattern, func(p string) bool {
		return transforms.IsHidden(p) || claimed != nil && claimed(p)
	})
	if err != nil {
		return nil, &Failure{Msg: fmt.Sprintf("{Input} %s: %v", input, err), Err: err}
	}
	out := make([]inputFile, len(matches))
	for i, m := range matches {
		out[i] = inputFile{Path: m.Path, Size: m.Size, Mod: m.Mod}
	}
	return out, nil
}

// FirstBatchFiles is how many of input's files the first batch of a run
// takes, with at most maxBytes of raw input (0: no limit); a progress bar
// counts up to it.
func FirstBatchFiles(input string, maxBytes int64) (int, error) {
	files, err := listInput(input, nil)
	if err != nil {
		return 0, err
	}
	return batchLen(files, maxBytes), nil
}

// batchLen is how many of files, in order, one batch takes: up to maxBytes
// of input (0: no limit), and at least one file.
func batchLen(files []inputFile, maxBytes int64) int {
	var n int
	var bytes int64
	for _, f := range files {
		if n > 0 && maxBytes > 0 && bytes+f.Size > maxBytes {
			break
		}
		n++
		bytes += f.Size
	}
	return n
}

// backlog counts what the input holds that the tables do not yet: files no
// plan claims, and those of the plans after the last committed batch; or,
// for a Kafka topic, the offsets between each partition's end and the last
// committed batch's (medallion_pending_inputs).
type backlog struct {
	input     string
	cp        *checkpoint
	committed int64                   // the last batch every table holds
	kafka     *transforms.KafkaSource // set for a Kafka input
}

// backlog returns what counts the run's pending inputs: nil when it keeps
// no metrics, reads a table's commits, or cannot read the checkpoint (logged:
// metrics never make a run fail; the run itself then says what is wrong).
func (c Config) backlog(ctx context.Context) *backlog {
	if c.Metrics == nil || c.fromTable() {
		return nil
	}
	b, err := c.openBacklog(ctx)
	if err != nil {
		slog.Warn("metrics: pending inputs not counted", "err", err)
		return nil
	}
	return b
}

func (c Config) openBacklog(ctx context.Context) (*backlog, error) {
	cp, err := openCheckpoint(ctx, c.Lake)
	if err != nil {
		return nil, err
	}
	b := &backlog{input: c.Input, cp: cp, committed: -1}
	if c.kafka() {
		b.kafka = &c.Kafka.Source
	}
	if cp.last != nil {
		b.committed = cp.last.Batch
		if p, err := cp.unfinished(ctx); err != nil {
			return nil, err
		} else if p != nil {
			b.committed = p.Batch - 1
		}
	}
	return b, nil
}

// done records that every table committed batch.
func (b *backlog) done(batch int64) {
	if b != nil {
		b.committed = batch
	}
}

// count reads the plans made since it last looked (by this run's job or
// another process), lists the input and counts.
func (b *backlog) count(ctx context.Context) (int, error) {
	for {
		next := int64(0)
		if b.cp.last != nil {
			next = b.cp.last.Batch + 1
		}
		p := new(Plan)
		if err := b.cp.plans.read(ctx, next, p); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return 0, err
		}
		b.cp.add(p)
	}
	if b.kafka != nil {
		return b.countKafka(ctx)
	}
	files, err := listInput(b.input, b.cp.isClaimed)
	if err != nil {
		return 0, err
	}
	n := len(files)
	for batch := b.committed + 1; b.cp.last != nil && batch <= b.cp.last.Batch; batch++ {
		if p := b.cp.byBatch[batch]; p != nil {
			n += len(p.Files)
		}
	}
	return n, nil
}
