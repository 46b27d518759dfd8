// Package inference runs a Hugging Face sequence classifier exported to ONNX
// with ONNX Runtime: it loads the model folder (config.json, tokenizer.json
// or BERTweet's vocab.txt + bpe.codes, which have no tokenizer.json,
// onnx/model.onnx or Optimum's top-level model.onnx), tokenizes, batches,
// runs the session and maps the labels to negative / neutral / positive. It
// knows nothing of Beam.
package inference

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// Sentiments, as gold stores them.
const (
	Negative = "negative"
	Neutral  = "neutral"
	Positive = "positive"
)

// DefaultBatchSize is the texts per ONNX Runtime run when none is given:
// the best of 8–32 for base-size models here (docs/BENCHMARKS.md).
const DefaultBatchSize = 16

// Options tune how a model runs.
type Options struct {
	// IntraOpThreads is ONNX Runtime's thread count per inference (0: its default, all cores).
	IntraOpThreads int
	// BatchSize is how many texts go into one session run (default DefaultBatchSize).
	BatchSize int
	// MaxLength caps tokens per text (0: the model's own limit).
	MaxLength int
	// PreferQuantized uses the int8 model_quantized.onnx (under onnx/ or at
	// the top, see FindModelFile) when the folder has one.
	PreferQuantized bool
}

// Prediction is one text's result.
type Prediction struct {
	Sentiment string    // negative, neutral or positive
	Score     float64   // 100 × the probability of Sentiment
	Probs     []float32 // per model label, in the model's label order
}

// Model is a loaded classifier. It is safe for concurrent use.
type Model struct {
	Dir        string
	ModelFile  string
	Labels     []string // normalised, by label id
	RawLabels  []string // as config.json names them
	MaxLength  int
	tok        *Tokenizer
	session    *ort.DynamicAdvancedSession
	inputNames []string
	opts       Options
	// runs admits at most cores/threads concurrent session runs: a run
	// with all cores' threads gains nothing from company, and two such runs
	// at once only contend for the same cores.
	runs chan struct{}
	// cache holds the predictions PredictCached made.
	cache predictionCache
}

type modelConfig struct {
	ModelType             string            `json:"model_type"`
	ID2Label              map[string]string `json:"id2label"`
	MaxPositionEmbeddings int               `json:"max_position_embeddings"`
}

type tokenizerConfig struct {
	ModelMaxLength float64 `json:"model_max_length"`
}

// NormalizeLabel maps the label names classifiers use to negative, neutral
// or positive. numLabels decides what LABEL_0/LABEL_1 mean: with two labels
// LABEL_1 is positive, with three it is neutral (cardiffnlp's convention).
func NormalizeLabel(name string, id, numLabels int) (string, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "neg", "negative", "0 star", "1 star":
		return Negative, nil
	case "neu", "neutral":
		return Neutral, nil
	case "pos", "positive":
		return Positive, nil
	case fmt.Sprintf("label_%d", id):
		switch {
		case numLabels == 2 && id == 0, numLabels == 3 && id == 0:
			return Negative, nil
		case numLabels == 2 && id == 1, numLabels == 3 && id == 2:
			return Positive, nil
		case numLabels == 3 && id == 1:
			return Neutral, nil
		}
	}
	return "", fmt.Errorf("label %q (id %d of %d) is not a sentiment this pipeline knows (NEG/NEU/POS, negative/neutral/positive, LABEL_0..2)", name, id, numLabels)
}

// Load opens a model folder. Everything that can be wrong with it (missing
// files, unknown labels, inputs the runner cannot feed, no ONNX Runtime) is
// reported here, before any data is read.
func Load(dir string, opts Options) (*Model, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	var cfg modelConfig
	if err := readJSON(filepath.Join(dir, "config.json"), &cfg); err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	m := &Model{Dir: dir, opts: opts}
	n := len(cfg.ID2Label)
	if n < 2 {
		return nil, fmt.Errorf("model %s: config.json has %d labels in id2label, want at least 2", dir, n)
	}
	m.Labels, m.RawLabels = make([]string, n), make([]string, n)
	for i := 0; i < n; i++ {
		name, ok := cfg.ID2Label[fmt.Sprint(i)]
		if !ok {
			return nil, fmt.Errorf("model %s: config.json id2label has no entry for id %d", dir, i)
		}
		norm, err := NormalizeLabel(name, i, n)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		m.Labels[i], m.RawLabels[i] = norm, name
	}
	tok, err := LoadTokenizerDir(dir)
	if err != nil {
		if kind := unsupportedTokenizerModel(dir); kind != "" {
			return nil, fmt.Errorf("model %s: %s: %w", dir, kind, err)
		}
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	m.tok = tok
	m.MaxLength = maxLength(dir, cfg)
	if opts.MaxLength > 0 && opts.MaxLength < m.MaxLength {
		m.MaxLength = opts.MaxLength
	}
	if m.ModelFile, err = FindModelFile(dir, opts.PreferQuantized); err != nil {
		return nil, err
	}
	if err := initRuntime(); err != nil {
		return nil, err
	}
	inputs, outputs, err := ort.GetInputOutputInfo(m.ModelFile)
	if err != nil {
		return nil, fmt.Errorf("model %s: %s is not a loadable ONNX model: %w", dir, m.ModelFile, err)
	}
	for _, in := range inputs {
		switch in.Name {
		case "input_ids", "attention_mask", "token_type_ids":
			m.inputNames = append(m.inputNames, in.Name)
		default:
			return nil, fmt.Errorf("model %s: input %q is not one this runner feeds (input_ids, attention_mask, token_type_ids)", dir, in.Name)
		}
	}
	if !contains(m.inputNames, "input_ids") {
		return nil, fmt.Errorf("model %s: the ONNX graph has no input_ids input", dir)
	}
	outName := outputs[0].Name
	for _, o := range outputs {
		if o.Name == "logits" {
			outName = o.Name
		}
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	m.runs = make(chan struct{}, concurrentRuns(opts.IntraOpThreads, runtime.NumCPU()))
	if opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
			return nil, err
		}
	}
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		return nil, err
	}
	m.session, err = ort.NewDynamicAdvancedSession(m.ModelFile, m.inputNames, []string{outName}, so)
	if err != nil {
		return nil, fmt.Errorf("model %s: create ONNX Runtime session: %w", dir, err)
	}
	return m, nil
}

// unsupportedTokenizerModel names the tokenizer family of dir's
// tokenizer.json when it is one our tokenizer does not implement, else "".
// The tokenizer reports the first component it cannot read, and for an
// XLM-RoBERTa export that is a normalizer ("Replace", "Precompiled"), which
// does not tell a user that the model as a whole is out of reach; this does.
func unsupportedTokenizerModel(dir string) string {
	var f struct {
		Model struct {
			Type string `json:"type"`
		} `json:"model"`
	}
	if readJSON(filepath.Join(dir, "tokenizer.json"), &f) != nil {
		return ""
	}
	switch f.Model.Type {
	case "WordPiece", "BPE", "":
		return ""
	case "Unigram":
		return `tokenizer.json is a SentencePiece Unigram model (XLM-RoBERTa, CamemBERT, ALBERT, T5), which this pipeline does not support: ` +
			`it reads WordPiece (BERT, DistilBERT), byte-level BPE (RoBERTa) and BERTweet's vocab.txt + bpe.codes`
	default:
		return fmt.Sprintf(`tokenizer.json's model is %q, which this pipeline does not support: `+
			`it reads WordPiece (BERT, DistilBERT), byte-level BPE (RoBERTa) and BERTweet's vocab.txt + bpe.codes`, f.Model.Type)
	}
}

// FindModelFile is the ONNX graph Load runs from a model folder. Two layouts
// are in use and both are read as they are: the Hugging Face Hub's (Xenova's
// repos, transformers.js), with onnx/model.onnx and onnx/model_quantized.onnx,
// and Optimum's, whose `optimum-cli export onnx` and ORTQuantizer write
// model.onnx and model_quantized.onnx at the top of the folder. The onnx/
// file wins when a folder has both. quantized prefers the int8 graph; each
// kind falls back on the other, so a folder holding only one still loads.
func FindModelFile(dir string, quantized bool) (string, error) {
	fp32 := []string{filepath.Join("onnx", "model.onnx"), "model.onnx"}
	int8 := []string{filepath.Join("onnx", "model_quantized.onnx"), "model_quantized.onnx"}
	order := append(fp32, int8...)
	if quantized {
		order = append(int8, fp32...)
	}
	for _, name := range order {
		if p := filepath.Join(dir, name); exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("model %s: no onnx/model.onnx, model.onnx (Optimum's layout), onnx/model_quantized.onnx or model_quantized.onnx", dir)
}

// concurrentRuns is how many session runs may go at once so that their
// threads do not outnumber the cores: threads 0 means ONNX Runtime's
// default, one per core.
func concurrentRuns(threads, cores int) int {
	if threads <= 0 || threads >= cores {
		return 1
	}
	return cores / threads
}

// maxLength is the model's token limit: tokenizer_config.json's
// model_max_length when it is sensible, else max_position_embeddings (less
// RoBERTa's two reserved positions).
func maxLength(dir string, cfg modelConfig) int {
	var tc tokenizerConfig
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err == nil && tc.ModelMaxLength > 0 && tc.ModelMaxLength < 1e6 {
		if cfg.MaxPositionEmbeddings == 0 || int(tc.ModelMaxLength) <= cfg.MaxPositionEmbeddings {
			return int(tc.ModelMaxLength)
		}
	}
	n := cfg.MaxPositionEmbeddings
	switch cfg.ModelType {
	case "roberta", "xlm-roberta", "camembert", "bertweet":
		n -= 2
	}
	if n <= 0 {
		n = 512
	}
	return n
}

// Close releases the session.
func (m *Model) Close() error {
	if m.session == nil {
		return nil
	}
	err := m.session.Destroy()
	m.session = nil
	return err
}

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *Tokenizer { return m.tok }

// Predict classifies texts. Texts are sorted by token length and cut into
// batches, each padded only to its longest member, so little work is spent
// on padding; results come back in the input order.
func (m *Model) Predict(texts []string) ([]Prediction, error) {
	enc := make([][]int64, len(texts))
	order := make([]int, len(texts))
	for i, t := range texts {
		enc[i], _ = m.tok.Encode(t, m.MaxLength)
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(enc[order[a]]) < len(enc[order[b]]) })
	out := make([]Prediction, len(texts))
	for start := 0; start < len(order); start += m.opts.BatchSize {
		idx := order[start:min(start+m.opts.BatchSize, len(order))]
		batch := make([][]int64, len(idx))
		for i, j := range idx {
			batch[i] = enc[j]
		}
		probs, err := m.RunIDs(batch)
		if err != nil {
			return nil, err
		}
		for i, j := range idx {
			best := 0
			for c := range probs[i] {
				if probs[i][c] > probs[i][best] {
					best = c
				}
			}
			out[j] = Prediction{Sentiment: m.Labels[best], Score: 100 * float64(probs[i][best]), Probs: probs[i]}
		}
	}
	return out, nil
}

// RunIDs runs the session on token id sequences (padded here to the longest)
// and returns softmax probabilities per sequence.
func (m *Model) RunIDs(batch [][]int64) ([][]float32, error) {
	logits, err := m.Logits(batch)
	for i, l := range logits {
		logits[i] = softmax(l)
	}
	return logits, err
}

// Logits runs the session on token id sequences (padded here to the
// longest) and returns the raw logits per sequence.
func (m *Model) Logits(batch [][]int64) ([][]float32, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	n := len(batch)
	ids, mask, width := padBatch(batch, m.tok.PadID)
	shape := ort.NewShape(int64(n), int64(width))
	inputs := make([]ort.Value, len(m.inputNames))
	defer func() {
		for _, v := range inputs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, name := range m.inputNames {
		data := ids
		switch name {
		case "attention_mask":
			data = mask
		case "token_type_ids":
			data = make([]int64, n*width)
		}
		t, err := ort.NewTensor(shape, data)
		if err != nil {
			return nil, err
		}
		inputs[i] = t
	}
	outputs := []ort.Value{nil}
	m.runs <- struct{}{}
	start := time.Now()
	err := m.session.Run(inputs, outputs)
	took := time.Since(start)
	<-m.runs
	if err != nil {
		return nil, fmt.Errorf("model %s: run: %w", m.Dir, err)
	}
	batchSeconds.Observe(took.Seconds())
	textsInferred.Add(float64(n))
	defer outputs[0].Destroy()
	logits, ok := outputs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("model %s: output is %T, want a float32 tensor", m.Dir, outputs[0])
	}
	data := logits.GetData()
	k := len(m.Labels)
	if len(data) != n*k {
		return nil, fmt.Errorf("model %s: output has %d values for %d texts and %d labels", m.Dir, len(data), n, k)
	}
	out := make([][]float32, n)
	for r := range out {
		out[r] = append([]float32(nil), data[r*k:(r+1)*k]...)
	}
	return out, nil
}

// padBatch lays token id sequences out as one row-major [len(batch) × width]
// input_ids tensor, padded on the right with padID to the longest, and the
// attention mask that goes with it (1 on tokens, 0 on padding): what Hugging
// Face's tokenizers produce for padding="longest" on the right, which the
// tests compare with.
func padBatch(batch [][]int64, padID int64) (ids, mask []int64, width int) {
	for _, seq := range batch {
		width = max(width, len(seq))
	}
	ids = make([]int64, len(batch)*width)
	mask = make([]int64, len(batch)*width)
	for r, seq := range batch {
		for c := 0; c < width; c++ {
			if c < len(seq) {
				ids[r*width+c] = seq[c]
				mask[r*width+c] = 1
			} else {
				ids[r*width+c] = padID
			}
		}
	}
	return ids, mask, width
}

func softmax(logits []float32) []float32 {
	mx := logits[0]
	for _, v := range logits {
		mx = max(mx, v)
	}
	out := make([]float32, len(logits))
	var sum float64
	for i, v := range logits {
		e := math.Exp(float64(v - mx))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

// ---- ONNX Runtime library

var (
	runtimeOnce sync.Once
	runtimeErr  error
)

// MinRuntimeVersion is the oldest ONNX Runtime the Go binding works with.
const MinRuntimeVersion = "1.22.0"

// LibraryPath finds the ONNX Runtime shared library: $ORT_LIB, else the
// copy scripts/setup.sh puts in .cache/onnxruntime (searched upwards from
// the working directory and the executable), else the system's.
func LibraryPath() string {
	if p := os.Getenv("ORT_LIB"); p != "" {
		return p
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			p := filepath.Join(d, ".cache", "onnxruntime", "libonnxruntime.so.1")
			if exists(p) {
				return p
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "libonnxruntime.so.1"
}

// ErrNoRuntime means the ONNX Runtime library could not be loaded.
var ErrNoRuntime = errors.New("ONNX Runtime is not available")

func initRuntime() error {
	runtimeOnce.Do(func() {
		lib := LibraryPath()
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			runtimeErr = fmt.Errorf("%w: loading %s: %v (run scripts/setup.sh, or set ORT_LIB to libonnxruntime.so %s or newer)",
				ErrNoRuntime, lib, err, MinRuntimeVersion)
			return
		}
		if v := ort.GetVersion(); versionLess(v, MinRuntimeVersion) {
			runtimeErr = fmt.Errorf("%w: %s is version %s, need %s or newer", ErrNoRuntime, lib, v, MinRuntimeVersion)
		}
	})
	return runtimeErr
}

// RuntimeVersion loads ONNX Runtime if needed and returns its version.
func RuntimeVersion() (string, error) {
	if err := initRuntime(); err != nil {
		return "", err
	}
	return ort.GetVersion(), nil
}

func versionLess(a, b string) bool {
	var x, y [3]int
	fmt.Sscanf(a, "%d.%d.%d", &x[0], &x[1], &x[2])
	fmt.Sscanf(b, "%d.%d.%d", &y[0], &y[1], &y[2])
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// ---- shared models: one session per process for all DoFn instances

var (
	sharedMu sync.Mutex
	shared   = map[string]*Model{}
)

// Acquire returns the process's model for dir and options, loading it on
// first use. The model stays loaded, with its prediction cache, for the
// process's lifetime: Beam sets up and tears down DoFn instances per bundle
// and per job, and loading a base-size model costs about half a second each
// time. A process holds one model per (folder, options) it has used.
func Acquire(dir string, opts Options) (*Model, error) {
	key := fmt.Sprintf("%s|%+v", dir, opts)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if m, ok := shared[key]; ok {
		return m, nil
	}
	m, err := Load(dir, opts)
	if err != nil {
		return nil, err
	}
	shared[key] = m
	return m, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
