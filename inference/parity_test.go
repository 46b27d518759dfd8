package inference

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// parityStrings are tweet-like strings that stress tokenizers: emoji and
// their joiners, accents and combining marks, HTML entities, URLs, CJK,
// non-breaking and ideographic spaces, control characters, other scripts,
// and texts longer than the models' limits; then generated tweets.
func parityStrings(t *testing.T) []string {
	s := []string{
		"what a great day :)", "I HATE mondays!!!", "İstanbul ıi", "naïve café résumé", "Crème brûlée ñandú",
		"e\u0301 combining acute", "ﬁ ligature and ＡＢＣ full width", "tab\tand\nnewline\r\nCRLF", "nbsp\u00a0here",
		"ideographic\u3000space", "zero\u200bwidth\u200djoiner", "👩‍👩‍👧‍👦 family emoji", "🇺🇸 flags 🇯🇵", "❤️ love ❤",
		"😀😃😄😁😆😅😂🤣", "&quot;quoted&quot; &amp; &lt;3 &gt;_&lt;", "http://twitpic.com/2y1zl - Awww",
		"https://example.com/path?q=1&x=2#frag", "www.bit.ly/abc", "email me at foo@bar.com",
		"今日はとても楽しい", "我爱你 中文 测试", "한국어 텍스트", "Привет, как дела?", "مرحبا بالعالم",
		"שלום עולם", "नमस्ते दुनिया", "ελληνικά κείμενα", "Ölçü ğüşıöç", "Straße groß",
		"it's we've they'll I'm you'd", "don't can't won't", "#hashtag #blessed #FF", "RT @user: retweet",
		"lol!!! omg??? wtf...", "...", "   ", "", "a", "\x00null\x01ctrl\x7fdel", "\ufeffbom start",
		"\u0085next line", "\u2028line separator\u2029para", "mixed 123 numbers 4.56 and 7,890",
		"$100 & 50% off!!!", "(parens) [brackets] {braces}", "<mask> token text", "[CLS] [SEP] [UNK] literal",
		"Ã©mojibake Ã¼ber", "\xff\xfe invalid utf8 \xc3", "soooooooooooooooooooooo goooooooood",
		strings.Repeat("long tweet words ", 60), strings.Repeat("😀 ", 150), strings.Repeat("超", 300),
	}
	return append(s, generatedTexts(t, 200, 404)[:160]...)
}

// TestParityWithTransformersJS compares our token ids and logits with
// transformers.js on the same model folders: ids must be identical (texts
// over the limit are compared untruncated, and truncated the way Hugging
// Face's Python tokenizer does it), logits within 1e-4.
func TestParityWithTransformersJS(t *testing.T) {
	needRuntime(t)
	script, _ := filepath.Abs("../scripts/parity/parity.mjs")
	lib := filepath.Join(filepath.Dir(script), "node_modules", "@huggingface", "transformers")
	if _, err := os.Stat(lib); err != nil {
		msg := fmt.Sprintf("transformers.js not installed at %s: run scripts/setup-test.sh", lib)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	texts := parityStrings(t)
	if len(texts) < 200 {
		t.Fatalf("only %d parity strings", len(texts))
	}
	stringsFile := filepath.Join(t.TempDir(), "strings.json")
	js, _ := json.Marshal(texts)
	if err := os.WriteFile(stringsFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{demoModel, robertaBPE, bertBinary} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := Load(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cmd := exec.Command("node", script, dir, stringsFile, fmt.Sprint(m.MaxLength))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("transformers.js: %v", err)
			}
			var ref struct {
				IDs    [][]int64   `json:"ids"`
				Logits [][]float64 `json:"logits"`
			}
			if err := json.Unmarshal(out, &ref); err != nil {
				t.Fatal(err)
			}
			mismatches, truncated := 0, 0
			var worst float64
			for i, text := range texts {
				full, _ := m.Tokenizer().Encode(text, 0)
				if fmt.Sprint(full) != fmt.Sprint(ref.IDs[i]) {
					mismatches++
					t.Errorf("%q:\n  ours            %v\n  transformers.js %v", text, full, ref.IDs[i])
					continue
				}
				cut, wasCut := m.Tokenizer().Encode(text, m.MaxLength)
				if wasCut {
					truncated++
					// Python's rule: [CLS] + the first max-2 text tokens + [SEP].
					want := append(append([]int64{}, full[:m.MaxLength-1]...), full[len(full)-1])
					if fmt.Sprint(cut) != fmt.Sprint(want) || len(cut) != m.MaxLength {
						t.Errorf("%q: truncated to %v, want %v", text, cut, want)
					}
				}
				logits, err := m.Logits([][]int64{cut})
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range logits[0] {
					d := math.Abs(float64(v) - ref.Logits[i][k])
					worst = math.Max(worst, d)
					if d > 1e-4 {
						t.Errorf("%q: logit %d = %v, transformers.js %v", text, k, v, ref.Logits[i][k])
					}
				}
			}
			t.Logf("%d strings: %d token id mismatches, %d truncated, largest logit difference %.2g", len(texts), mismatches, truncated, worst)
		})
	}
}
