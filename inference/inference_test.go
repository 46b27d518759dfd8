package inference

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
)

const (
	demoModel   = "../testdata/models/tweet-sentiment-demo"
	robertaBPE  = "../testdata/models/tiny-roberta-bpe"
	bertBinary  = "../testdata/models/tiny-bert-binary"
	noRuntimeEV = "INFERENCE_TEST_NO_RUNTIME"
)

// needRuntime skips loudly without ONNX Runtime, but fails under CI, whose
// set-up installs it.
func needRuntime(t *testing.T) {
	t.Helper()
	if _, err := RuntimeVersion(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("SKIPPED: " + err.Error())
	}
}

func vocabIDs(t *testing.T, tok *Tokenizer, tokens ...string) []int64 {
	t.Helper()
	wp := tok.model.(*wordPiece)
	var out []int64
	for _, s := range tokens {
		id, ok := wp.vocab[s]
		if !ok {
			t.Fatalf("token %q not in vocabulary", s)
		}
		out = append(out, id)
	}
	return out
}

func TestWordPieceTokenizer(t *testing.T) {
	tok, err := LoadTokenizer(filepath.Join(demoModel, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text   string
		tokens []string
	}{
		{"What a GREAT day :)", []string{"[CLS]", "what", "a", "great", "day", ":", ")", "[SEP]"}},
		{"day^", []string{"[CLS]", "day", "[UNK]", "[SEP]"}}, // "^" is not in this small vocabulary
		{"  love\u00a0the\u3000game\tso much ", []string{"[CLS]", "love", "the", "game", "so", "much", "[SEP]"}},
		{"CAFÉ\u200b", []string{"[CLS]", "c", "##a", "##f", "##e", "[SEP]"}}, // accent stripped, zero-width (Cf) dropped
		{"a\x0bb", []string{"[CLS]", "a", "##b", "[SEP]"}},                   // a control character is dropped, not a space
		{"今猫", []string{"[CLS]", "今", "[UNK]", "[SEP]"}},                     // CJK ideographs stand alone
		{"İ", []string{"[CLS]", "i", "[SEP]"}},                               // İ → i̇ → i, no panic
		{"", []string{"[CLS]", "[SEP]"}},
		{"[SEP]", []string{"[CLS]", "[SEP]", "[SEP]"}}, // special tokens in text are special tokens
	}
	for _, c := range cases {
		ids, _ := tok.Encode(c.text, 0)
		if want := vocabIDs(t, tok, c.tokens...); fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("Encode(%q) = %v, want %v %v", c.text, ids, want, c.tokens)
		}
	}
	long := strings.Repeat("great ", 50)
	ids, truncated := tok.Encode(long, 10)
	want := vocabIDs(t, tok, "[CLS]", "great", "great", "great", "great", "great", "great", "great", "great", "[SEP]")
	if !truncated || fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("truncation to 10: %v (truncated=%v), want %v", ids, truncated, want)
	}
}

// The byte-level BPE tokenizer must cover every input exactly: the pieces it
// produces spell out the byte-level form of the text.
func TestByteLevelBPETokenizer(t *testing.T) {
	tok, err := LoadTokenizer(filepath.Join(robertaBPE, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := tok.model.(*bpe)
	inv := map[int64]string{}
	for s, id := range m.vocab {
		inv[id] = s
	}
	for _, text := range []string{"what a great day", "I'm sooo happy!!  :)", "naïve café 😀 #blessed",
		"new\nline\t tab", "  leading and trailing  ", "今日はとても楽しい", "it's we've they'll", "\xff\xfe broken utf8"} {
		ids, _ := tok.Encode(text, 0)
		if ids[0] != 0 || ids[len(ids)-1] != 2 {
			t.Errorf("%q: want <s> … </s>, got %v", text, ids)
		}
		var b strings.Builder
		for _, id := range ids[1 : len(ids)-1] {
			b.WriteString(inv[id])
		}
		if b.String() != byteLevelEncode(validUTF8(text)) {
			t.Errorf("%q: pieces spell %q, want %q", text, b.String(), byteLevelEncode(validUTF8(text)))
		}
	}
	split := gpt2Split("I'm  here 123abc?! \n x")
	if want := []string{"I", "'m", " ", " here", " 123", "abc", "?!", " \n", " x"}; fmt.Sprintf("%q", split) != fmt.Sprintf("%q", want) {
		t.Errorf("gpt2Split = %q, want %q", split, want)
	}
	ids, _ := tok.Encode("hi <mask>", 0) // <mask> strips the space on its left
	if n := len(ids); ids[n-2] != m.vocab["<mask>"] || strings.Contains(inv[ids[n-3]], "Ġ") || inv[ids[n-3]] != "i" {
		t.Errorf("mask handling: %v", ids)
	}
}

func TestNormalizeLabel(t *testing.T) {
	cases := []struct {
		name   string
		id, n  int
		want   string
		errors bool
	}{
		{"NEG", 0, 3, Negative, false}, {"NEU", 1, 3, Neutral, false}, {"POS", 2, 3, Positive, false},
		{"negative", 0, 3, Negative, false}, {"Neutral", 1, 3, Neutral, false}, {"positive", 2, 3, Positive, false},
		{"LABEL_0", 0, 3, Negative, false}, {"LABEL_1", 1, 3, Neutral, false}, {"LABEL_2", 2, 3, Positive, false},
		{"LABEL_0", 0, 2, Negative, false}, {"LABEL_1", 1, 2, Positive, false},
		{"NEGATIVE", 0, 2, Negative, false}, {"POSITIVE", 1, 2, Positive, false},
		{"JOY", 0, 3, "", true}, {"LABEL_3", 3, 4, "", true}, {"LABEL_1", 0, 3, "", true},
	}
	for _, c := range cases {
		got, err := NormalizeLabel(c.name, c.id, c.n)
		if (err != nil) != c.errors || got != c.want {
			t.Errorf("NormalizeLabel(%q, %d, %d) = %q, %v", c.name, c.id, c.n, got, err)
		}
	}
}

func TestTinyModels(t *testing.T) {
	needRuntime(t)
	cases := []struct {
		dir    string
		labels string
		inputs string
		maxLen int
	}{
		{robertaBPE, "negative,neutral,positive", "input_ids,attention_mask", 64},
		{bertBinary, "negative,positive", "input_ids,attention_mask,token_type_ids", 32},
		{demoModel, "negative,neutral,positive", "input_ids,attention_mask", 128},
	}
	texts := []string{"what a great day", "ugh worst day ever", "", strings.Repeat("long text ", 100), "😀 #blessed", "at the mall"}
	for _, c := range cases {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			m, err := Load(c.dir, Options{BatchSize: 4, IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if strings.Join(m.Labels, ",") != c.labels || strings.Join(m.inputNames, ",") != c.inputs || m.MaxLength != c.maxLen {
				t.Fatalf("labels %v inputs %v max %d", m.Labels, m.inputNames, m.MaxLength)
			}
			batch, err := m.Predict(texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range texts {
				one, err := m.Predict([]string{text})
				if err != nil {
					t.Fatal(err)
				}
				p := batch[i]
				var sum float64
				best := 0
				for k, v := range p.Probs {
					sum += float64(v)
					if v > p.Probs[best] {
						best = k
					}
				}
				if math.Abs(sum-1) > 1e-5 || p.Sentiment != m.Labels[best] || math.Abs(p.Score-100*float64(p.Probs[best])) > 1e-9 {
					t.Errorf("%q: prediction %+v is inconsistent", text, p)
				}
				// Padding must not change a result: alone or in a batch, the same.
				for k := range p.Probs {
					if d := math.Abs(float64(p.Probs[k] - one[0].Probs[k])); d > 1e-5 {
						t.Errorf("%q: batched %v vs alone %v", text, p.Probs, one[0].Probs)
						break
					}
				}
			}
		})
	}
}

// Everything wrong with a model folder is reported by Load, clearly.
func TestLoadErrors(t *testing.T) {
	needRuntime(t)
	copyModel := func(t *testing.T, edit func(dir string)) string {
		dir := t.TempDir()
		for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"} {
			data, err := os.ReadFile(filepath.Join(demoModel, f))
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
			os.WriteFile(filepath.Join(dir, f), data, 0o644)
		}
		edit(dir)
		return dir
	}
	write := func(dir, name, content string) { os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644) }
	cases := []struct {
		name string
		edit func(dir string)
		want string
	}{
		{"missing folder", func(dir string) { os.RemoveAll(dir) }, "config.json"},
		{"unknown label", func(dir string) {
			write(dir, "config.json", `{"model_type":"bert","id2label":{"0":"NEG","1":"JOY","2":"POS"}}`)
		}, `label "JOY"`},
		{"no labels", func(dir string) { write(dir, "config.json", `{"model_type":"bert"}`) }, "0 labels"},
		{"corrupt onnx", func(dir string) { write(dir, "onnx/model.onnx", "not a model") }, "not a loadable ONNX model"},
		{"no onnx", func(dir string) { os.Remove(filepath.Join(dir, "onnx", "model.onnx")) }, "no onnx/model.onnx"},
		{"no tokenizer", func(dir string) { os.Remove(filepath.Join(dir, "tokenizer.json")) }, "tokenizer.json"},
		{"unsupported tokenizer", func(dir string) {
			write(dir, "tokenizer.json", `{"model":{"type":"Unigram","vocab":[]}}`)
		}, `unsupported tokenizer model "Unigram"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(copyModel(t, c.edit), Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

// A missing ONNX Runtime library is reported by Load with a hint. It runs in
// a child process, since the library is loaded once per process.
func TestMissingRuntime(t *testing.T) {
	if os.Getenv(noRuntimeEV) != "" {
		_, err := Load(demoModel, Options{})
		if !errors.Is(err, ErrNoRuntime) || !strings.Contains(err.Error(), "scripts/setup.sh") {
			fmt.Println("UNEXPECTED:", err)
			os.Exit(3)
		}
		fmt.Println("GOT:", err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMissingRuntime$")
	cmd.Env = append(os.Environ(), noRuntimeEV+"=1", "ORT_LIB=/nonexistent/libonnxruntime.so")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "GOT: ONNX Runtime is not available") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// One model (one ONNX Runtime session, one BPE cache) serves many goroutines,
// as it serves every DoFn instance of a worker process; run with -race.
func TestConcurrentPredict(t *testing.T) {
	needRuntime(t)
	for _, dir := range []string{robertaBPE, demoModel} {
		m, err := Acquire(dir, Options{BatchSize: 4, IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		texts := []string{"what a great day", "worst day ever", "at the mall", "naïve café 😀", "I'm sooo happy"}
		want, err := m.Predict(texts)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			go func() {
				for i := 0; i < 20; i++ {
					got, err := m.Predict(texts)
					if err == nil {
						for k := range got {
							if got[k].Sentiment != want[k].Sentiment || math.Abs(got[k].Score-want[k].Score) > 1e-4 {
								err = fmt.Errorf("%q: %+v, alone %+v", texts[k], got[k], want[k])
							}
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for g := 0; g < 8; g++ {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		m2, _ := Acquire(dir, Options{BatchSize: 4, IntraOpThreads: 1})
		if m2 != m {
			t.Error("Acquire with the same options should share the model")
		}
	}
}

// generatedTexts returns the texts of n tweets from the generator (seed fixed).
func generatedTexts(tb testing.TB, n int, seed uint64) []string {
	tb.Helper()
	dir := tb.TempDir()
	truth := filepath.Join(dir, "truth.csv")
	if _, err := gen.Generate(gen.Options{Out: filepath.Join(dir, "raw"), Tweets: n, PerFile: n, Format: "ndjson", Seed: seed, Truth: truth}); err != nil {
		tb.Fatal(err)
	}
	truths, err := gen.ReadTruth(truth)
	if err != nil {
		tb.Fatal(err)
	}
	texts := make([]string, len(truths))
	for i, r := range truths {
		texts[i] = r.Text
	}
	return texts
}

// An int8 model (onnx/model_quantized.onnx, written by
// scripts/quantize_model.py in ONNX Runtime's dynamic-quantization operator
// pattern) loads with PreferQuantized and agrees with the fp32 model.
func TestQuantizedModel(t *testing.T) {
	needRuntime(t)
	fp32, err := Load(demoModel, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fp32.Close()
	int8, err := Load(demoModel, Options{PreferQuantized: true})
	if err != nil {
		t.Fatal(err)
	}
	defer int8.Close()
	if filepath.Base(fp32.ModelFile) != "model.onnx" || filepath.Base(int8.ModelFile) != "model_quantized.onnx" {
		t.Fatalf("model files: %s and %s", fp32.ModelFile, int8.ModelFile)
	}
	texts := generatedTexts(t, 2000, 909)
	a, err := fp32.Predict(texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := int8.Predict(texts)
	if err != nil {
		t.Fatal(err)
	}
	same, maxDiff := 0, 0.0
	for i := range a {
		if a[i].Sentiment == b[i].Sentiment {
			same++
		}
		maxDiff = max(maxDiff, math.Abs(a[i].Score-b[i].Score))
	}
	agree := float64(same) / float64(len(a))
	t.Logf("int8 vs fp32 on %d texts: %.2f%% same label, max score difference %.2f points", len(a), 100*agree, maxDiff)
	if agree < 0.97 {
		t.Errorf("int8 model agrees with fp32 on %.2f%% of labels, want at least 97%%", 100*agree)
	}
	if maxDiff == 0 {
		t.Error("int8 scores equal fp32 scores exactly: the quantized file was not the one run")
	}
}

// PredictCached infers each distinct text once, ever, per model: repeats in
// a call and texts of earlier calls come from the cache, equal to Predict's.
func TestPredictCached(t *testing.T) {
	needRuntime(t)
	m, err := Load(demoModel, Options{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	texts := []string{"what a great day", "worst day ever", "what a great day", "at the mall", "worst day ever"}
	want, err := m.Predict(texts)
	if err != nil {
		t.Fatal(err)
	}
	for call, wantInferred := range []int{3, 0} {
		got, inferred, err := m.PredictCached(texts)
		if err != nil || inferred != wantInferred {
			t.Fatalf("call %d: inferred %d texts (%v), want %d", call, inferred, err, wantInferred)
		}
		for i := range got {
			if got[i].Sentiment != want[i].Sentiment || got[i].Score != want[i].Score {
				t.Errorf("call %d, %q: %+v, Predict gave %+v", call, texts[i], got[i], want[i])
			}
		}
	}
	if _, inferred, _ := m.PredictCached([]string{"at the mall", "a new text"}); inferred != 1 {
		t.Errorf("one new text among cached ones: inferred %d", inferred)
	}
	if p, ok := m.Cached("worst day ever"); !ok || p.Sentiment != want[1].Sentiment {
		t.Errorf("Cached = %+v, %v", p, ok)
	}
}

// The cache keeps two generations: recently used texts survive a turnover,
// the rest are dropped, so memory stays bounded on an endless stream.
func TestPredictionCacheGenerations(t *testing.T) {
	c := predictionCache{gen: 3}
	for _, s := range []string{"a", "b", "c"} {
		c.put(s, Prediction{Sentiment: s})
	}
	c.put("d", Prediction{Sentiment: "d"}) // a, b, c become the old generation
	if p, ok := c.get("a"); !ok || p.Sentiment != "a" {
		t.Fatal("a text of the old generation was lost at the first turnover")
	}
	c.put("e", Prediction{}) // cur: d, a, e (full)
	c.put("f", Prediction{}) // old: d, a, e; b and c are gone
	for s, want := range map[string]bool{"a": true, "d": true, "e": true, "f": true, "b": false, "c": false} {
		if _, ok := c.get(s); ok != want {
			t.Errorf("%s cached = %v, want %v", s, ok, want)
		}
	}
	if n := len(c.cur) + len(c.old); n > 2*3 {
		t.Errorf("%d entries, bound is %d", n, 2*3)
	}
}
