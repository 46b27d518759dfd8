package pipelines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// copyDir copies testdata into a scratch input folder (tests never write
// into testdata).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileInput runs the pipeline over what the world may send: empty
// files, a BOM, CRLF, binary garbage, invalid UTF-8, deep nesting, a 5 MB
// text, a 50 MB file, 100,000 one-line tweets, wrong types, missing fields,
// nulls, unknown zones, impossible dates, texts of only mentions or emoji,
// 5,000 mentions, trailing garbage. Every record is ingested or quarantined
// with a reason; nothing crashes; the accounting holds exactly.
func TestHostileInput(t *testing.T) {
	needRuntime(t)
	in := t.TempDir()
	copyDir(t, "../testdata/hostile", in)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(in, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tweet := func(text string) string {
		return fmt.Sprintf(`{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":%q,"sentiment":"positive"}`, text)
	}
	write("five_mb_text.json", tweet(strings.Repeat("long ", 1<<20)))
	write("fifty_mb_file.json", tweet(strings.Repeat("x", 50<<20)))
	var many strings.Builder
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&many, "{\"date\":\"Mon Apr 06 22:19:45 PDT 2009\",\"user\":\"u%d\",\"text\":\"plain tweet %d\",\"sentiment\":\"negative\"}\n", i%977, i)
	}
	write("hundred_thousand.ndjson", many.String())
	var mentions strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&mentions, "@h%d ", i)
	}
	write("five_thousand_mentions.json", tweet(mentions.String()))
	write("deep.json", `{"text":"deep","x":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}`)

	lim := transforms.DefaultLimits
	lim.MaxRecordsPerFile = 99_990 // the 100,000-line file goes over
	want := oracleWith(t, in, lim)
	ctx := context.Background()
	cfg := Config{Input: in, Lake: t.TempDir(), Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 32, Limits: lim}
	sum, err := Run(ctx, cfg, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.Check(); err != nil {
		t.Error(err)
	}
	got := map[string]int64{"raw": sum.RawRecords, "bronze": sum.table(transforms.BronzeTable.Name).Rows, "bronze quarantine": sum.BronzeQuarantined,
		"silver quarantine": sum.SilverQuarantined, "silver": sum.table(transforms.SilverTable.Name).Rows}
	for k, w := range map[string]int64{"raw": want.raw, "bronze": want.bronze, "bronze quarantine": want.bronzeQ,
		"silver quarantine": want.silverQ, "silver": int64(len(want.silver))} {
		if got[k] != w {
			t.Errorf("%s = %d, want %d", k, got[k], w)
		}
	}
	seen := map[string]int64{}
	for _, r := range readTable(t, cfg.table(transforms.QuarantineTable.Name)) {
		reason, _ := r["reason"].(string)
		cat, detail, _ := strings.Cut(reason, ": ")
		if !knownCategory(cat) || detail == "" {
			t.Errorf("quarantine row without a proper reason: %v", r)
		}
		if rec, _ := r["record"].(string); len(rec) > lim.MaxQuarantined+64 || !utf8.ValidString(rec) {
			t.Errorf("quarantined record not truncated or not UTF-8 (%d bytes)", len(rec))
		}
		seen[cat]++
		if sf, _ := r["source_file"].(string); strings.HasSuffix(sf, "deep.json") && !strings.Contains(reason, "depth") {
			t.Errorf("100,000-deep nesting should be quarantined for its depth: %s", reason)
		}
	}
	for _, cat := range []string{transforms.ReasonEmptyFile, transforms.ReasonInvalidJSON, transforms.ReasonWrongType,
		transforms.ReasonNotObject, transforms.ReasonTooLarge, transforms.ReasonTooMany, transforms.ReasonMissingDate,
		transforms.ReasonMissingText, transforms.ReasonUnknownZone, transforms.ReasonBadDate, transforms.ReasonManyMentions} {
		if seen[cat] == 0 {
			t.Errorf("no quarantine row of category %s (saw %v)", cat, seen)
		}
	}
	if seen[transforms.ReasonTooMany] != 10 || seen[transforms.ReasonTooLarge] != 2 {
		t.Errorf("too_many_records %d (want 10), too_large %d (want 2)", seen[transforms.ReasonTooMany], seen[transforms.ReasonTooLarge])
	}
	snap, _ := lake.Open(cfg.table(transforms.BronzeTable.Name)).Snapshot(ctx, -1)
	for _, col := range []string{"lang", "extra_text"} {
		if _, ok := snap.Schema.Field(col); !ok {
			t.Errorf("bronze lacks the extra column %s: %v", col, snap.Schema.Fields)
		}
	}
	var sawReplacement bool
	for _, r := range readTable(t, cfg.table(transforms.BronzeTable.Name)) {
		if text, ok := r["text"].(string); ok && strings.Contains(text, "@utf8") {
			sawReplacement = strings.ContainsRune(text, utf8.RuneError)
		}
	}
	if !sawReplacement {
		t.Error("invalid UTF-8 in a text should reach bronze as U+FFFD")
	}
	// Files the run wrote are 0644 and folders 0755: readable, not writable by others, never executable.
	err = filepath.WalkDir(cfg.Lake, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o644)
		if d.IsDir() {
			want = 0o755
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the lake: %v", err)
	}
	t.Logf("%d raw records: %d bronze, %d quarantined in bronze, %d in silver; reasons %v", want.raw, want.bronze, want.bronzeQ, want.silverQ, seen)
}

// Beam leaves an empty beamloopbackworker-* file in the temporary folder per
// LOOPBACK job; each batch sweeps the old empty ones and nothing else.
func TestSweepLoopbackFiles(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	write := func(name, data string, mod time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mod, mod)
		return p
	}
	gone := write("beamloopbackworker-1", "", old)
	keep := []string{
		write("beamloopbackworker-2", "", time.Now()), // a job being staged now
		write("beamloopbackworker-3", "binary", old),  // not empty: not Beam's placeholder
		write("other-4", "", old),                     // not Beam's
	}
	if n := sweepLoopbackFiles(dir, time.Minute); n != 1 {
		t.Errorf("removed %d files, want 1", n)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("%s is still there", gone)
	}
	for _, k := range keep {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("%s was removed", k)
		}
	}
}
