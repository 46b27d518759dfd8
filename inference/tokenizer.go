package inference

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer encodes text as a Hugging Face tokenizer.json describes it. It
// covers what sentiment classifiers ship: WordPiece (BERT, DistilBERT) and
// byte-level BPE (RoBERTa, GPT-2; BERTweet's fastBPE files have no
// tokenizer.json and are read by LoadBertweet), the BERT and
// Unicode normalizers, and the BERT/RoBERTa/template post-processors. A
// tokenizer.json using anything else is refused when it is loaded, never
// silently tokenized differently.
type Tokenizer struct {
	prepare     func(string) string // on the whole text, before added tokens are found (BERTweet's lower-casing)
	normalize   func(string) string
	preTokenize func(string) []string
	model       subwordModel
	prefix      []int64 // special tokens before the text ([CLS], <s>)
	suffix      []int64 // and after it ([SEP], </s>)
	added       []addedToken
	PadID       int64
}

type subwordModel interface {
	// tokenize appends the ids of one pre-tokenized word.
	tokenize(word string, out []int64) []int64
}

type addedToken struct {
	ID      int64  `json:"id"`
	Content string `json:"content"`
	LStrip  bool   `json:"lstrip"`
	RStrip  bool   `json:"rstrip"`
	Special bool   `json:"special"`
}

type tokenizerFile struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         json.RawMessage `json:"model"`
}

// LoadTokenizer reads a tokenizer.json.
func LoadTokenizer(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tok, err := ParseTokenizer(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}

// ParseTokenizer builds a tokenizer from tokenizer.json content.
func ParseTokenizer(data []byte) (*Tokenizer, error) {
	var f tokenizerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	t := &Tokenizer{}
	var err error
	if t.normalize, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.preTokenize, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	var vocab map[string]int64
	if t.model, vocab, err = parseModel(f.Model); err != nil {
		return nil, err
	}
	for _, a := range f.AddedTokens {
		vocab[a.Content] = a.ID
	}
	if t.prefix, t.suffix, err = parsePostProcessor(f.PostProcessor, vocab); err != nil {
		return nil, err
	}
	// Added tokens are matched in the raw text, longest first, as Hugging
	// Face's AddedVocabulary does.
	t.added = append(t.added, f.AddedTokens...)
	sortAdded(t.added)
	for _, pad := range []string{"[PAD]", "<pad>"} {
		if id, ok := vocab[pad]; ok {
			t.PadID = id
			break
		}
	}
	return t, nil
}

// sortAdded puts longer added tokens first, so that of two starting at
// the same place the longest wins.
func sortAdded(a []addedToken) {
	sort.SliceStable(a, func(i, j int) bool { return len(a[i].Content) > len(a[j].Content) })
}

// NumSpecial is how many special tokens Encode adds around the text.
func (t *Tokenizer) NumSpecial() int { return len(t.prefix) + len(t.suffix) }

// Encode returns the token ids of text with the special tokens around it,
// truncated to maxLen tokens (0: no limit) the way Hugging Face's Python
// tokenizers truncate: the text is cut, the special tokens are kept.
func (t *Tokenizer) Encode(text string, maxLen int) (ids []int64, truncated bool) {
	text = validUTF8(text)
	if t.prepare != nil {
		text = t.prepare(text)
	}
	body := t.encodeBody(text, make([]int64, 0, len(text)/3+4))
	if maxLen > 0 {
		if room := maxLen - t.NumSpecial(); len(body) > room {
			body = body[:max(room, 0)]
			truncated = true
		}
	}
	ids = make([]int64, 0, len(body)+t.NumSpecial())
	ids = append(ids, t.prefix...)
	ids = append(ids, body...)
	ids = append(ids, t.suffix...)
	return ids, truncated
}

func (t *Tokenizer) encodeBody(text string, out []int64) []int64 {
	for len(text) > 0 {
		at, tok := t.findAdded(text)
		if tok == nil {
			return t.encodeSegment(text, out)
		}
		before, after := text[:at], text[at+len(tok.Content):]
		if tok.LStrip {
			before = strings.TrimRightFunc(before, unicode.IsSpace)
		}
		if tok.RStrip {
			after = strings.TrimLeftFunc(after, unicode.IsSpace)
		}
		out = t.encodeSegment(before, out)
		out = append(out, tok.ID)
		text = after
	}
	return out
}

func (t *Tokenizer) findAdded(text string) (int, *addedToken) {
	best, bestAt := -1, len(text)
	for i := range t.added {
		c := t.added[i].Content
		if c == "" {
			continue
		}
		if at := strings.Index(text, c); at >= 0 && at < bestAt {
			best, bestAt = i, at
		}
	}
	if best < 0 {
		return -1, nil
	}
	return bestAt, &t.added[best]
}

func (t *Tokenizer) encodeSegment(text string, out []int64) []int64 {
	if text == "" {
		return out
	}
	if t.normalize != nil {
		text = t.normalize(text)
	}
	for _, w := range t.preTokenize(text) {
		out = t.model.tokenize(w, out)
	}
	return out
}

// validUTF8 replaces each invalid byte with U+FFFD, as Go's and JSON's
// decoders do, so byte-level models see the text every other reader sees.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s { // ranging yields RuneError for each invalid byte
		b.WriteRune(r)
	}
	return b.String()
}

// ---- normalizers

type component struct {
	Type string `json:"type"`
}

func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch c.Type {
	case "BertNormalizer":
		var b struct {
			CleanText          bool  `json:"clean_text"`
			HandleChineseChars bool  `json:"handle_chinese_chars"`
			StripAccents       *bool `json:"strip_accents"`
			Lowercase          bool  `json:"lowercase"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
		// Hugging Face: strip_accents null follows lowercase.
		strip := b.Lowercase
		if b.StripAccents != nil {
			strip = *b.StripAccents
		}
		return func(s string) string {
			if b.CleanText {
				s = cleanText(s)
			}
			if b.HandleChineseChars {
				s = padChinese(s)
			}
			if strip {
				s = stripAccents(s)
			}
			if b.Lowercase {
				s = lowercase(s)
			}
			return s
		}, nil
	case "Sequence":
		var seq struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
		var fns []func(string) string
		for _, n := range seq.Normalizers {
			fn, err := parseNormalizer(n)
			if err != nil {
				return nil, err
			}
			if fn != nil {
				fns = append(fns, fn)
			}
		}
		return func(s string) string {
			for _, fn := range fns {
				s = fn(s)
			}
			return s
		}, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFC":
		return norm.NFC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "Lowercase":
		return lowercase, nil
	case "StripAccents":
		return removeMarks, nil
	}
	return nil, fmt.Errorf("unsupported normalizer %q in tokenizer.json", c.Type)
}

// cleanText drops NUL, U+FFFD and control/format characters, and turns
// every white space character into a plain space (BertNormalizer).
func cleanText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r == 0 || r == utf8.RuneError || isOther(r): // controls go before white space: U+000B, U+0085 are dropped
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isOther is Unicode's general category C (Cc, Cf, Cs, Co, Cn).
func isOther(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}

// isChinese is Hugging Face tokenizers' is_chinese_char. Its ranges are
// not Google BERT's: CJK Extension E starts at U+2B920 there, not U+2B820,
// so U+2B820–U+2B91F are not padded (checked against tokenizers 0.23.3).
func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func padChinese(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if isChinese(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripAccents decomposes (NFD) and drops non-spacing marks.
func stripAccents(s string) string { return removeMarks(norm.NFD.String(s)) }

func removeMarks(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lowercase follows Rust's char::to_lowercase, which Hugging Face uses:
// İ (U+0130) becomes "i̇" (two runes); Go's unicode.ToLower gives "i".
func lowercase(s string) string {
	if !strings.ContainsRune(s, 'İ') {
		return strings.ToLower(s)
	}
	return strings.ToLower(strings.ReplaceAll(s, "İ", "i\u0307"))
}

// ---- pre-tokenizers

func parsePreTokenizer(raw json.RawMessage) (func(string) []string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return func(s string) []string { return []string{s} }, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch c.Type {
	case "BertPreTokenizer":
		return bertPreTokenize, nil
	case "WhitespaceSplit":
		return strings.Fields, nil
	case "ByteLevel":
		var bl struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &bl); err != nil {
			return nil, fmt.Errorf("pre_tokenizer: %w", err)
		}
		useRegex := bl.UseRegex == nil || *bl.UseRegex
		return func(s string) []string {
			if bl.AddPrefixSpace && !strings.HasPrefix(s, " ") {
				s = " " + s
			}
			var pieces []string
			if useRegex {
				pieces = gpt2Split(s)
			} else {
				pieces = []string{s}
			}
			for i, p := range pieces {
				pieces[i] = byteLevelEncode(p)
			}
			return pieces
		}, nil
	case "Sequence":
		var seq struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("pre_tokenizer: %w", err)
		}
		var fns []func(string) []string
		for _, p := range seq.PreTokenizers {
			fn, err := parsePreTokenizer(p)
			if err != nil {
				return nil, err
			}
			fns = append(fns, fn)
		}
		return func(s string) []string {
			words := []string{s}
			for _, fn := range fns {
				var next []string
				for _, w := range words {
					next = append(next, fn(w)...)
				}
				words = next
			}
			return words
		}, nil
	}
	return nil, fmt.Errorf("unsupported pre_tokenizer %q in tokenizer.json", c.Type)
}

// bertPreTokenize splits on white space and makes every punctuation
// character a word of its own.
func bertPreTokenize(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			out = append(out, s[i:i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return unicode.IsPunct(r)
}

// gpt2Split cuts text like GPT-2's pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (Go's regexp has no look-ahead, so it is written out).
func gpt2Split(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if s[i] == '\'' {
			if n := contraction(s[i+1:]); n > 0 {
				out = append(out, s[i:i+1+n])
				i += 1 + n
				continue
			}
		}
		j := i
		if s[j] == ' ' && j+1 < len(s) {
			j++
		}
		r, w := utf8.DecodeRuneInString(s[j:])
		class := runeClass(r)
		if class != classSpace {
			k := j + w
			for k < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[k:])
				if runeClass(r2) != class {
					break
				}
				k += w2
			}
			out = append(out, s[i:k])
			i = k
			continue
		}
		// White space: a run, less its last character when a non-space
		// follows (that space then leads the next word).
		k := i
		lastStart := i
		for k < len(s) {
			r2, w2 := utf8.DecodeRuneInString(s[k:])
			if !unicode.IsSpace(r2) {
				break
			}
			lastStart = k
			k += w2
		}
		if k < len(s) && lastStart > i {
			k = lastStart
		}
		out = append(out, s[i:k])
		i = k
	}
	return out
}

const (
	classLetter = iota
	classNumber
	classSpace
	classOther
)

func runeClass(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

func contraction(s string) int {
	for _, c := range []string{"re", "ve", "ll", "s", "t", "m", "d"} {
		if strings.HasPrefix(s, c) {
			return len(c)
		}
	}
	return 0
}

// byteToRune is GPT-2's reversible map of bytes to printable runes.
var byteToRune = func() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

func byteLevelEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

// ---- models

func parseModel(raw json.RawMessage) (subwordModel, map[string]int64, error) {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	switch c.Type {
	case "WordPiece":
		var w struct {
			UnkToken                string           `json:"unk_token"`
			ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
			MaxInputCharsPerWord    int              `json:"max_input_chars_per_word"`
			Vocab                   map[string]int64 `json:"vocab"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, nil, fmt.Errorf("model: %w", err)
		}
		unk, ok := w.Vocab[w.UnkToken]
		if !ok {
			return nil, nil, fmt.Errorf("WordPiece unk_token %q is not in the vocabulary", w.UnkToken)
		}
		prefix := "##"
		if w.ContinuingSubwordPrefix != nil {
			prefix = *w.ContinuingSubwordPrefix
		}
		if w.MaxInputCharsPerWord <= 0 {
			w.MaxInputCharsPerWord = 100
		}
		return &wordPiece{vocab: w.Vocab, unk: unk, prefix: prefix, maxChars: w.MaxInputCharsPerWord}, w.Vocab, nil
	case "BPE":
		var b struct {
			Vocab                   map[string]int64 `json:"vocab"`
			Merges                  json.RawMessage  `json:"merges"`
			UnkToken                *string          `json:"unk_token"`
			ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
			EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
			Dropout                 *float64         `json:"dropout"`
			ByteFallback            bool             `json:"byte_fallback"`
			FuseUnk                 bool             `json:"fuse_unk"`
			IgnoreMerges            bool             `json:"ignore_merges"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, nil, fmt.Errorf("model: %w", err)
		}
		if (b.ContinuingSubwordPrefix != nil && *b.ContinuingSubwordPrefix != "") ||
			(b.EndOfWordSuffix != nil && *b.EndOfWordSuffix != "") || b.ByteFallback || (b.Dropout != nil && *b.Dropout > 0) ||
			b.FuseUnk || b.IgnoreMerges {
			// Each changes which ids a word gets; refusing beats encoding differently without a word.
			return nil, nil, fmt.Errorf("unsupported BPE options (subword prefix/suffix, byte fallback, dropout, fuse_unk or ignore_merges) in tokenizer.json")
		}
		merges, err := parseMerges(b.Merges)
		if err != nil {
			return nil, nil, err
		}
		m := &bpe{vocab: b.Vocab, ranks: make(map[[2]string]int, len(merges)), unk: -1, cache: map[string][]int64{}}
		for i, pair := range merges {
			if _, dup := m.ranks[pair]; !dup {
				m.ranks[pair] = i
			}
		}
		if b.UnkToken != nil {
			if id, ok := b.Vocab[*b.UnkToken]; ok {
				m.unk = id
			}
		}
		return m, b.Vocab, nil
	}
	return nil, nil, fmt.Errorf("unsupported tokenizer model %q in tokenizer.json (WordPiece and BPE are supported)", c.Type)
}

// parseMerges accepts both layouts: ["a b", ...] and [["a", "b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		out := make([][2]string, 0, len(asStrings))
		for _, m := range asStrings {
			a, b, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("BPE merge %q: want two symbols", m)
			}
			out = append(out, [2]string{a, b})
		}
		return out, nil
	}
	var asPairs [][2]string
	if err := json.Unmarshal(raw, &asPairs); err != nil {
		return nil, fmt.Errorf("BPE merges: %w", err)
	}
	return asPairs, nil
}

type wordPiece struct {
	vocab    map[string]int64
	unk      int64
	prefix   string
	maxChars int
}

// tokenize is greedy longest-match-first; a word with a piece not in the
// vocabulary becomes a single unknown token.
func (w *wordPiece) tokenize(word string, out []int64) []int64 {
	if utf8.RuneCountInString(word) > w.maxChars {
		return append(out, w.unk)
	}
	mark := len(out)
	var key strings.Builder
	for start := 0; start < len(word); {
		end := len(word)
		found := int64(-1)
		for end > start {
			key.Reset()
			if start > 0 {
				key.WriteString(w.prefix)
			}
			key.WriteString(word[start:end])
			if id, ok := w.vocab[key.String()]; ok {
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return append(out[:mark], w.unk)
		}
		out = append(out, found)
		start = end
	}
	return out
}

type bpe struct {
	vocab map[string]int64
	ranks map[[2]string]int
	unk   int64

	mu    sync.Mutex
	cache map[string][]int64
}

const bpeCacheSize = 100_000

func (m *bpe) tokenize(word string, out []int64) []int64 {
	m.mu.Lock()
	ids, ok := m.cache[word]
	m.mu.Unlock()
	if ok {
		return append(out, ids...)
	}
	syms := make([]string, 0, len(word))
	for _, r := range word {
		syms = append(syms, string(r))
	}
	syms = applyMerges(syms, m.ranks)
	ids = make([]int64, 0, len(syms))
	for _, s := range syms {
		if id, ok := m.vocab[s]; ok {
			ids = append(ids, id)
		} else if m.unk >= 0 {
			ids = append(ids, m.unk)
		}
	}
	m.mu.Lock()
	if len(m.cache) >= bpeCacheSize {
		m.cache = map[string][]int64{}
	}
	m.cache[word] = ids
	m.mu.Unlock()
	return append(out, ids...)
}

// ---- post-processors

func parsePostProcessor(raw json.RawMessage, vocab map[string]int64) (prefix, suffix []int64, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("post_processor: %w", err)
	}
	switch c.Type {
	case "BertProcessing", "RobertaProcessing":
		var p struct {
			Sep [2]json.RawMessage `json:"sep"`
			Cls [2]json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, fmt.Errorf("post_processor: %w", err)
		}
		var cls, sep int64
		if err := json.Unmarshal(p.Cls[1], &cls); err != nil {
			return nil, nil, fmt.Errorf("post_processor cls: %w", err)
		}
		if err := json.Unmarshal(p.Sep[1], &sep); err != nil {
			return nil, nil, fmt.Errorf("post_processor sep: %w", err)
		}
		return []int64{cls}, []int64{sep}, nil
	case "TemplateProcessing":
		var p struct {
			Single []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int64 `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, fmt.Errorf("post_processor: %w", err)
		}
		seenSeq := false
		for _, piece := range p.Single {
			switch {
			case piece.Sequence != nil:
				seenSeq = true
			case piece.SpecialToken != nil:
				st, ok := p.SpecialTokens[piece.SpecialToken.ID]
				ids := st.IDs
				if !ok {
					id, inVocab := vocab[piece.SpecialToken.ID]
					if !inVocab {
						return nil, nil, fmt.Errorf("post_processor: special token %q has no id", piece.SpecialToken.ID)
					}
					ids = []int64{id}
				}
				if seenSeq {
					suffix = append(suffix, ids...)
				} else {
					prefix = append(prefix, ids...)
				}
			}
		}
		return prefix, suffix, nil
	case "ByteLevel":
		return nil, nil, nil // offsets only
	}
	return nil, nil, fmt.Errorf("unsupported post_processor %q in tokenizer.json", c.Type)
}

// applyMerges is BPE's merge loop, as Hugging Face's BPE and fastBPE (which
// BERTweet uses) run it: while some adjacent pair has a rank, merge every
// occurrence of the lowest-ranked pair, left to right.
func applyMerges(syms []string, ranks map[[2]string]int) []string {
	for len(syms) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := ranks[[2]string{syms[i], syms[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		a, b := syms[best], syms[best+1]
		merged := syms[:0:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				merged = append(merged, a+b)
				i++
			} else {
				merged = append(merged, syms[i])
			}
		}
		syms = merged
	}
	return syms
}
