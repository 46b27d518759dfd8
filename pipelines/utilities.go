package pipelines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// lakeEntries are the folders a run creates under a lake; reset removes
// these and nothing else, so a lake folder that holds other things keeps them.
var lakeEntries = append(transforms.TableNames(), checkpointsDir, monitoringDir, controlDir)

// Reset removes a previous run's tables, checkpoints and monitoring, and
// returns what it removed: folders, or a lake on an object store's objects.
func Reset(ctx context.Context, lakeDir string) (removed []string, err error) {
	if lake.IsRemote(lakeDir) {
		return resetRemote(ctx, lakeDir)
	}
	for _, name := range lakeEntries {
		p := filepath.Join(lakeDir, name)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("reset: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// Compaction is what optimize did to one table.
type Compaction struct {
	Table         string
	Before, After int   // data files
	Version       int64 // the compaction's commit; -1: nothing to compact
}

// Optimize compacts every table's small files into one per table.
func Optimize(ctx context.Context, lakeDir, codec string) ([]Compaction, error) {
	var out []Compaction
	for _, name := range transforms.TableNames() {
		t := lake.Open(lake.Join(lakeDir, name))
		if ok, err := t.Exists(ctx); err != nil || !ok {
			continue
		}
		v, before, after, err := t.Optimize(ctx, lake.WriterOptions{Codec: codec})
		if err != nil {
			return out, fmt.Errorf("optimize %s: %w", name, err)
		}
		out = append(out, Compaction{Table: name, Before: before, After: after, Version: v})
	}
	return out, nil
}

// Vacuumed is what vacuum removed from one table.
type Vacuumed struct {
	Table   string
	Removed []string
}

// Vacuum removes, from every table, files no commit names (left by failed or
// killed batches) and files removed by commits, once older than retention.
func Vacuum(ctx context.Context, lakeDir string, retention time.Duration) ([]Vacuumed, error) {
	var out []Vacuumed
	for _, name := range transforms.TableNames() {
		t := lake.Open(lake.Join(lakeDir, name))
		if ok, err := t.Exists(ctx); err != nil || !ok {
			continue
		}
		gone, err := t.Vacuum(ctx, retention, false)
		if err != nil {
			return out, fmt.Errorf("vacuum %s: %w", name, err)
		}
		out = append(out, Vacuumed{Table: name, Removed: gone})
	}
	return out, nil
}

// resetRemote deletes the objects of a lake on an object store, entry by
// entry; other objects under the same prefix stay.
func resetRemote(ctx context.Context, lakeDir string) ([]string, error) {
	entries := map[string]bool{}
	for _, e := range lakeEntries {
		entries[e] = true
	}
	st := lake.StorageFor(lakeDir)
	var doomed []string
	if err := st.Walk(ctx, func(name string, _ int64, _ time.Time) error {
		if top, _, _ := strings.Cut(name, "/"); entries[top] {
			doomed = append(doomed, name)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reset: %w", err)
	}
	for i, name := range doomed {
		if err := st.Remove(ctx, name); err != nil {
			return doomed[:i], fmt.Errorf("reset: %w", err)
		}
	}
	return doomed, nil
}
