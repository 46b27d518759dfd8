package inference

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// bertweetData is a small fastBPE vocabulary (1,162 tokens, 1,500 merges)
// learned from generated tweets, raw and normalised, by
// scripts/oracles/tok_bertweet.py learn: BERTweet's real files cannot be
// downloaded here, and the format, not the size, is what is under test.
const bertweetData = "testdata/bertweet"

// bertweetDir copies the BERTweet files into a fresh folder with the given
// tokenizer_config.json, as a model folder would hold them.
func bertweetDir(t *testing.T, tokenizerConfig string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"vocab.txt", "bpe.codes"} {
		data, err := os.ReadFile(filepath.Join(bertweetData, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if tokenizerConfig != "" {
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(tokenizerConfig), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBertweetMatchesTransformers loads vocab.txt + bpe.codes through
// LoadTokenizerDir (so tokenizer_config.json's flags are read as Load reads
// them) and requires transformers' BertweetTokenizer's ids, truncations and
// padded batches with attention masks on the same 3,000+ strings: without
// normalisation, with normalization=True (@USER, HTTPURL, NLTK's
// TweetTokenizer; the emoji package off on both sides), and lower-cased.
func TestBertweetMatchesTransformers(t *testing.T) {
	texts := oracleStrings(t)
	stringsFile := writeStrings(t, texts)
	cases := []struct {
		name, config, mode string
	}{
		{"no normalisation", `{}`, "plain"},
		{"normalization true", `{"normalization": true}`, "norm"},
		{"do_lower_case true", `{"do_lower_case": true}`, "lower"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := bertweetDir(t, c.config)
			tok, err := LoadTokenizerDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref := runOracle(t, "tok_bertweet.py", "encode", dir, stringsFile, oracleMaxLens, strconv.Itoa(oracleBatch), c.mode)
			compareEncodings(t, tok, texts, ref)
		})
	}
}

// TestBertweetSpecialIDs pins the id layout transformers gives a BERTweet
// vocabulary (checked with transformers 5.24 on this vocabulary): the four
// specials first, vocab.txt's tokens from 4 in file order, <mask> last.
func TestBertweetSpecialIDs(t *testing.T) {
	tok, err := LoadTokenizerDir(bertweetDir(t, `{"normalization": true}`))
	if err != nil {
		t.Fatal(err)
	}
	m := tok.model.(*fastBPE)
	for _, c := range []struct {
		token string
		id    int64
	}{{"<s>", 0}, {"<pad>", 1}, {"</s>", 2}, {"<unk>", 3}, {"the", 4}, {"@USER", 5}, {"HTTPURL", 16}, {"<mask>", 1166}} {
		if got, ok := m.vocab[c.token]; !ok || got != c.id {
			t.Errorf("id of %q = %d (present %v), transformers: %d", c.token, got, ok, c.id)
		}
	}
	if tok.PadID != 1 {
		t.Errorf("PadID = %d, want <pad> = 1", tok.PadID)
	}
	got, _ := tok.Encode("@Someone look http://t.co/x <mask>", 0)
	want := []int64{0, 5, 257, 3, 357, 16, 1166, 2} // transformers 5.24: <s> @USER l@@ <unk> k HTTPURL <mask> </s>
	if !slices.Equal(got, want) {
		t.Errorf("Encode = %v, transformers %v", got, want)
	}
}

// TestLoadBertweetFolder: inference.Load takes a model folder with vocab.txt
// and bpe.codes and no tokenizer.json, and honours tokenizer_config.json's
// normalization flag.
func TestLoadBertweetFolder(t *testing.T) {
	needRuntime(t)
	dir := bertweetDir(t, `{"normalization": true, "model_max_length": 128}`)
	for _, name := range []string{"config.json", "onnx/model.onnx"} {
		data, err := os.ReadFile(filepath.Join(demoModel, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Tokenizer().model.(*fastBPE); !ok {
		t.Fatalf("Load used %T, want the BERTweet tokenizer", m.Tokenizer().model)
	}
	got, _ := m.Tokenizer().Encode("@Someone http://t.co/x", 0)
	if want := []int64{0, 5, 16, 2}; !slices.Equal(got, want) { // <s> @USER HTTPURL </s>: normalised
		t.Errorf("Encode = %v, want %v (normalization from tokenizer_config.json)", got, want)
	}
	if m.MaxLength != 128 {
		t.Errorf("MaxLength = %d, want tokenizer_config.json's 128", m.MaxLength)
	}
}
