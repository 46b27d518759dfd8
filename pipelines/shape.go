package pipelines

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/tweetsentiment/medallion/lake/deltaio"
	"github.com/tweetsentiment/medallion/transforms"
)

// The pipeline has one shape, medallion: the stages a run runs, from what
// the first one reads to every table's rows. What differs between a batch,
// a stage offset and a streaming job is where the rows come from (planned
// files, a batch's bronze rows replayed, an upstream table's new files) and
// how each table's rows are committed: a sink.

// upstream is what a run's first stage reads.
type upstream struct {
	// bronze is raw:bronze's rows (its tallies: the files and records it
	// read; quarantine: what it quarantined), or bronze's rows read back
	// for stages that start at bronze:silver.
	bronze, bronzeTallies beam.PCollection
	quarantine            []beam.PCollection
	silver                beam.PCollection // silver's rows, for stages that start at silver:gold
}

// sink commits the rows of one unit of work (a batch, an offset, a
// stream's window) to each table.
type sink interface {
	// commit commits rows to t, with the tallies its commits record
	// (t.Tallies); it returns what gold's commit signals to application.
	commit(s beam.Scope, t transforms.Table, rows, tallies beam.PCollection) beam.PCollection
	// application merges gold's per-mention counts into the application
	// table once gold is committed.
	application(s beam.Scope, gold, goldCommitted beam.PCollection)
}

// readRaw is raw:bronze's reading: planned files to bronze rows. A planned
// file that vanished or changed is quarantined, and the batch goes on
// without it, only with skipFaults (no table holds the batch yet).
func (c Config) readRaw(s beam.Scope, files beam.PCollection, skipFaults bool) upstream {
	opened, missing, missingTallies := transforms.OpenPlanned(s, files, skipFaults)
	bronze, quarantined, readTallies := transforms.Bronze(s, opened, c.Limits)
	return upstream{bronze: bronze, bronzeTallies: beam.Flatten(s, missingTallies, readTallies), quarantine: []beam.PCollection{missing, quarantined}}
}

// medallion adds stages st to s, from in, committing every table's rows
// through k. The diagram: bronze's rows → silver (and quarantine) → gold →
// application.
func (c Config) medallion(s beam.Scope, st Stages, in upstream, k sink) {
	silver := in.silver
	if st.has(transforms.RawBronze) {
		k.commit(s, transforms.BronzeTable, in.bronze, in.bronzeTallies)
	}
	quarantine := in.quarantine
	if st.has(transforms.BronzeSilver) {
		var q, tallies beam.PCollection
		silver, q, tallies = transforms.Silver(s, in.bronze, c.Limits)
		k.commit(s, transforms.SilverTable, silver, tallies)
		quarantine = append(quarantine, q)
	}
	// A replayed batch's quarantine holds it already, and it reads no file:
	// nothing to flatten.
	if len(quarantine) > 0 {
		k.commit(s, transforms.QuarantineTable, beam.Flatten(s, quarantine...), beam.PCollection{})
	}
	if !st.has(transforms.SilverGold) {
		return
	}
	gold := transforms.Gold(s, silver, c.inferenceConfig(c.model.Dir))
	committed := k.commit(s, transforms.GoldTable, gold, beam.PCollection{})
	if st.has(transforms.GoldApplication) {
		k.application(s, gold, committed)
	}
}

// lineage is what a table's commits by stages st record of where their
// rows came from, before the unit of work (plan, txn, versions) is known;
// fromPlan reports that the rows came from the raw files of a plan.
func (c Config) lineage(t transforms.Table, st Stages) (l transforms.Lineage, fromPlan bool) {
	var stage transforms.Stage
	for _, w := range t.Writers {
		if st.has(w) {
			stage = w // the last of its writers that st runs
		}
	}
	l = transforms.Lineage{Stage: stage.String(), Table: stage.Input()}
	if st.has(transforms.RawBronze) && t.WrittenBy(transforms.RawBronze) {
		l = transforms.Lineage{Stage: transforms.RawBronze.String()}
		if stage != transforms.RawBronze {
			l.Stage += "+" + stage.String() // quarantine: raw:bronze+bronze:silver
		}
		return l, true
	}
	if t.Name == transforms.GoldTable.Name {
		l.Model = c.modelInfo()
	}
	return l, false
}

// batchSink commits each table once for a batch (or a stage offset): its
// commit carries the txn (st's app id, version), so a batch that is run
// again after a crash adds nothing twice.
type batchSink struct {
	c       Config
	st      Stages
	version int64
	plan    *Plan // the batch's plan (nil: an offset)
	// read is the lineage of what an offset read from its upstream table:
	// the tables its first stage writes record it.
	read *transforms.Lineage
}

// lineage is the table's lineage for this batch or offset.
func (k batchSink) lineage(t transforms.Table) transforms.Lineage {
	l, fromPlan := k.c.lineage(t, k.st)
	switch {
	case fromPlan && k.plan != nil:
		l.Plan, l.Batch, l.Files, l.Messages = planName(k.plan.Batch), transforms.Int64(k.plan.Batch), len(k.plan.Files), k.plan.messages()
	case k.read != nil && t.WrittenBy(k.st.First):
		r := *k.read
		r.Model = l.Model
		l = r
	default:
		l.Txn = batchTxn(k.st, k.version)
	}
	return l
}

func (k batchSink) commit(s beam.Scope, t transforms.Table, rows, tallies beam.PCollection) beam.PCollection {
	l := k.lineage(t)
	var params map[string]string
	if l.Model != nil {
		params = k.c.modelParams() // the EDA's evaluation run logs them
	}
	return deltaio.WriteTallied(s, deltaio.Config{Location: t.Location(k.c.Lake), BaseSchema: t.Schema, Shards: k.c.Shards, Codec: k.c.Codec,
		Parameters: l.Params(params), AppID: k.st.appID(), Version: k.version, Tallies: t.Tallies}, rows, tallies)
}

func (k batchSink) application(s beam.Scope, gold, goldCommitted beam.PCollection) {
	t := transforms.ApplicationTable
	transforms.Application(s, gold, goldCommitted, transforms.ApplicationConfig{Location: t.Location(k.c.Lake), AppID: k.st.appID(), Version: k.version,
		Lineage: k.lineage(t)})
}

// windowSink commits a streaming job's windows, each as one version of
// every table (transforms.CommitWindows): commit and application collect
// the parts, finish commits them.
type windowSink struct {
	c     Config
	cfg   transforms.StreamCommitConfig
	parts []beam.PCollection
}

func (k *windowSink) commit(s beam.Scope, t transforms.Table, rows, tallies beam.PCollection) beam.PCollection {
	files := deltaio.WriteFiles(s.Scope("Write "+t.Name), deltaio.Config{Location: t.Location(k.c.Lake), BaseSchema: t.Schema, Shards: k.c.Shards, Codec: k.c.Codec}, rows)
	k.parts = append(k.parts, transforms.FileParts(s, k.cfg, t.Name, files))
	if tallies.IsValid() {
		k.parts = append(k.parts, transforms.TallyParts(s, k.cfg, t.Name, tallies))
	}
	return beam.PCollection{} // application commits in gold's group, right after it
}

func (k *windowSink) application(s beam.Scope, gold, _ beam.PCollection) {
	k.parts = append(k.parts, transforms.MentionParts(s, k.cfg, transforms.ApplicationTable.Name, gold))
}

// finish commits every window: ticks say which batch a window is and how
// many files its plan holds.
func (k *windowSink) finish(s beam.Scope, ticks beam.PCollection) {
	transforms.CommitWindows(s, k.cfg, append([]beam.PCollection{transforms.HeaderParts(s, k.cfg, ticks)}, k.parts...)...)
}
