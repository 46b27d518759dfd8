package pipelines

import (
	"context"
	"fmt"
	"io"
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

// Reset removes a previous run's tables, checkpoints and monitoring.
func Reset(lakeDir string, out io.Writer) error {
	if lake.IsRemote(lakeDir) {
		return resetRemote(context.Background(), lakeDir, out)
	}
	removed := 0
	for _, name := range lakeEntries {
		p := filepath.Join(lakeDir, name)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		fmt.Fprintf(out, "removed %s\n", p)
		removed++
	}
	if removed == 0 {
		fmt.Fprintf(out, "nothing to remove under %s\n", lakeDir)
	}
	return nil
}

// Optimize compacts every table's small files into one per table.
func Optimize(ctx context.Context, lakeDir, codec string, out io.Writer) error {
	for _, name := range transforms.TableNames() {
		t := lake.Open(lake.Join(lakeDir, name))
		if ok, err := t.Exists(ctx); err != nil || !ok {
			continue
		}
		v, before, after, err := t.Optimize(ctx, lake.WriterOptions{Codec: codec})
		if err != nil {
			return fmt.Errorf("optimize %s: %w", name, err)
		}
		if v < 0 {
			fmt.Fprintf(out, "%-12s %d file(s): nothing to compact\n", name, before)
		} else {
			fmt.Fprintf(out, "%-12s %d files → %d (version %d)\n", name, before, after, v)
		}
	}
	return nil
}

// Vacuum removes, from every table, files no commit names (left by failed or
// killed batches) and files removed by commits, once older than retention.
func Vacuum(ctx context.Context, lakeDir string, retention time.Duration, out io.Writer) error {
	for _, name := range transforms.TableNames() {
		t := lake.Open(lake.Join(lakeDir, name))
		if ok, err := t.Exists(ctx); err != nil || !ok {
			continue
		}
		gone, err := t.Vacuum(ctx, retention, false)
		if err != nil {
			return fmt.Errorf("vacuum %s: %w", name, err)
		}
		fmt.Fprintf(out, "%-12s removed %d unreferenced file(s) older than %s\n", name, len(gone), retention)
	}
	return nil
}

// resetRemote deletes the objects of a lake on an object store, entry by
// entry; other objects under the same prefix stay.
func resetRemote(ctx context.Context, lakeDir string, out io.Writer) error {
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
		return fmt.Errorf("reset: %w", err)
	}
	for _, name := range doomed {
		if err := st.Remove(ctx, name); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	fmt.Fprintf(out, "removed %d objects under %s\n", len(doomed), lakeDir)
	return nil
}
