package pipelines

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
	"github.com/tweetsentiment/medallion/transforms"
)

// RebuildAppID names a rebuild's commits to silver and quarantine in their
// txn actions (version: the rebuild's number).
const RebuildAppID = "medallion-rebuild"

// rebuildPlan is one rebuild of silver, fixed before anything is read: the
// bronze and quarantine versions it reads, and the txn versions of silver's
// and quarantine's writers when planned (the overwrites must still find
// them, so they drop no batch). Written once, put-if-absent; a rerun redoes it.
type rebuildPlan struct {
	Seq               int64            `json:"seq"`
	BronzeVersion     int64            `json:"bronze_version"`
	QuarantineVersion int64            `json:"quarantine_version"`
	SilverTxns        map[string]int64 `json:"silver_txns"`
	QuarantineTxns    map[string]int64 `json:"quarantine_txns"`
	Created           time.Time        `json:"created"`
}

// RebuildResult is what a rebuild committed.
type RebuildResult struct {
	Seq               int64
	Redo              bool
	BronzeVersion     int64
	BronzeRows        int64
	SilverVersion     int64
	SilverRows        int64
	SilverQuarantined int64
	Rescore           *RescoreResult // gold and application, from the new silver
}

// Print writes the result as a few lines.
func (r *RebuildResult) Print(w io.Writer) {
	redo := ""
	if r.Redo {
		redo = " (finished a rebuild an earlier run left)"
	}
	fmt.Fprintf(w, "rebuild %d%s: silver v%d (%s rows, %s bronze rows quarantined by silver's rules) from bronze v%d (%s rows); no raw file read\n",
		r.Seq, redo, r.SilverVersion, group(r.SilverRows), group(r.SilverQuarantined), r.BronzeVersion, group(r.BronzeRows))
	if r.Rescore != nil {
		r.Rescore.Print(w)
	}
}

// RebuildSilver recomputes silver from the whole current bronze table with
// this build's silver rules (a bug fix, new limits), as one overwrite of
// silver and of quarantine's silver rows, then re-scores gold from the new
// silver and rebuilds application (Rescore). It reads no raw file. A rebuild
// a killed run left is finished first.
func RebuildSilver(ctx context.Context, c Config, run Runner) (*RebuildResult, error) {
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	last, err := newest(ctx, rebuildLedger(c.Lake), func(p *rebuildPlan) int64 { return p.Seq })
	if err != nil {
		return nil, err
	}
	p, redo := last, true
	if last != nil {
		done, err := rebuildCommitted(ctx, c, last)
		if err != nil {
			return nil, err
		}
		if done {
			// Its silver is in; the rescore after it may not be.
			if res, err := finishRebuild(ctx, c, last, run); err != nil || res != nil {
				if res != nil {
					res.Redo = true
				}
				return res, err
			}
			p = nil
		}
	}
	if p == nil {
		if p, err = planRebuild(ctx, c, last); err != nil {
			return nil, err
		}
		redo = false
	}
	res, err := runRebuild(ctx, c, p, run)
	if err != nil {
		return nil, fmt.Errorf("rebuild %d: %w", p.Seq, err)
	}
	res.Redo = redo
	return res, nil
}

// rebuildCommitted reports whether silver and quarantine hold the rebuild.
func rebuildCommitted(ctx context.Context, c Config, p *rebuildPlan) (bool, error) {
	return tablesHold(ctx, c.Lake, []string{transforms.SilverTable.Name, transforms.QuarantineTable.Name}, RebuildAppID, p.Seq)
}

// finishRebuild runs the rescore a committed rebuild needs when gold was
// not yet scored from its silver (a run died in between), and returns nil
// when it was.
func finishRebuild(ctx context.Context, c Config, p *rebuildPlan, run Runner) (*RebuildResult, error) {
	silverV, err := rebuildVersion(ctx, c, p)
	if err != nil {
		return nil, err
	}
	rp, err := lastRescorePlan(ctx, c.Lake)
	if err != nil {
		return nil, err
	}
	if rp != nil && rp.SilverVersion >= silverV {
		if done, err := holdsTxn(ctx, c.table(transforms.ApplicationTable.Name), RescoreAppID, rp.Seq); err != nil || done {
			return nil, err
		}
	}
	res := &RebuildResult{Seq: p.Seq, BronzeVersion: p.BronzeVersion, SilverVersion: silverV}
	if res.Rescore, err = Rescore(ctx, c.rescoreConfig(), run); err != nil {
		return nil, fmt.Errorf("rebuild %d: rescore: %w", p.Seq, err)
	}
	return res, nil
}

// rebuildVersion is the silver version that committed the rebuild.
func rebuildVersion(ctx context.Context, c Config, p *rebuildPlan) (int64, error) {
	t := lake.Open(c.table(transforms.SilverTable.Name))
	after, err := latestVersion(ctx, t.Location)
	if err != nil {
		return -1, err
	}
	commits, err := batchCommits(ctx, t, after, RebuildAppID, p.Seq)
	if err != nil || len(commits) == 0 {
		return -1, fmt.Errorf("silver: rebuild %d's commit not found (%v)", p.Seq, err)
	}
	return commits[len(commits)-1].Version, nil
}

// rescoreConfig is c as a rescore reads it: from silver.
func (c Config) rescoreConfig() Config {
	rc := c
	rc.FromTable, rc.Input = transforms.SilverTable.Name, ""
	return rc
}

// planRebuild fixes the next rebuild. Bronze rows that silver lacks
// (an unfinished batch, rows bronze:silver has not read) would be added
// by the rebuild and again later, so it waits for them.
func planRebuild(ctx context.Context, c Config, last *rebuildPlan) (*rebuildPlan, error) {
	for _, stage := range []transforms.Stage{transforms.BronzeSilver, transforms.SilverGold, transforms.GoldApplication} {
		pending, err := stagePending(ctx, c, stage)
		if err != nil {
			return nil, err
		}
		if pending != "" {
			return nil, &Failure{Msg: "rebuild silver: " + pending,
				Hint: fmt.Sprintf("run {Stages} %s first (it carries them on), then rebuild", Stages{stage, transforms.GoldApplication})}
		}
	}
	if rp, err := lastRescorePlan(ctx, c.Lake); err != nil {
		return nil, err
	} else if rp != nil {
		if done, err := holdsTxn(ctx, c.table(transforms.ApplicationTable.Name), RescoreAppID, rp.Seq); err != nil {
			return nil, err
		} else if !done {
			return nil, &Failure{Msg: fmt.Sprintf("rebuild silver: rescore %d is unfinished", rp.Seq), Hint: "run medallion rescore first (it finishes it), then medallion rebuild"}
		}
	}
	snaps := map[string]*lake.Snapshot{}
	for _, t := range []string{transforms.BronzeTable.Name, transforms.SilverTable.Name, transforms.QuarantineTable.Name} {
		snap, err := lake.Open(c.table(t)).Snapshot(ctx, -1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (run the pipeline first)", t, err)
		}
		snaps[t] = snap
	}
	for app, v := range txnsOf(snaps[transforms.BronzeTable.Name], carriers(transforms.RawBronze, transforms.BronzeSilver)) {
		if s, ok := snaps[transforms.SilverTable.Name].TxnVersion(app); !ok || s != v {
			return nil, &Failure{Msg: fmt.Sprintf("rebuild silver: bronze holds %s version %d but silver does not: a batch is unfinished", app, v),
				Hint: "run the pipeline once more (it finishes the batch), then medallion rebuild"}
		}
	}
	p := &rebuildPlan{BronzeVersion: snaps[transforms.BronzeTable.Name].Version, QuarantineVersion: snaps[transforms.QuarantineTable.Name].Version,
		SilverTxns: txnsOf(snaps[transforms.SilverTable.Name], carriers(transforms.BronzeSilver, transforms.BronzeSilver)), QuarantineTxns: txnsOf(snaps[transforms.QuarantineTable.Name], quarantineWriters()),
		Created: time.Now().UTC()}
	if last != nil {
		p.Seq = last.Seq + 1
	}
	if err := rebuildLedger(c.Lake).claim(ctx, p.Seq, p); err != nil {
		return nil, err
	}
	return p, nil
}

// quarantineWriters are the txn app ids of the runs that write quarantine.
func quarantineWriters() []string {
	out := carriers(transforms.RawBronze, transforms.RawBronze)
	for _, app := range carriers(transforms.BronzeSilver, transforms.BronzeSilver) {
		if st, _ := stagesOf(app); st.First > transforms.RawBronze {
			out = append(out, app)
		}
	}
	return out
}

// runRebuild runs one planned rebuild: a Beam job reads the whole bronze
// and quarantine at the plan's versions in its workers, applies the silver
// rules, and overwrites silver and quarantine (keeping bronze's quarantine
// rows); the rescore follows.
func runRebuild(ctx context.Context, c Config, p *rebuildPlan, run Runner) (*RebuildResult, error) {
	res := &RebuildResult{Seq: p.Seq, BronzeVersion: p.BronzeVersion}
	bronze, quarantine := lake.Open(c.table(transforms.BronzeTable.Name)), lake.Open(c.table(transforms.QuarantineTable.Name))
	bsnap, err := bronze.Snapshot(ctx, p.BronzeVersion)
	if err != nil {
		return nil, fmt.Errorf("bronze v%d: %w", p.BronzeVersion, err)
	}
	bfiles, bronzeRows, err := tableFiles(ctx, bronze, bsnap, bsnap.Files())
	if err != nil {
		return nil, fmt.Errorf("bronze v%d: %w", p.BronzeVersion, err)
	}
	qsnap, err := quarantine.Snapshot(ctx, p.QuarantineVersion)
	if err != nil {
		return nil, fmt.Errorf("quarantine v%d: %w", p.QuarantineVersion, err)
	}
	qfiles, _, err := tableFiles(ctx, quarantine, qsnap, qsnap.Files())
	if err != nil {
		return nil, fmt.Errorf("quarantine v%d: %w", p.QuarantineVersion, err)
	}
	res.BronzeRows = bronzeRows
	pl, s := beam.NewPipelineWithRoot()
	rows := transforms.ReadBronze(s, beam.Reshuffle(s, beam.CreateList(s, bfiles)))
	silver, silverQ, tallies := transforms.Silver(s, rows, c.Limits)
	kept := transforms.ReadQuarantine(s, beam.Reshuffle(s, beam.CreateList(s, qfiles)), transforms.SilverTable.Name)
	lineage := transforms.Lineage{Stage: transforms.BronzeSilver.String(), Table: transforms.BronzeTable.Name, To: transforms.Int64(p.BronzeVersion), Mode: "full"}
	params := lineage.Params(map[string]string{"rebuild": fmt.Sprint(p.Seq)})
	deltaio.WriteTallied(s, deltaio.Config{Location: c.table(transforms.SilverTable.Name), BaseSchema: transforms.SilverSchema, Shards: c.Shards, Codec: c.Codec,
		Operation: "REBUILD", Parameters: params, AppID: RebuildAppID, Version: p.Seq, Overwrite: true,
		RequireTxn: requireTxns(carriers(transforms.BronzeSilver, transforms.BronzeSilver), p.SilverTxns), Tallies: transforms.SilverTallies}, silver, tallies)
	deltaio.Write(s, deltaio.Config{Location: c.table(transforms.QuarantineTable.Name), BaseSchema: transforms.QuarantineSchema, Shards: c.Shards, Codec: c.Codec,
		Operation: "REBUILD", Parameters: params, AppID: RebuildAppID, Version: p.Seq, Overwrite: true,
		RequireTxn: requireTxns(quarantineWriters(), p.QuarantineTxns)}, beam.Flatten(s, kept, silverQ))
	if _, err := run(pl); err != nil {
		return nil, batchFailure(p.Seq, err)
	}
	// The accounting, from the commits: every bronze row is a tweet with
	// mentions, one without, or quarantined by silver.
	silverV, err := rebuildVersion(ctx, c, p)
	if err != nil {
		return nil, err
	}
	res.SilverVersion = silverV
	commits, err := lake.Open(c.table(transforms.SilverTable.Name)).History(ctx, silverV)
	if err != nil || len(commits) == 0 {
		return nil, fmt.Errorf("silver v%d: %v", silverV, err)
	}
	var tally [2]int64
	for i, name := range []string{transforms.TallyWithMentions, transforms.TallyNoMentions} {
		if tally[i], _, err = commitTally(commits[:1], name); err != nil {
			return nil, err
		}
	}
	for _, a := range commits[0].Adds {
		if st, ok, err := a.ParseStats(); err == nil && ok {
			res.SilverRows += st.NumRecords
		}
	}
	qt := lake.Open(c.table(transforms.QuarantineTable.Name))
	qnow, err := qt.Snapshot(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	qrows, err := qt.Rows(ctx, qnow)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	for _, r := range qrows {
		if r["stage"] == transforms.SilverTable.Name {
			res.SilverQuarantined++
		}
	}
	if bronzeRows != tally[0]+tally[1]+res.SilverQuarantined {
		return nil, fmt.Errorf("accounting error: %d bronze rows but %d with mentions + %d without + %d quarantined in silver",
			bronzeRows, tally[0], tally[1], res.SilverQuarantined)
	}
	if res.Rescore, err = Rescore(ctx, c.rescoreConfig(), run); err != nil {
		return nil, fmt.Errorf("rescore: %w", err)
	}
	return res, nil
}
