package pipelines

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
	"github.com/tweetsentiment/medallion/transforms"
)

// TableRun is what one batch committed to one table.
type TableRun struct {
	Name          string
	Before, After int64 // versions when the run started and ended; -1: no table
	// Rows the batch added: its commit's stats (txn version = the batch),
	// whichever run made that commit, so a redo accounts for tables an
	// interrupted run committed. For application, rows of its rewrites.
	Rows int64
	Held bool // the table held the batch before this run (a redo)
	// Committed is when the batch's last commit to the table was made.
	Committed time.Time
}

// Summary is what a run did, from the batch's commits: rows and quarantine
// reasons from their data files, and files, raw records and tweets with and
// without mentions from the tallies bronze's and silver's commits record
// (whichever run made them). Beam counters give only what is shown and not
// checked (texts inferred, processing time, workers): a runner that retries
// bundles counts those twice.
type Summary struct {
	Files, HiddenSkipped, RawRecords     int64
	TweetsWithMentions, NoMentions       int64
	Tables                               []TableRun
	QuarantineByReason                   map[string]int64 // "stage/category" → rows
	BronzeQuarantined, SilverQuarantined int64
	Elapsed                              time.Duration
	TextsInferred                        int64
	Model                                string // the URI and what it resolved to
	TopMentions                          []transforms.ApplicationRow
	// TopPositive and TopNegative are the mentions with the most positive
	// and the most negative predictions (what the live page shows).
	TopPositive, TopNegative []transforms.ApplicationRow
	// Planned is when the last batch was planned, and Landed when each of
	// its files landed (their modification times as planned): the batch's
	// latency and each file's landing → gold time. Zero and none for
	// batches read from a table's commits.
	Planned time.Time
	Landed  []time.Time
	Batch   int64 // the last batch (or offset); -1: nothing new to ingest
	// Stages are the stages the run ran. When they start from a table,
	// Source names the upstream versions read ("bronze v3–v7", for the
	// last offset) and UpstreamRows counts the rows read from it.
	Stages           Stages
	Source           string
	UpstreamRows     int64
	FirstBatch       int64
	Redo             bool // the batch finished one a killed run left
	Held             int  // tables that already held the redone batch
	PlannedFiles     int
	PlannedMessages  int64            // Kafka offsets the batches planned
	Topic            string           // the Kafka topic read ("": files)
	ProcessingMicros map[string]int64 // per stage: bronze, silver, gold
	// Workers is the work each worker process did (host/pid → files read,
	// texts inferred), from the runner's counters: on a cluster it shows
	// whether the work spread. Retried bundles may count twice here.
	Workers map[string]WorkerWork
	// Untallied names the tallies the batch's commits lacked, Pretally those
	// commits ("bronze v3": made by an earlier run, before commits recorded
	// tallies). Their numbers are unknown (0 here), and Check skips what
	// they would check.
	Untallied []string
	Pretally  []string
}

// untallied reports whether a tally is unknown: no commit recorded it.
func (s *Summary) untallied(name string) bool {
	for _, n := range s.Untallied {
		if n == name {
			return true
		}
	}
	return false
}

// WorkerWork is what one worker process did.
type WorkerWork struct{ Files, Texts int64 }

// spread counts the worker processes that read files and that ran the model.
func (s *Summary) spread() (readers, inferrers int) {
	for _, w := range s.Workers {
		if w.Files > 0 {
			readers++
		}
		if w.Texts > 0 {
			inferrers++
		}
	}
	return readers, inferrers
}

func (s *Summary) addWorker(worker string, w WorkerWork) {
	if s.Workers == nil {
		s.Workers = map[string]WorkerWork{}
	}
	old := s.Workers[worker]
	s.Workers[worker] = WorkerWork{Files: old.Files + w.Files, Texts: old.Texts + w.Texts}
}

// add folds one batch's summary into a run's.
func (s *Summary) add(b *Summary) {
	s.Files += b.Files
	s.HiddenSkipped += b.HiddenSkipped
	s.RawRecords += b.RawRecords
	s.TweetsWithMentions += b.TweetsWithMentions
	s.NoMentions += b.NoMentions
	s.TextsInferred += b.TextsInferred
	s.BronzeQuarantined += b.BronzeQuarantined
	s.SilverQuarantined += b.SilverQuarantined
	s.PlannedFiles += b.PlannedFiles
	s.PlannedMessages += b.PlannedMessages
	s.UpstreamRows += b.UpstreamRows
	s.Redo = s.Redo || b.Redo
	for _, n := range b.Untallied {
		if !s.untallied(n) {
			s.Untallied = append(s.Untallied, n)
		}
	}
	s.Pretally = append(s.Pretally, b.Pretally...)
	if s.Batch < 0 {
		s.FirstBatch, s.Held = b.Batch, b.Held
	}
	// A redo may run other stages than the batches after it: a table
	// first written by a later batch joins the list then.
	for _, t := range b.Tables {
		if i := slices.IndexFunc(s.Tables, func(o TableRun) bool { return o.Name == t.Name }); i >= 0 {
			s.Tables[i].After = t.After
			s.Tables[i].Rows += t.Rows
		} else {
			s.Tables = append(s.Tables, t)
		}
	}
	s.Batch, s.Model, s.TopMentions, s.Source = b.Batch, b.Model, b.TopMentions, b.Source
	s.TopPositive, s.TopNegative, s.Planned, s.Landed = b.TopPositive, b.TopNegative, b.Planned, b.Landed
	s.Stages.First, s.Stages.Last = min(s.Stages.First, b.Stages.First), max(s.Stages.Last, b.Stages.Last)
	if s.QuarantineByReason == nil {
		s.QuarantineByReason = map[string]int64{}
	}
	for k, v := range b.QuarantineByReason {
		s.QuarantineByReason[k] += v
	}
	if s.ProcessingMicros == nil {
		s.ProcessingMicros = map[string]int64{}
	}
	for k, v := range b.ProcessingMicros {
		s.ProcessingMicros[k] += v
	}
	for k, v := range b.Workers {
		s.addWorker(k, v)
	}
}

func (s *Summary) table(name string) TableRun {
	for _, t := range s.Tables {
		if t.Name == name {
			return t
		}
	}
	return TableRun{Name: name, Before: -1, After: -1}
}

// tallyField is where a tally goes in the summary.
func (s *Summary) tallyField(name string) *int64 {
	switch name {
	case transforms.TallyFilesRead:
		return &s.Files
	case transforms.TallyHiddenFiles:
		return &s.HiddenSkipped
	case transforms.TallyRawRecords:
		return &s.RawRecords
	case transforms.TallyWithMentions:
		return &s.TweetsWithMentions
	case transforms.TallyNoMentions:
		return &s.NoMentions
	}
	return nil
}

// summarize says what one batch (or offset) of stages st committed, from
// the commits that carry its txn.
func summarize(ctx context.Context, c Config, st Stages, batch int64, before map[string]int64, res beam.PipelineResult) (*Summary, error) {
	s := &Summary{QuarantineByReason: map[string]int64{}, Stages: st}
	if res != nil {
		for _, cr := range res.Metrics().AllMetrics().Counters() {
			v := cr.Result()
			if cr.Namespace() == transforms.WorkerNamespace {
				switch kind, worker, _ := transforms.ParseWorkerCounter(cr.Name()); kind {
				case "files":
					s.addWorker(worker, WorkerWork{Files: v})
				case "texts":
					s.addWorker(worker, WorkerWork{Texts: v})
				}
				continue
			}
			// Counters feed only what the commits do not hold: a runner
			// that retried bundles counts their work again.
			switch cr.Namespace() + "/" + cr.Name() {
			case "gold/texts_inferred":
				s.TextsInferred += v
			case "bronze/processing_us", "silver/processing_us", "gold/processing_us":
				if s.ProcessingMicros == nil {
					s.ProcessingMicros = map[string]int64{}
				}
				s.ProcessingMicros[cr.Namespace()] += v
			}
		}
	}
	s.Model = c.model.URI
	if c.model.Name != "" {
		s.Model = fmt.Sprintf("%s (%s version %d, %s)", c.model.URI, c.model.Name, c.model.Version, c.model.Stage)
	}
	for _, name := range st.tables() {
		t := lake.Open(c.table(name))
		after, err := latestVersion(ctx, t.Location)
		if err != nil {
			return nil, err
		}
		tr := TableRun{Name: name, Before: before[name], After: after}
		var commits []lake.Commit
		if name == transforms.ApplicationTable.Name {
			if after > tr.Before {
				commits, err = t.History(ctx, tr.Before+1)
			}
		} else if after >= 0 {
			commits, err = batchCommits(ctx, t, after, st.appID(), batch)
		}
		if err != nil {
			return nil, err
		}
		var tallies []string
		switch name {
		case transforms.BronzeTable.Name:
			tallies = transforms.BronzeTallies
		case transforms.SilverTable.Name:
			tallies = transforms.SilverTallies
		}
		for _, tally := range tallies {
			n, ok, err := commitTally(commits, tally)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", name, err)
			}
			if !ok {
				// Commits made by this run always record their tallies (0
				// when none arrived); only a commit an earlier run made,
				// before commits recorded them, may lack one. Its number is
				// unknown then, and the summary says so: counters would
				// count a retried bundle's work again.
				for _, cm := range commits {
					if cm.Version > tr.Before {
						return nil, fmt.Errorf("table %s: version %d, committed by this run, does not record tally %s", name, cm.Version, tally)
					}
					if v := fmt.Sprintf("%s v%d", name, cm.Version); !slices.Contains(s.Pretally, v) {
						s.Pretally = append(s.Pretally, v)
					}
				}
				s.Untallied = append(s.Untallied, tally)
				continue
			}
			*s.tallyField(tally) = n
		}
		var schema *arrow.Schema
		for _, cm := range commits {
			tr.Held = tr.Held || cm.Version <= tr.Before
			if at := time.UnixMilli(cm.Info.Timestamp); at.After(tr.Committed) {
				tr.Committed = at
			}
			for _, a := range cm.Adds {
				st, ok, err := a.ParseStats()
				if err != nil || !ok {
					return nil, fmt.Errorf("table %s: file %s has no stats", name, a.Path)
				}
				tr.Rows += st.NumRecords
				if name != transforms.QuarantineTable.Name {
					continue
				}
				if schema == nil {
					if schema, err = tableSchema(ctx, t, after); err != nil {
						return nil, err
					}
				}
				if err := s.countReasons(ctx, t, a, schema); err != nil {
					return nil, err
				}
			}
		}
		if tr.Held {
			s.Held++
		}
		s.Tables = append(s.Tables, tr)
	}
	if st.has(transforms.GoldApplication) {
		rows, err := applicationRows(ctx, lake.Open(c.table(transforms.ApplicationTable.Name)))
		if err != nil {
			return nil, err
		}
		s.TopMentions = topBy(rows, 10, func(r transforms.ApplicationRow) int64 { return r.Total })
		s.TopPositive = topBy(rows, 10, func(r transforms.ApplicationRow) int64 { return r.Positive })
		s.TopNegative = topBy(rows, 10, func(r transforms.ApplicationRow) int64 { return r.Negative })
	}
	return s, nil
}

// commitTally sums a tally over a batch's commits to one table; ok is false
// when none recorded it.
func commitTally(commits []lake.Commit, name string) (n int64, ok bool, err error) {
	for _, cm := range commits {
		v, has, err := deltaio.ReadTally(cm.Info.OperationParameters, name)
		if err != nil {
			return 0, false, fmt.Errorf("version %d: %w", cm.Version, err)
		}
		n, ok = n+v, ok || has
	}
	return n, ok, nil
}

// batchCommits returns the commits of a table that carry the batch's txn
// (app, batch). It reads back from version after over a window that doubles: the
// batch's commit is usually the latest, and a commit of an older batch ends
// the search. Commits of other writers (no txn of ours) are passed over.
func batchCommits(ctx context.Context, t *lake.Table, after int64, app string, batch int64) ([]lake.Commit, error) {
	for step := int64(1); ; step *= 2 {
		lo := max(after-step+1, 0)
		h, err := t.History(ctx, lo)
		if err != nil {
			return nil, err
		}
		var out []lake.Commit
		older := lo == 0
		for _, cm := range h {
			switch {
			case !cm.HasTxn || cm.Txn.AppID != app:
			case cm.Txn.Version == batch:
				out = append(out, cm)
			case cm.Txn.Version < batch:
				older = true
			}
		}
		if older || len(out) > 0 {
			return out, nil
		}
	}
}

func tableSchema(ctx context.Context, t *lake.Table, version int64) (*arrow.Schema, error) {
	snap, err := t.Snapshot(ctx, version)
	if err != nil {
		return nil, err
	}
	return snap.ReadSchema()
}

// applicationRows reads the application table (none when it does not exist).
func applicationRows(ctx context.Context, t *lake.Table) ([]transforms.ApplicationRow, error) {
	if ok, err := t.Exists(ctx); err != nil || !ok {
		return nil, err
	}
	return transforms.ReadApplication(ctx, t)
}

// topBy returns the n rows with the highest key (ties by mention), none
// whose key is 0.
func topBy(rows []transforms.ApplicationRow, n int, key func(transforms.ApplicationRow) int64) []transforms.ApplicationRow {
	sorted := slices.Clone(rows)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := key(sorted[i]), key(sorted[j])
		return a > b || a == b && sorted[i].Mention < sorted[j].Mention
	})
	end := 0
	for end < min(n, len(sorted)) && key(sorted[end]) > 0 {
		end++
	}
	return sorted[:end]
}

// countReasons groups a quarantine file's rows by stage and reason category.
func (s *Summary) countReasons(ctx context.Context, t *lake.Table, a lake.AddFile, schema *arrow.Schema) error {
	rec, err := t.ReadFile(ctx, a, schema)
	if err != nil {
		return err
	}
	defer rec.Release()
	idx := func(n string) *array.String {
		i := rec.Schema().FieldIndices(n)
		return rec.Column(i[0]).(*array.String)
	}
	stage, reason := idx("stage"), idx("reason")
	for i := 0; i < int(rec.NumRows()); i++ {
		cat, _, _ := strings.Cut(reason.Value(i), ":")
		s.QuarantineByReason[stage.Value(i)+"/"+cat]++
		switch stage.Value(i) {
		case transforms.BronzeTable.Name:
			s.BronzeQuarantined++
		case transforms.SilverTable.Name:
			s.SilverQuarantined++
		}
	}
	return nil
}

// Check verifies the accounting a run promises, for the stages it ran:
// every raw record is a bronze row or quarantined; every bronze row read
// reached silver, was quarantined there, or had no mention; every silver
// row read has its gold row. Every number it compares is held by the
// batch's commits (rows in their data files' stats and quarantine rows, raw
// records and tweets with and without mentions in bronze's and silver's
// tallies) or read from the upstream table, never by counters, which
// retried bundles inflate; so it holds for a redone batch too, whichever
// runs made the commits.
func (s *Summary) Check() error {
	if s.Batch < 0 {
		return nil
	}
	st := s.Stages
	bronze, silver := s.table(transforms.BronzeTable.Name).Rows, s.table(transforms.SilverTable.Name).Rows
	switch st.First {
	case transforms.BronzeSilver:
		bronze = s.UpstreamRows
	case transforms.SilverGold:
		silver = s.UpstreamRows
	}
	if st.has(transforms.SilverGold) {
		if gold := s.table(transforms.GoldTable.Name).Rows; gold != silver {
			return fmt.Errorf("accounting error: %d silver rows but %d gold rows", silver, gold)
		}
	}
	if st.has(transforms.RawBronze) && !s.untallied(transforms.TallyRawRecords) && s.RawRecords != bronze+s.BronzeQuarantined {
		return fmt.Errorf("accounting error: %d raw records but %d bronze rows + %d quarantined", s.RawRecords, bronze, s.BronzeQuarantined)
	}
	if st.has(transforms.BronzeSilver) && !s.untallied(transforms.TallyWithMentions) && !s.untallied(transforms.TallyNoMentions) &&
		bronze != s.TweetsWithMentions+s.NoMentions+s.SilverQuarantined {
		return fmt.Errorf("accounting error: %d bronze rows but %d with mentions + %d without + %d quarantined in silver",
			bronze, s.TweetsWithMentions, s.NoMentions, s.SilverQuarantined)
	}
	return nil
}

// unitLine names one batch for the stream's log: "batch 4: 12 files", or
// "offset 2: bronze v5–v7".
func (s *Summary) unitLine() string {
	if s.Stages.First > transforms.RawBronze {
		return fmt.Sprintf("offset %d: %s", s.Batch, s.Source)
	}
	line := fmt.Sprintf("batch %d: %d files", s.Batch, s.PlannedFiles)
	if s.PlannedMessages > 0 {
		line = fmt.Sprintf("batch %d: %d Kafka offsets", s.Batch, s.PlannedMessages)
	}
	if s.Redo {
		line += fmt.Sprintf(" (redone: a stopped run left it unfinished, with %d of %d tables holding it)", s.Held, len(s.Tables))
	}
	return line
}

// addedLine is the rows one batch added to each table it writes but
// application (whose rows are rewrites): "bronze +5, silver +3, ...".
func (s *Summary) addedLine() string {
	var parts []string
	for _, t := range s.Tables {
		if t.Name != transforms.ApplicationTable.Name {
			parts = append(parts, fmt.Sprintf("%s +%d", t.Name, t.Rows))
		}
	}
	if len(parts) == 0 {
		return transforms.ApplicationTable.Name
	}
	return strings.Join(parts, ", ")
}

// Print writes the run summary.
func (s *Summary) Print(w io.Writer) {
	n := func(v int64) string { return group(v) }
	st := s.Stages
	if s.Batch < 0 {
		if st.First > transforms.RawBronze {
			fmt.Fprintf(w, "\nnothing new for stages %s: %s has no commit since the stages' checkpoint that they have not read\n", st, st.source())
		} else if s.Topic != "" {
			fmt.Fprintf(w, "\nno new Kafka messages: topic %s has no offset past the lake's plans\n", s.Topic)
		} else {
			fmt.Fprintf(w, "\nno new input files: every input file was ingested before (files are immutable once seen)\n")
		}
		if s.Elapsed > 0 {
			fmt.Fprintf(w, "  elapsed               %12s\n", s.Elapsed.Round(time.Millisecond))
		}
		return
	}
	unit := "batch"
	if st.First > transforms.RawBronze {
		unit = "offset"
	}
	if s.FirstBatch < s.Batch {
		fmt.Fprintf(w, "\nrun summary (%ses %d–%d", unit, s.FirstBatch, s.Batch)
	} else {
		fmt.Fprintf(w, "\nrun summary (%s %d", unit, s.Batch)
	}
	if st != AllStages {
		fmt.Fprintf(w, " of stages %s", st)
	}
	if s.Redo {
		fmt.Fprintf(w, ", finishing the %s an interrupted run left", unit)
	}
	fmt.Fprintf(w, ")\n")
	if s.Source != "" {
		fmt.Fprintf(w, "  read from %-11s %12s rows   (%s; no raw file read)\n", st.source(), n(s.UpstreamRows), s.Source)
	}
	if st.has(transforms.RawBronze) {
		if s.PlannedMessages > 0 {
			fmt.Fprintf(w, "  Kafka offsets read    %12s\n", n(s.PlannedMessages))
		}
		fmt.Fprintf(w, "  files read            %12s", n(s.Files))
		if s.HiddenSkipped > 0 {
			fmt.Fprintf(w, "   (%s hidden files skipped)", n(s.HiddenSkipped))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  raw records           %12s\n", n(s.RawRecords))
		fmt.Fprintf(w, "  bronze rows           %12s\n", n(s.table(transforms.BronzeTable.Name).Rows))
		fmt.Fprintf(w, "  quarantined (bronze)  %12s\n", n(s.BronzeQuarantined))
	}
	if st.has(transforms.BronzeSilver) {
		fmt.Fprintf(w, "  tweets with mentions  %12s   (%s without: no silver row, as in the original)\n", n(s.TweetsWithMentions), n(s.NoMentions))
		fmt.Fprintf(w, "  quarantined (silver)  %12s\n", n(s.SilverQuarantined))
		fmt.Fprintf(w, "  silver rows           %12s   (one per tweet and distinct mention)\n", n(s.table(transforms.SilverTable.Name).Rows))
	}
	if st.has(transforms.SilverGold) {
		fmt.Fprintf(w, "  gold rows             %12s   (%s distinct texts inferred by %s)\n", n(s.table(transforms.GoldTable.Name).Rows), n(s.TextsInferred), s.Model)
	}
	if len(s.Workers) > 1 {
		readers, inferrers := s.spread()
		unit := "files"
		if s.PlannedMessages > 0 {
			unit = "Kafka ranges"
		}
		fmt.Fprintf(w, "  worker processes      %12d   (%d read %s, %d ran the model)\n", len(s.Workers), readers, unit, inferrers)
	}
	if app := s.table(transforms.ApplicationTable.Name); app.After >= 0 {
		fmt.Fprintf(w, "  application mentions  %12s\n", n(app.Rows))
	}
	if len(s.Untallied) > 0 {
		fmt.Fprintf(w, "  not known: %s (%s committed before commits recorded tallies; the accounting check skips them)\n",
			strings.Join(s.Untallied, ", "), strings.Join(s.Pretally, ", "))
	}
	if len(s.QuarantineByReason) > 0 {
		fmt.Fprintf(w, "  quarantine by reason:\n")
		keys := make([]string, 0, len(s.QuarantineByReason))
		for k := range s.QuarantineByReason {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := s.QuarantineByReason[keys[i]], s.QuarantineByReason[keys[j]]
			return a > b || a == b && keys[i] < keys[j]
		})
		for _, k := range keys {
			fmt.Fprintf(w, "    %-28s %10s\n", k, n(s.QuarantineByReason[k]))
		}
	}
	if len(s.TopMentions) > 0 {
		fmt.Fprintf(w, "  top mentions (all runs):\n    %-22s %8s %8s %8s %8s\n", "mention", "total", "negative", "neutral", "positive")
		for _, m := range s.TopMentions {
			fmt.Fprintf(w, "    @%-21s %8s %8s %8s %8s\n", m.Mention, n(m.Total), n(m.Negative), n(m.Neutral), n(m.Positive))
		}
	}
	fmt.Fprintf(w, "  tables:")
	for _, t := range s.Tables {
		if t.After > t.Before {
			fmt.Fprintf(w, "  %s v%d", t.Name, t.After)
		} else {
			fmt.Fprintf(w, "  %s unchanged (v%d)", t.Name, t.After)
		}
	}
	fmt.Fprintln(w)
	if s.Elapsed > 0 {
		fmt.Fprintf(w, "  elapsed               %12s\n", s.Elapsed.Round(time.Millisecond))
	}
}

// numbers prints counts with thousands separators (12,345).
var numbers = message.NewPrinter(language.English)

// group formats 12345 as 12,345.
func group(v int64) string { return numbers.Sprint(v) }

// FormatCount formats 12345 as 12,345, as the summaries print counts.
func FormatCount(v int64) string { return group(v) }
