package transforms

import (
	"context"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/lake"
)

func sortedCounts(rows []ApplicationRow) []ApplicationRow {
	out := append([]ApplicationRow(nil), rows...)
	sort.Slice(out, func(i, j int) bool { return out[i].Mention < out[j].Mention })
	return out
}

// TestApplicationCommitRebases has another writer commit a new application
// version between our commit's read of the table and its commit: ours must
// merge into the other writer's version, so the table ends as the first
// version + the other writer's counts + ours, exactly.
func TestApplicationCommitRebases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := []ApplicationRow{{Mention: "a", MinTimestamp: 10, MaxTimestamp: 20, Negative: 1, Total: 1}}
	other := []ApplicationRow{
		{Mention: "a", MinTimestamp: 5, MaxTimestamp: 15, Neutral: 2, Total: 2},
		{Mention: "c", MinTimestamp: 7, MaxTimestamp: 7, Positive: 1, Total: 1},
	}
	ours := []ApplicationRow{
		{Mention: "a", MinTimestamp: 30, MaxTimestamp: 40, Positive: 1, Total: 1},
		{Mention: "b", MinTimestamp: 1, MaxTimestamp: 2, Neutral: 3, Total: 3},
	}
	if _, err := CommitApplication(ctx, ApplicationConfig{Location: dir, AppID: "first", Version: 0}, first); err != nil {
		t.Fatal(err)
	}
	interleaved := 0
	old := beforeApplicationCommit
	t.Cleanup(func() { beforeApplicationCommit = old })
	beforeApplicationCommit = func(ctx context.Context, location string) {
		if interleaved > 0 {
			return
		}
		interleaved++
		// The other writer's own commit runs this hook too: it passes.
		if _, err := CommitApplication(ctx, ApplicationConfig{Location: location, AppID: "other", Version: 0}, other); err != nil {
			t.Errorf("other writer: %v", err)
		}
	}
	c, err := CommitApplication(ctx, ApplicationConfig{Location: dir, AppID: "ours", Version: 0}, ours)
	if err != nil {
		t.Fatal(err)
	}
	if interleaved != 1 || c.Version != 2 {
		t.Fatalf("committed version %d after %d interleaved commits, want version 2 after 1", c.Version, interleaved)
	}
	got, err := ReadApplication(ctx, lake.Open(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := []ApplicationRow{
		{Mention: "a", MinTimestamp: 5, MaxTimestamp: 40, Negative: 1, Neutral: 2, Positive: 1, Total: 4},
		{Mention: "b", MinTimestamp: 1, MaxTimestamp: 2, Neutral: 3, Total: 3},
		{Mention: "c", MinTimestamp: 7, MaxTimestamp: 7, Positive: 1, Total: 1},
	}
	if got = sortedCounts(got); !reflect.DeepEqual(got, want) {
		t.Errorf("application after an interleaved commit:\n got %+v\nwant %+v", got, want)
	}
	// Both writers' txns are recorded, and ours once: a retry adds nothing.
	snap, err := lake.Open(dir).Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"first", "other", "ours"} {
		if _, ok := snap.TxnVersion(app); !ok {
			t.Errorf("txn %s missing", app)
		}
	}
	if c, err := CommitApplication(ctx, ApplicationConfig{Location: dir, AppID: "ours", Version: 0}, ours); err != nil || c.Version != -1 {
		t.Errorf("a repeated commit gave version %d, %v; want nothing committed", c.Version, err)
	}
	// The data file of the stale attempt was removed; only the live one
	// (and those of earlier versions) remain.
	files := 0
	if err := lake.Open(dir).Storage.Walk(ctx, func(name string, _ int64, _ time.Time) error {
		if filepath.Ext(name) == ".parquet" && !strings.HasPrefix(name, "_delta_log/") {
			files++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if files != 3 {
		t.Errorf("%d data files, want 3 (one per version; the stale attempt's removed)", files)
	}
}
