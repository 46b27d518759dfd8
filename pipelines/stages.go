package pipelines

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// The --stages values a run accepts: the whole chain from the raw files
// (the default, one job per batch), or the chain from the bronze table.
const (
	StagesAll        = "raw:bronze,bronze:silver,silver:gold,gold:application"
	StagesFromBronze = "bronze:silver,silver:gold,gold:application"
)

// StageAppID names the from-bronze stage's commits to silver, quarantine,
// gold and application in their txn actions; the version is the stage
// offset's sequence number.
const StageAppID = "medallion-from-bronze"

const stageDir = "_checkpoints/stages/bronze"

// stageOffset is one run of the from-bronze stage: the bronze versions it
// reads, fixed (put-if-absent) before any is read, like a Delta streaming
// source's offset log. A rerun after a kill redoes it with the same
// versions, and the tables that already hold it (txn) skip it.
type stageOffset struct {
	Seq     int64     `json:"seq"`
	From    int64     `json:"from_version"` // first bronze version read
	To      int64     `json:"to_version"`   // last bronze version read
	Created time.Time `json:"created"`
}

// StageResult is what one from-bronze run did.
type StageResult struct {
	Offsets    int   // offsets committed (a redo included)
	From, To   int64 // bronze versions read, over all offsets (-1: none)
	BronzeRows int64 // bronze rows carried to silver
}

// Print writes the result as one line.
func (r *StageResult) Print(w io.Writer) {
	if r.Offsets == 0 {
		fmt.Fprintln(w, "stages bronze:silver,silver:gold,gold:application: no new bronze commit")
		return
	}
	fmt.Fprintf(w, "stages bronze:silver,silver:gold,gold:application: bronze v%d–v%d, %s rows carried to silver, gold and application in %d offset(s)\n",
		r.From, r.To, group(r.BronzeRows), r.Offsets)
}

// RunFromBronze runs the silver, gold and application stages over the
// bronze commits since the stage's checkpoint, as a Delta streaming source
// reads a table: appended files, exactly once. Commits of the whole-chain
// job (txn AppID) are passed over, as that job carried their rows on
// already; what it reads is what other writers appended (a backfill, a
// second source, Spark). A commit that removes data is an error unless it
// is a compaction (dataChange=false), whose files hold rows read before.
func RunFromBronze(ctx context.Context, c Config, run Runner) (*StageResult, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	res := &StageResult{From: -1, To: -1}
	for {
		off, err := nextStageOffset(ctx, c)
		if err != nil || off == nil {
			return res, err
		}
		rows, err := runStageOffset(ctx, c, off, run)
		if err != nil {
			return nil, fmt.Errorf("stage from bronze, offset %d (bronze v%d–v%d): %w", off.Seq, off.From, off.To, err)
		}
		if res.Offsets == 0 {
			res.From = off.From
		}
		res.Offsets++
		res.To, res.BronzeRows = off.To, res.BronzeRows+rows
	}
}

// nextStageOffset returns the offset to run: the last one when a table
// lacks it (a run died), else a new one over bronze's versions since, else
// nil when bronze has nothing new.
func nextStageOffset(ctx context.Context, c Config) (*stageOffset, error) {
	last, err := newestRecord(ctx, c.Lake, stageDir, "stage checkpoint", func(o *stageOffset) int64 { return o.Seq })
	if err != nil {
		return nil, err
	}
	if last != nil {
		for _, t := range stageTables {
			held, err := holdsTxn(ctx, c.table(t), StageAppID, last.Seq)
			if err != nil {
				return nil, err
			}
			if !held {
				return last, nil
			}
		}
	}
	latest, err := latestVersion(ctx, c.table(BronzeTable))
	if err != nil {
		return nil, err
	}
	off := &stageOffset{From: 0, To: latest, Created: time.Now().UTC()}
	if last != nil {
		off.Seq, off.From = last.Seq+1, last.To+1
	}
	if latest < 0 || off.From > off.To {
		return nil, nil
	}
	if err := claimPlan(ctx, c.Lake, stageDir, off.Seq, off, "stage offset"); err != nil {
		return nil, err
	}
	return off, nil
}

// stageTables are the tables the from-bronze stage commits every offset to.
var stageTables = []string{SilverTable, QuarantineTable, GoldTable, ApplicationTable}

// stageAdds returns the files bronze's commits in [from, to] appended that
// the stage must read, in commit order.
func stageAdds(ctx context.Context, bronze *lake.Table, from, to int64) ([]lake.AddFile, error) {
	commits, err := bronze.History(ctx, from)
	if err != nil {
		return nil, err
	}
	var adds []lake.AddFile
	for _, cm := range commits {
		if cm.Version > to {
			break
		}
		if cm.HasTxn && cm.Txn.AppID == AppID {
			continue // the whole-chain job's batch: already carried to silver
		}
		for _, r := range cm.Removes {
			if r.DataChange {
				return nil, fmt.Errorf("bronze v%d (%s) removes data (%s): a stage reads appends only; rebuild silver from bronze instead", cm.Version, cm.Info.Operation, r.Path)
			}
		}
		for _, a := range cm.Adds {
			if a.DataChange {
				adds = append(adds, a)
			}
		}
	}
	if len(commits) > 0 && commits[0].Version > from {
		return nil, fmt.Errorf("bronze v%d–v%d: the log no longer has them (a checkpoint replaced them): the stage cannot read that range", from, commits[0].Version-1)
	}
	return adds, nil
}

// runStageOffset reads the offset's bronze rows and runs silver, gold and
// application on them in one Beam job; every commit carries (StageAppID,
// Seq), so a redo adds nothing twice. It returns the bronze rows read.
func runStageOffset(ctx context.Context, c Config, off *stageOffset, run Runner) (int64, error) {
	bronze := lake.Open(c.table(BronzeTable))
	adds, err := stageAdds(ctx, bronze, off.From, off.To)
	if err != nil {
		return 0, err
	}
	rows, err := readRows(ctx, bronze, off.To, adds, bronzeRows)
	if err != nil {
		return 0, fmt.Errorf("bronze: %w", err)
	}
	p, s := beam.NewPipelineWithRoot()
	silver, quarantine, _ := transforms.Silver(s, beam.CreateList(s, rows), c.Limits)
	from := transforms.Lineage{Stage: "bronze:silver", Table: BronzeTable, From: transforms.Int64(off.From), To: transforms.Int64(off.To), Mode: "append"}
	c.write(s, StageAppID, off.Seq, SilverTable, transforms.SilverSchema, silver, from.Params(nil))
	c.write(s, StageAppID, off.Seq, QuarantineTable, transforms.QuarantineSchema, quarantine, from.Params(nil))
	gold := transforms.Gold(s, silver, c.inferenceConfig(c.model.Dir))
	goldCommitted := c.write(s, StageAppID, off.Seq, GoldTable, transforms.GoldSchema, gold, c.scoredBy(SilverTable, fmt.Sprintf("%s=%d", StageAppID, off.Seq)))
	transforms.Application(s, gold, goldCommitted, transforms.ApplicationConfig{Location: c.table(ApplicationTable), AppID: StageAppID, Version: off.Seq,
		Lineage: transforms.Lineage{Stage: "gold:application", Table: GoldTable, Txn: fmt.Sprintf("%s=%d", StageAppID, off.Seq)}})
	if _, err := run(p); err != nil {
		return 0, batchFailure(off.Seq, err)
	}
	return int64(len(rows)), nil
}
