package pipelines

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/lake/deltaio"
	"github.com/tweetsentiment/medallion/tracking"
	"github.com/tweetsentiment/medallion/transforms"
)

// RescoreAppID names a rescore's commits to gold and application in their
// txn actions (version: the rescore's number), so a rescore killed half-way
// is finished by the next one and never applied twice.
const RescoreAppID = "medallion-rescore"

// rescorePlan is one rescore, fixed before anything is read: the silver
// version it scores, the txn versions of gold's writers when planned (gold
// must still be at them when overwritten, so it drops no batch) and the
// model. Like a batch plan it is written once, put-if-absent, and a rerun
// redoes it exactly.
type rescorePlan struct {
	Seq           int64             `json:"seq"`
	SilverVersion int64             `json:"silver_version"`
	Txns          map[string]int64  `json:"txns"`
	Model         tracking.Resolved `json:"model"`
	Created       time.Time         `json:"created"`
}

// RescoreResult is what a rescore committed.
type RescoreResult struct {
	Seq                int64
	Redo               bool // finished a rescore a killed run left
	SilverVersion      int64
	GoldVersion        int64
	GoldRows           int64
	ApplicationVersion int64
	Model              string
}

// Print writes the result as a few lines.
func (r *RescoreResult) Print(w io.Writer) {
	redo := ""
	if r.Redo {
		redo = " (finished a rescore an earlier run left)"
	}
	fmt.Fprintf(w, "rescore %d%s: gold v%d (%s rows) from silver v%d with %s; application v%d rebuilt from gold; no raw file read\n",
		r.Seq, redo, r.GoldVersion, group(r.GoldRows), r.SilverVersion, r.Model, r.ApplicationVersion)
}

// Rescore recomputes gold from the whole current silver table with the
// configured (resolved) model, as one overwrite of gold, and rebuilds
// application from the new gold: what promoting a new model version asks
// for. It reads no raw file. A rescore a killed run left unfinished is
// finished first, with its own silver version and model.
func Rescore(ctx context.Context, c Config, run Runner) (*RescoreResult, error) {
	if err := c.Open(ctx); err != nil {
		return nil, err
	}
	last, err := lastRescorePlan(ctx, c.Lake)
	if err != nil {
		return nil, err
	}
	if last != nil {
		done, err := holdsTxn(ctx, c.table(transforms.ApplicationTable.Name), RescoreAppID, last.Seq)
		if err != nil {
			return nil, err
		}
		if !done {
			res, err := runRescore(ctx, c, last, run)
			if err != nil {
				return nil, fmt.Errorf("rescore %d (unfinished, redone): %w", last.Seq, err)
			}
			res.Redo = true
			if sameModel(last.Model, c.model) {
				return res, nil
			}
		}
	}
	plan, err := planRescore(ctx, c, last)
	if err != nil {
		return nil, err
	}
	res, err := runRescore(ctx, c, plan, run)
	if err != nil {
		return nil, fmt.Errorf("rescore %d: %w", plan.Seq, err)
	}
	return res, nil
}

func sameModel(a, b tracking.Resolved) bool {
	return a.URI == b.URI && a.Name == b.Name && a.Version == b.Version && a.Dir == b.Dir
}

// lastRescorePlan reads the newest rescore plan (nil: none yet).
func lastRescorePlan(ctx context.Context, lakeDir string) (*rescorePlan, error) {
	return newest(ctx, rescoreLedger(lakeDir), func(p *rescorePlan) int64 { return p.Seq })
}

// planRescore fixes the next rescore: the latest silver version, whose
// rows gold must all hold (else the overwrite would drop or invent rows),
// and the configured model. Stages that run on their own must have carried
// everything on first: rows silver holds that silver:gold has not read yet
// would be scored twice, gold rows gold:application has not counted yet
// would be counted twice.
func planRescore(ctx context.Context, c Config, last *rescorePlan) (*rescorePlan, error) {
	for _, stage := range []transforms.Stage{transforms.SilverGold, transforms.GoldApplication} {
		pending, err := stagePending(ctx, c, stage)
		if err != nil {
			return nil, err
		}
		if pending != "" {
			return nil, &Failure{Msg: "rescore: " + pending,
				Hint: fmt.Sprintf("run {Stages} %s first (it carries them on), then rescore", Stages{stage, transforms.GoldApplication})}
		}
	}
	silver, err := lake.Open(c.table(transforms.SilverTable.Name)).Snapshot(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("silver: %w (run the pipeline first)", err)
	}
	gold, err := lake.Open(c.table(transforms.GoldTable.Name)).Snapshot(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("gold: %w (run the pipeline first)", err)
	}
	txns := txnsOf(silver, carriers(transforms.BronzeSilver, transforms.SilverGold))
	for app, v := range txns {
		if g, ok := gold.TxnVersion(app); !ok || g != v {
			return nil, &Failure{Msg: fmt.Sprintf("rescore: silver holds %s version %d but gold does not: a batch is unfinished", app, v),
				Hint: "run the pipeline once more (it finishes the batch), then medallion rescore"}
		}
	}
	// The overwrite requires gold to hold what every writer of gold had
	// committed when planned: a batch committed in between would be lost.
	p := &rescorePlan{SilverVersion: silver.Version, Txns: txnsOf(gold, carriers(transforms.SilverGold, transforms.SilverGold)), Model: c.model, Created: time.Now().UTC()}
	if last != nil {
		p.Seq = last.Seq + 1
	}
	if err := rescoreLedger(c.Lake).claim(ctx, p.Seq, p); err != nil {
		return nil, err
	}
	return p, nil
}

// txnsOf returns the txn versions a table's snapshot holds for apps.
func txnsOf(snap *lake.Snapshot, apps []string) map[string]int64 {
	out := map[string]int64{}
	for _, app := range apps {
		if v, ok := snap.TxnVersion(app); ok {
			out[app] = v
		}
	}
	return out
}

// requireTxns turns txns into a RequireTxn guard over apps: the writers
// absent from txns must be absent from the table written too.
func requireTxns(apps []string, txns map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, app := range apps {
		out[app] = -1
		if v, ok := txns[app]; ok {
			out[app] = v
		}
	}
	return out
}

// runRescore runs one planned rescore: a Beam job scores silver at the
// plan's version and overwrites gold, then application is rebuilt from it.
// When gold already holds the rescore (a run died before application),
// application is rebuilt from the gold table as it is.
func runRescore(ctx context.Context, c Config, p *rescorePlan, run Runner) (*RescoreResult, error) {
	res := &RescoreResult{Seq: p.Seq, SilverVersion: p.SilverVersion, Model: p.Model.URI}
	if p.Model.Name != "" {
		res.Model = fmt.Sprintf("%s (%s version %d)", p.Model.URI, p.Model.Name, p.Model.Version)
	}
	require := requireTxns(carriers(transforms.SilverGold, transforms.SilverGold), p.Txns)
	goldHeld, err := holdsTxn(ctx, c.table(transforms.GoldTable.Name), RescoreAppID, p.Seq)
	if err != nil {
		return nil, err
	}
	if !goldHeld {
		silverTbl := lake.Open(c.table(transforms.SilverTable.Name))
		snap, err := silverTbl.Snapshot(ctx, p.SilverVersion)
		if err != nil {
			return nil, fmt.Errorf("silver v%d: %w", p.SilverVersion, err)
		}
		files, _, err := tableFiles(ctx, silverTbl, snap, snap.Files())
		if err != nil {
			return nil, fmt.Errorf("silver v%d: %w", p.SilverVersion, err)
		}
		mc := c
		mc.model = p.Model
		pl, s := beam.NewPipelineWithRoot()
		silver := transforms.ReadSilver(s, beam.Reshuffle(s, beam.CreateList(s, files)))
		gold := transforms.Gold(s, silver, mc.inferenceConfig(p.Model.Dir))
		lineage := transforms.Lineage{Stage: transforms.SilverGold.String(), Table: transforms.SilverTable.Name, To: transforms.Int64(p.SilverVersion), Mode: "full",
			Model: &transforms.ModelInfo{URI: p.Model.URI, Name: p.Model.Name, Version: p.Model.Version}}
		deltaio.Write(s, deltaio.Config{Location: c.table(transforms.GoldTable.Name), BaseSchema: transforms.GoldSchema, Shards: c.Shards, Codec: c.Codec,
			Operation: "RESCORE", Parameters: lineage.Params(map[string]string{"model_uri": p.Model.URI, "model_name": p.Model.Name,
				"model_version": fmt.Sprint(p.Model.Version), "model_dir": p.Model.Dir, "rescore": fmt.Sprint(p.Seq)}),
			AppID: RescoreAppID, Version: p.Seq, Overwrite: true, RequireTxn: require}, gold)
		if _, err := run(pl); err != nil {
			return nil, batchFailure(p.Seq, err)
		}
	}
	// Application is rebuilt from the gold table itself, not from the job's
	// rows: a redo after a kill between the two commits then counts exactly
	// what gold holds.
	goldTbl := lake.Open(c.table(transforms.GoldTable.Name))
	gsnap, err := goldTbl.Snapshot(ctx, -1)
	if err != nil {
		return nil, err
	}
	if v, ok := gsnap.TxnVersion(RescoreAppID); !ok || v < p.Seq {
		return nil, fmt.Errorf("gold: rescore %d did not commit", p.Seq)
	}
	grows, err := readRows(ctx, goldTbl, gsnap.Version, gsnap.Files(), transforms.DecodeGoldCounts)
	if err != nil {
		return nil, fmt.Errorf("gold v%d: %w", gsnap.Version, err)
	}
	res.GoldVersion, res.GoldRows = gsnap.Version, int64(len(grows))
	committed, err := transforms.CommitApplication(ctx, transforms.ApplicationConfig{Location: c.table(transforms.ApplicationTable.Name),
		AppID: RescoreAppID, Version: p.Seq, Replace: true, RequireTxn: requireTxns(carriers(transforms.SilverGold, transforms.GoldApplication), txnsOf(gsnap, carriers(transforms.SilverGold, transforms.GoldApplication))),
		Lineage: transforms.Lineage{Stage: transforms.GoldApplication.String(), Table: transforms.GoldTable.Name, To: transforms.Int64(gsnap.Version), Mode: "full"}},
		transforms.CountGold(grows))
	if err != nil {
		return nil, err
	}
	res.ApplicationVersion = committed.Version
	if committed.Version < 0 {
		if res.ApplicationVersion, err = latestVersion(ctx, c.table(transforms.ApplicationTable.Name)); err != nil {
			return nil, err
		}
	}
	return res, nil
}
