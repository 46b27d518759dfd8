//go:build integration

package lake

import (
	"context"
	"testing"
)

// Checkpoints go through every Storage backend.
func TestCheckpointBackends(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			st, loc := open(t)
			tbl := &Table{Location: loc, Storage: st}
			buildHistory(t, tbl, 12, false)
			if _, err := st.ReadFile(ctx, checkpointName(10)); err != nil {
				t.Fatalf("checkpoint 10: %v", err)
			}
			if lc, err := readLastCheckpoint(ctx, st); err != nil || lc.Version != 10 {
				t.Fatalf("_last_checkpoint = %+v, %v", lc, err)
			}
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, snap, replayJSON(t, st, 11))
		})
	}
}
