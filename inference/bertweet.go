package inference

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/encoding/charmap"
)

// BERTweet (vinai/bertweet-base and the models fine-tuned from it, such as
// finiteautomata/bertweet-base-sentiment-analysis, the course's model)
// ships no tokenizer.json: only fastBPE's vocab.txt and bpe.codes, read by
// transformers' Python-only BertweetTokenizer. This file reproduces that
// tokenizer so such a folder works without a conversion step; every rule
// below is transformers' (5.24) and was checked against it
// (inference/bertweet_test.go, scripts/oracles/tok_bertweet.py).

// BertweetOptions are the tokenizer_config.json flags BertweetTokenizer
// reads.
type BertweetOptions struct {
	// Normalization is BERTweet's tweet normaliser ("normalization": true):
	// NLTK's TweetTokenizer, then @handles become @USER and URLs HTTPURL,
	// contractions are split ("n't", "'s") and ’ … become ' and ....
	// Emoji are NOT turned into :names: as transformers does when the emoji
	// package is installed: we keep them, as transformers does without it.
	Normalization bool
	// Lowercase lowercases the text (special tokens included, as
	// transformers 4's do_lower_case did) before anything else.
	// transformers 5 ignores do_lower_case for BertweetTokenizer; the flag
	// is honoured here because uncased BERTweet checkpoints were trained on
	// lower-cased text.
	Lowercase bool
}

type bertweetConfig struct {
	Normalization bool `json:"normalization"`
	DoLowerCase   bool `json:"do_lower_case"`
}

// LoadTokenizerDir reads a model folder's tokenizer: tokenizer.json when
// there is one, else BERTweet's vocab.txt + bpe.codes with the flags of
// tokenizer_config.json ("normalization", "do_lower_case").
func LoadTokenizerDir(dir string) (*Tokenizer, error) {
	p := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(p); err == nil || !exists(filepath.Join(dir, "bpe.codes")) {
		return LoadTokenizer(p)
	}
	var cfg bertweetConfig
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &cfg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("BERTweet tokenizer %s: %w", dir, err)
	}
	return LoadBertweet(dir, BertweetOptions{Normalization: cfg.Normalization, Lowercase: cfg.DoLowerCase})
}

// LoadBertweet reads dir/vocab.txt and dir/bpe.codes as
// transformers' BertweetTokenizer does: ids 0–3 are <s>, <pad>, </s>,
// <unk>, then vocab.txt's tokens in order ("token count" per line), then
// <mask>; a text is encoded as <s> … </s>.
func LoadBertweet(dir string, opts BertweetOptions) (*Tokenizer, error) {
	vocab := map[string]int64{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	vf := filepath.Join(dir, "vocab.txt")
	data, err := os.ReadFile(vf)
	if err != nil {
		return nil, fmt.Errorf("BERTweet tokenizer: %w", err)
	}
	// Python reads the file in text mode: \r\n and \r end lines too, and
	// each line is stripped of white space before "token count" is cut at
	// its last space. A repeated token takes the next id, as there.
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	for n, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		line = strings.TrimFunc(line, pyIsSpace)
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("BERTweet tokenizer: %s line %d: want \"<token> <count>\", got %q", vf, n+1, line)
		}
		vocab[line[:i]] = int64(len(vocab))
	}
	if _, ok := vocab["<mask>"]; !ok {
		vocab["<mask>"] = int64(len(vocab))
	}
	m := &fastBPE{vocab: vocab, ranks: map[[2]string]int{}, unk: vocab["<unk>"], cache: map[string][]int64{}}
	cf := filepath.Join(dir, "bpe.codes")
	codes, err := os.ReadFile(cf)
	if err != nil {
		return nil, fmt.Errorf("BERTweet tokenizer: %w", err)
	}
	// transformers drops the text after the last newline, and takes
	// "a b count" lines as merges; when a pair repeats, its last rank
	// counts (a Python dict built from the list).
	lines := strings.Split(string(codes), "\n")
	for rank, line := range lines[:len(lines)-1] {
		if f := strings.FieldsFunc(line, pyIsSpace); len(f) == 3 {
			m.ranks[[2]string{f[0], f[1]}] = rank
		}
	}
	t := &Tokenizer{
		preTokenize: fastBPESplit,
		model:       m,
		prefix:      []int64{vocab["<s>"]},
		suffix:      []int64{vocab["</s>"]},
		PadID:       vocab["<pad>"],
	}
	for _, s := range []string{"<s>", "<pad>", "</s>", "<unk>", "<mask>"} {
		t.added = append(t.added, addedToken{ID: vocab[s], Content: s, Special: true})
	}
	sortAdded(t.added)
	if opts.Normalization {
		t.normalize = normalizeTweet
	}
	if opts.Lowercase {
		t.prepare = pyLower
	}
	return t, nil
}

// fastBPESplit is BertweetTokenizer's word split, re.findall(r"\S+\n?"):
// runs of non-space, each keeping one newline that ends it.
func fastBPESplit(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if pyIsSpace(r) {
			i += w
			continue
		}
		j := i
		for j < len(s) {
			r, w := utf8.DecodeRuneInString(s[j:])
			if pyIsSpace(r) {
				break
			}
			j += w
		}
		if j < len(s) && s[j] == '\n' {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// pyIsSpace is Python's str.isspace (what re's \s and str.split use): Go's
// unicode.IsSpace plus the separators U+001C–U+001F.
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// fastBPE is subword-nmt/fastBPE's BPE as BertweetTokenizer.bpe applies
// it: "</w>" marks the last character, the lowest-ranked pair is merged
// everywhere until none is ranked, and all pieces but the last get "@@".
type fastBPE struct {
	vocab map[string]int64
	ranks map[[2]string]int
	unk   int64

	mu    sync.Mutex
	cache map[string][]int64
}

func (m *fastBPE) tokenize(word string, out []int64) []int64 {
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
	var pieces []string
	if len(syms) == 1 {
		pieces = syms // one character: transformers returns it as it is, without "</w>"
	} else {
		syms[len(syms)-1] += "</w>"
		syms = applyMerges(syms, m.ranks)
		// "@@ ".join(word)[:-4], split on spaces.
		joined := strings.Join(syms, "@@ ")
		pieces = strings.Split(joined[:len(joined)-len("</w>")], " ")
	}
	ids = make([]int64, 0, len(pieces))
	for _, p := range pieces {
		if id, ok := m.vocab[p]; ok {
			ids = append(ids, id)
		} else {
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

// ---- BERTweet's tweet normaliser (BertweetTokenizer.normalizeTweet)

var specialPuncts = strings.NewReplacer("’", "'", "…", "...")

// normalizeTweet is BertweetTokenizer.normalizeTweet without the emoji
// package: NLTK's TweetTokenizer tokens, @handles as @USER, URLs as
// HTTPURL, the contraction and a.m./p.m. rewrites, white space collapsed.
func normalizeTweet(tweet string) string {
	tweet = specialPuncts.Replace(tweet)
	tokens := tweetTokenize(tweet)
	for i, tok := range tokens {
		tokens[i] = normalizeTweetToken(tok)
	}
	norm := strings.Join(tokens, " ")
	for _, r := range [][2]string{
		{"cannot ", "can not "}, {"n't ", " n't "}, {"n 't ", " n't "}, {"ca n't", "can't"}, {"ai n't", "ain't"},
		{"'m ", " 'm "}, {"'re ", " 're "}, {"'s ", " 's "}, {"'ll ", " 'll "}, {"'d ", " 'd "}, {"'ve ", " 've "},
		{" p . m .", "  p.m."}, {" p . m ", " p.m "}, {" a . m .", " a.m."}, {" a . m ", " a.m "},
	} {
		norm = strings.ReplaceAll(norm, r[0], r[1])
	}
	return strings.Join(strings.FieldsFunc(norm, pyIsSpace), " ")
}

func normalizeTweetToken(tok string) string {
	lower := pyLower(tok)
	switch {
	case strings.HasPrefix(tok, "@"):
		return "@USER"
	case strings.HasPrefix(lower, "http") || strings.HasPrefix(lower, "www"):
		return "HTTPURL"
	case utf8.RuneCountInString(tok) == 1:
		return specialPuncts.Replace(tok) // demojizing would go here
	}
	return tok
}

// tweetWordRE is NLTK's casual TweetTokenizer WORD_RE, as transformers
// copies it, for regexp2 (Go's regexp has no look-around). \w, \d and \b
// are spelled out with the code points Python's `regex` module gives them
// (bertweet_unicode.go): regexp2's follow Go's older Unicode tables and a
// narrower \w (no joiners, no Other_Alphabetic symbols such as Ⓐ).
var tweetWordRE = func() *regexp2.Regexp {
	w, d := classRanges(pyWordRanges), classRanges(pyDigitRanges)
	word := "[" + w + "]"
	letter := "[" + w + "-[" + d + "_]]" // [^\W\d_]
	boundary := "(?:(?<=" + word + ")(?!" + word + ")|(?<!" + word + ")(?=" + word + "))"
	az := `[a-z\u017F\u212A]` // regex's IGNORECASE folds ſ and K (Kelvin) to s and k
	urls := `(?:https?:(?:/{1,3}|[a-z0-9%\u017F\u212A])|[a-z0-9.\-\u017F\u212A]+[.](?:` + az + `{2,13})/)` +
		`(?:[^\s()<>{}\[\]]+|\([^\s()]*?\([^\s()]+\)[^\s()]*?\)|\([^\s]+?\))+` +
		`(?:\([^\s()]*?\([^\s()]+\)[^\s()]*?\)|\([^\s]+?\)|[^\s` + "`" + `!()\[\]{};:'".,<>?«»“”‘’])` +
		`|(?:(?<!@)[a-z0-9\u017F\u212A]+(?:[.\-][a-z0-9\u017F\u212A]+)*[.](?:` + az + `{2,13})` + boundary + `/?(?!@))`
	phone := `(?:(?:\+?[01][ *\-.\)]*)?(?:[\(]?[` + d + `]{3}[ *\-.\)]*)?[` + d + `]{3}[ *\-.\)]*[` + d + `]{4})`
	emoticons := `(?:[<>]?[:;=8][\-o\*\']?[\)\]\(\[dDpP/\:\}\{@\|\\]|[\)\]\(\[dDpP/\:\}\{@\|\\][\-o\*\']?[:;=8][<>]?|<3)`
	parts := []string{
		urls, phone, emoticons,
		`<[^>\s]+>`,          // HTML tags
		`[\-]+>|<[\-]+`,      // ASCII arrows
		`(?:@[` + w + `_]+)`, // Twitter username
		`(?:\#+[` + w + `_]+[` + w + `'_\-]*[` + w + `_]+)`,               // hashtags
		`[` + w + `.+-]+@[` + w + `-]+\.(?:[` + w + `-]\.?)+[` + w + `-]`, // email addresses
		`(?:` + letter + `(?:` + letter + `|['\-_])+` + letter + `)` + // words with apostrophes or dashes
			`|(?:[+\-]?[` + d + `]+[,/.:-][` + d + `]+[+\-]?)` + // numbers, fractions, decimals
			`|(?:[` + w + `_]+)` + // words without apostrophes or dashes
			`|(?:\.(?:\s*\.){1,})` + // ellipsis dots
			`|(?:\S)`, // everything else that is not white space
	}
	return regexp2.MustCompile("("+strings.Join(parts, "|")+")", regexp2.IgnoreCase)
}()

// classRanges writes lo, hi pairs as the inside of a regexp2 character
// class: BMP code points escaped as \uXXXX, others literally (regexp2 reads
// its pattern as runes and has no escape above U+FFFF).
func classRanges(pairs []rune) string {
	var b strings.Builder
	one := func(r rune) {
		if r <= 0xffff {
			fmt.Fprintf(&b, `\u%04X`, r)
		} else {
			b.WriteRune(r)
		}
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		one(pairs[i])
		if pairs[i+1] != pairs[i] {
			b.WriteByte('-')
			one(pairs[i+1])
		}
	}
	return b.String()
}

// tweetTokenize is TweetTokenizer().tokenize (case kept, no lengthening
// reduction, handles kept): HTML entities decoded, runs of 4+ of one
// non-alphanumeric character cut to 3, then WORD_RE's matches.
func tweetTokenize(text string) []string {
	text = hangShorten(replaceHTMLEntities(text))
	var out []string
	m, err := tweetWordRE.FindStringMatch(text)
	for ; m != nil && err == nil; m, err = tweetWordRE.FindNextMatch(m) {
		out = append(out, m.String())
	}
	return out
}

// hangShorten is HANG_RE.sub(r"\1\1\1"): ([^a-zA-Z0-9])\1{3,}.
func hangShorten(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	rs := []rune(s)
	for i := 0; i < len(rs); {
		j := i + 1
		for j < len(rs) && rs[j] == rs[i] {
			j++
		}
		n := j - i
		r := rs[i]
		if n >= 4 && !(r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')) {
			n = 3
		}
		for k := 0; k < n; k++ {
			b.WriteRune(r)
		}
		i = j
	}
	return b.String()
}

// entityRE is ENT_RE, &(#?(x?))([^&;\s]+); with Python's Unicode \s.
var entityRE = regexp.MustCompile(`&(#?(x?))([^&;\s\x0b\x1c-\x1f\x{85}\p{Z}]+);`)

// replaceHTMLEntities is NLTK's _replace_html_entities(text): numeric
// references (80–9F read as Windows-1252) and Python's 252 HTML 4 names
// become characters; what does not convert is removed.
func replaceHTMLEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return entityRE.ReplaceAllStringFunc(s, func(m string) string {
		g := entityRE.FindStringSubmatch(m)
		body := g[3]
		if g[1] != "" {
			base := 10
			if g[2] != "" {
				base = 16
			}
			n, ok := pyInt(body, base)
			if !ok {
				return ""
			}
			if n >= 0x80 && n <= 0x9f {
				r := charmap.Windows1252.DecodeByte(byte(n))
				if r == utf8.RuneError { // undefined in cp1252: Python's decode raises, and the entity goes
					return ""
				}
				return string(r)
			}
			if n >= 0xd800 && n <= 0xdfff {
				// Python keeps a lone surrogate, which becomes a token of its
				// own and <unk>; Go strings cannot hold one, U+FFFD stands in.
				return "\uFFFD"
			}
			if n < 0 || n > unicode.MaxRune {
				return "" // chr() refuses it
			}
			return string(rune(n))
		}
		if r, ok := htmlEntities[body]; ok {
			return string(r)
		}
		return ""
	})
}

// pyInt is Python's int(s, base) for what ENT_RE can capture: an optional
// sign, digits with single underscores between them.
func pyInt(s string, base int) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), base, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return unicode.MaxRune + 1, true // too large for chr()
		}
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// pyLower is Python's str.lower: Go's lower-casing, with İ → i̇ and Σ → ς
// at the end of a word (Final_Sigma).
func pyLower(s string) string {
	if !strings.ContainsRune(s, 'Σ') {
		return lowercase(s)
	}
	rs := []rune(s)
	var b bytes.Buffer
	for i, r := range rs {
		if r == 'Σ' && finalSigma(rs, i) {
			b.WriteRune('ς')
			continue
		}
		b.WriteString(lowercase(string(r)))
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition: a cased letter before
// (skipping case-ignorable characters) and none after.
func finalSigma(rs []rune, i int) bool {
	cased := func(r rune) bool { return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) }
	ignorable := func(r rune) bool {
		return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) || strings.ContainsRune("'.:·‘’\u00ad", r)
	}
	j := i - 1
	for j >= 0 && ignorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	k := i + 1
	for k < len(rs) && ignorable(rs[k]) {
		k++
	}
	return k >= len(rs) || !cased(rs[k])
}
