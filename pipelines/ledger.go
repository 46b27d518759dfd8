package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/tweetsentiment/medallion/lake"
)

// The lake's ledgers are numbered JSON records under LAKE/_checkpoints, one
// folder per kind: batch plans, stage offsets, rescores, rebuilds and
// abandoned batches. A record is written once (put-if-absent) before the
// work it describes reads anything, like Spark's offset log; the work is
// done when every table it writes records the work's txn (app id, number),
// which commits atomically with the data. A run that died is finished by
// the next one, from the same record.
const checkpointsDir = "_checkpoints"

// ledger is one kind of record in one lake.
type ledger struct {
	lake string
	dir  string // relative to the lake
	what string // what its records are, in errors: "batch", "stage offset", ...
}

func plansLedger(lakeDir string) ledger {
	return ledger{lakeDir, checkpointsDir + "/plans", "batch"}
}

// stageLedger holds the offsets of the runs whose first stage reads table.
func stageLedger(lakeDir, table string) ledger {
	return ledger{lakeDir, checkpointsDir + "/stages/" + table, "stage offset"}
}

func rescoreLedger(lakeDir string) ledger {
	return ledger{lakeDir, checkpointsDir + "/rescore", "rescore"}
}

func rebuildLedger(lakeDir string) ledger {
	return ledger{lakeDir, checkpointsDir + "/rebuild", "rebuild"}
}

func abandonedLedger(lakeDir string) ledger {
	return ledger{lakeDir, checkpointsDir + "/abandoned", "abandoned batch"}
}

// recordFormat names record N in its ledger's folder.
const recordFormat = "%020d.json"

// name is where record seq is, relative to the lake.
func (l ledger) name(seq int64) string { return l.dir + "/" + fmt.Sprintf(recordFormat, seq) }

// planFormat is the plans' names, relative to the lake: the streaming
// job's commits name their plans with it.
var planFormat = plansLedger("").dir + "/" + recordFormat

// claim writes record seq, once: a run that claimed the same number first
// wins, and this one stops with an error saying so (errors.Is lake.ErrExist).
func (l ledger) claim(ctx context.Context, seq int64, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := lake.StorageFor(l.lake).PutIfAbsent(ctx, l.name(seq), data); err != nil {
		if errors.Is(err, lake.ErrExist) {
			return fmt.Errorf("%s %d in %s was written by another run on the same lake: let it finish, or stop it (medallion status shows a stream): %w", l.what, seq, l.lake, err)
		}
		return fmt.Errorf("checkpoint %s: plan %s %d: %w", l.lake, l.what, seq, err)
	}
	return nil
}

// read reads record seq into v.
func (l ledger) read(ctx context.Context, seq int64, v any) error {
	data, err := lake.StorageFor(l.lake).ReadFile(ctx, l.name(seq))
	if err != nil {
		return fmt.Errorf("%s %d: %w", l.what, seq, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("checkpoint %s: plan %s %d: %w", l.lake, l.what, seq, err)
	}
	return nil
}

// records reads every record of the ledger, in number order (none when
// the ledger has none yet).
func records[T any](ctx context.Context, l ledger) ([]*T, error) {
	store := lake.StorageFor(l.lake)
	names, err := store.List(ctx, l.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s records in %s: %w", l.what, l.lake, err)
	}
	var out []*T
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") {
			continue
		}
		data, err := store.ReadFile(ctx, l.dir+"/"+n)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", l.what, n, err)
		}
		r := new(T)
		if err := json.Unmarshal(data, r); err != nil {
			return nil, fmt.Errorf("%s %s: %w", l.what, n, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// newest returns the ledger's record with the highest number (seq reads
// it), nil when there is none.
func newest[T any](ctx context.Context, l ledger, seq func(*T) int64) (*T, error) {
	all, err := records[T](ctx, l)
	if err != nil {
		return nil, err
	}
	var last *T
	for _, r := range all {
		if last == nil || seq(r) > seq(last) {
			last = r
		}
	}
	return last, nil
}

// batchHeld returns a table's latest version (-1: no table) and whether it
// records app's txn at version or later.
func batchHeld(ctx context.Context, dir, app string, version int64) (int64, bool, error) {
	t := lake.Open(dir)
	ok, err := t.Exists(ctx)
	if err != nil || !ok {
		return -1, false, err
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return -1, false, err
	}
	v, ok := snap.TxnVersion(app)
	return snap.Version, ok && v >= version, nil
}

// holdsTxn reports whether a table records app's txn at version or later.
func holdsTxn(ctx context.Context, dir, app string, version int64) (bool, error) {
	_, held, err := batchHeld(ctx, dir, app, version)
	return held, err
}

// tablesHold reports whether every one of the lake's tables records app's
// txn at version or later: whether the work of a ledger's record (a batch,
// an offset, a rebuild) is complete.
func tablesHold(ctx context.Context, lakeDir string, tables []string, app string, version int64) (bool, error) {
	for _, t := range tables {
		held, err := holdsTxn(ctx, lake.Join(lakeDir, t), app, version)
		if err != nil || !held {
			return false, err
		}
	}
	return true, nil
}
