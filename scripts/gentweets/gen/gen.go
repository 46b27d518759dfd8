// Package gen generates Sentiment140-shaped raw tweet files (see the
// gentweets command). It is deterministic for a seed.
package gen

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options configure a generation run.
type Options struct {
	Out     string
	Tweets  int
	PerFile int
	Format  string
	Seed    uint64
	Bad     float64
	First   int
	Truth   string
	// Profile is "short" (the default: template phrases, ~7 words, many
	// repeated; fast for tests) or "realistic" (shaped like Sentiment140's
	// tweets: ~13 words, ~75 characters, real word frequencies, nearly all
	// distinct; needs Vocab).
	Profile string
	// Vocab is the word list of the realistic profile (DefaultVocab when empty).
	Vocab string
	// Write, when set, takes each file's name and content instead of a
	// file in Out (Produce sends them to Kafka as messages).
	Write func(name string, data []byte) error
}

// Result counts what was written.
type Result struct {
	Records, Files, Malformed int
	ByKind                    map[string]int
}

// Generate writes the files.
func Generate(o Options) (Result, error) {
	switch o.Format {
	case "object", "array", "ndjson":
	default:
		return Result{}, fmt.Errorf("--format %q: want object, array or ndjson", o.Format)
	}
	if o.PerFile < 1 || o.Tweets < 0 || o.Bad < 0 || o.Bad > 1 {
		return Result{}, fmt.Errorf("want --per-file ≥ 1, --tweets ≥ 0 and 0 ≤ --bad ≤ 1")
	}
	if o.Format == "object" && o.PerFile != 1 {
		return Result{}, fmt.Errorf("--format object holds one record per file: use array or ndjson with --per-file %d", o.PerFile)
	}
	write := o.Write
	if write == nil {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return Result{}, err
		}
		write = writeAtomic
	} else if o.Truth != "" {
		return Result{}, fmt.Errorf("--truth names records by their files: not with --kafka")
	}
	g := newGenerator(o.Seed)
	switch o.Profile {
	case "", "short":
	case "realistic":
		path := o.Vocab
		if path == "" {
			path = DefaultVocab
		}
		v, err := LoadVocab(path)
		if err != nil {
			return Result{}, err
		}
		g.vocab = v
	default:
		return Result{}, fmt.Errorf("--profile %q: want short or realistic", o.Profile)
	}
	res := Result{ByKind: map[string]int{}}
	var truth *csv.Writer
	if o.Truth != "" {
		f, err := os.Create(o.Truth)
		if err != nil {
			return res, err
		}
		defer f.Close()
		truth = csv.NewWriter(f)
		defer truth.Flush()
		truth.Write([]string{"source_file", "record", "intended_sentiment", "given_sentiment", "text"})
	}
	for fileNo := 0; res.Records < o.Tweets; fileNo++ {
		name := filepath.Join(o.Out, strconv.Itoa(o.First+fileNo)+".json")
		var recs [][]byte
		for i := 0; i < o.PerFile && res.Records < o.Tweets; i++ {
			var rec []byte
			if o.Bad > 0 && g.r.Float64() < o.Bad {
				kind, data := g.malformed(o.Format)
				res.ByKind[kind]++
				if kind != "extra_field" {
					res.Malformed++
				}
				rec = data
			} else {
				t := g.tweet()
				rec = t.json()
				if truth != nil {
					abs, _ := filepath.Abs(name)
					truth.Write([]string{abs, strconv.Itoa(i), t.intended, t.Sentiment, t.Text})
				}
			}
			recs = append(recs, rec)
			res.Records++
		}
		if err := write(name, layout(o.Format, recs)); err != nil {
			return res, err
		}
		res.Files++
	}
	return res, nil
}

func layout(format string, recs [][]byte) []byte {
	switch format {
	case "array":
		var b strings.Builder
		b.WriteString("[\n")
		for i, r := range recs {
			if i > 0 {
				b.WriteString(",\n")
			}
			b.Write(r)
		}
		b.WriteString("\n]\n")
		return []byte(b.String())
	case "ndjson":
		var b strings.Builder
		for _, r := range recs {
			b.Write(r)
			b.WriteByte('\n')
		}
		return []byte(b.String())
	}
	return recs[0]
}

// writeAtomic writes under a hidden temporary name, then renames: readers
// skip hidden names, and rename is atomic within a folder.
func writeAtomic(name string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// Tweet is one generated record.
type Tweet struct {
	Date      string `json:"date"`
	User      string `json:"user"`
	Text      string `json:"text"`
	Sentiment string `json:"sentiment"`
	intended  string
}

func (t Tweet) json() []byte { return marshal(t) }

// marshal encodes like the course files: "<", ">" and "&" stay as they are.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type generator struct {
	r                *rand.Rand
	users, mentions  *rand.Zipf
	userPool, handle []string
	vocab            *Vocab // the realistic profile's words; nil: short
}

func newGenerator(seed uint64) *generator {
	r := rand.New(rand.NewPCG(seed, 0x7e37))
	g := &generator{r: r}
	g.userPool = pool(r, []string{"tweetpet", "iHomeTech", "nuttychris", "Hollywood_Trey", "mcraddictal", "webwoke"}, 30000)
	g.handle = pool(r, []string{"mileycyrus", "ddlovato", "tommcfly", "JonathanRKnight", "nick_carter", "DonnieWahlberg", "jordanknight", "taylorswift13"}, 20000)
	// Heads like the course data's: the most active user writes well under 1%
	// of tweets, the most mentioned handle gets a few % of mentions.
	g.users = rand.NewZipf(r, 1.1, 30, uint64(len(g.userPool)-1))
	g.mentions = rand.NewZipf(r, 1.1, 10, uint64(len(g.handle)-1))
	return g
}

// pool makes n plausible screen names, heads first (they get most of the Zipf mass).
func pool(r *rand.Rand, heads []string, n int) []string {
	out := append([]string(nil), heads...)
	seen := map[string]bool{}
	for _, h := range heads {
		seen[strings.ToLower(h)] = true
	}
	for len(out) < n {
		name := nameParts[r.IntN(len(nameParts))]
		switch r.IntN(4) {
		case 0:
			name += strconv.Itoa(r.IntN(1000))
		case 1:
			name += "_" + nameParts[r.IntN(len(nameParts))]
		case 2:
			name = strings.ToUpper(name[:1]) + name[1:] + nameParts[r.IntN(len(nameParts))]
		default:
			name += strconv.Itoa(1980 + r.IntN(30))
		}
		if len(name) > 15 {
			name = name[:15]
		}
		if !seen[strings.ToLower(name)] {
			seen[strings.ToLower(name)] = true
			out = append(out, name)
		}
	}
	return out
}

var (
	pdt   = time.FixedZone("PDT", -7*3600)
	pst   = time.FixedZone("PST", -8*3600)
	first = time.Date(2009, 4, 6, 0, 0, 0, 0, pdt)
	last  = time.Date(2009, 6, 25, 23, 59, 59, 0, pdt)
)

const tweetDateLayout = "Mon Jan 02 15:04:05 MST 2006"

func (g *generator) date() string {
	t := first.Add(time.Duration(g.r.Int64N(int64(last.Sub(first)))))
	t = t.Truncate(time.Second)
	if g.r.IntN(100) < 3 { // the course data has a few PST stamps too
		return t.In(pst).Format(tweetDateLayout)
	}
	return t.In(pdt).Format(tweetDateLayout)
}

func (g *generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

// tweet builds one good record.
func (g *generator) tweet() Tweet {
	var intended string
	switch p := g.r.IntN(100); {
	case p < 40:
		intended = "positive"
	case p < 80:
		intended = "negative"
	default:
		intended = "neutral"
	}
	var text string
	if g.vocab != nil {
		text = g.realisticText(intended)
	} else {
		text = g.shortText(intended)
	}
	text = g.addMentions(text)
	if g.vocab != nil && len(text) > maxChars { // a tweet of 2009 had at most 140
		if cut := strings.LastIndexByte(text[:maxChars+1], ' '); cut > 0 {
			text = text[:cut]
		}
	}

	given := intended
	if intended == "neutral" {
		given = []string{"positive", "negative"}[g.r.IntN(2)]
	} else if g.r.IntN(100) < 15 { // the "unknown model" is wrong now and then
		given = map[string]string{"positive": "negative", "negative": "positive"}[intended]
	}
	return Tweet{Date: g.date(), User: g.userPool[g.users.Uint64()], Text: text, Sentiment: given, intended: intended}
}

// shortText is the short profile's text: one or two template phrases and
// now and then a URL, an emoticon or an HTML entity.
func (g *generator) shortText(intended string) string {
	var parts []string
	lang := g.r.IntN(100)
	switch {
	case lang < 6: // some non-English tweets
		parts = append(parts, g.pick(foreign[intended]))
	default:
		parts = append(parts, g.sentence(intended))
		if g.r.IntN(3) == 0 {
			parts = append(parts, g.sentence(intended))
		}
	}
	if g.r.IntN(6) == 0 {
		parts = append(parts, g.url())
	}
	if g.r.IntN(4) == 0 {
		parts = append(parts, g.pick(emoticons[intended]))
	}
	if g.r.IntN(12) == 0 {
		parts = append(parts, g.pick(entities))
	}
	text := strings.Join(parts, " ")
	if g.r.IntN(200) == 0 { // mojibake, as in the real feed
		text = strings.ReplaceAll(text, "e", "Ã©")
	}
	return text
}

// addMentions gives about 47% of tweets one or more @mentions, as in the data.
func (g *generator) addMentions(text string) string {
	if g.r.IntN(1000) >= 470 {
		return text
	}
	n := 1
	if p := g.r.IntN(100); p >= 93 {
		n = 3
	} else if p >= 75 {
		n = 2
	}
	h := func() string {
		s := g.handle[g.mentions.Uint64()]
		if g.r.IntN(10) == 0 { // handles are case-insensitive
			s = strings.ToLower(s)
		}
		return "@" + s
	}
	switch p := g.r.IntN(100); {
	case p < 70: // a reply
		for i := 0; i < n; i++ {
			text = h() + " " + text
		}
	case p < 85:
		return "RT " + h() + ": " + text
	default:
		words := strings.Fields(text)
		for i := 0; i < n; i++ {
			at := g.r.IntN(len(words) + 1)
			words = append(words[:at], append([]string{h()}, words[at:]...)...)
		}
		text = strings.Join(words, " ")
	}
	return text
}

func (g *generator) sentence(intended string) string {
	s := g.pick(templates[intended])
	for strings.Contains(s, "{") {
		i := strings.Index(s, "{")
		j := strings.Index(s[i:], "}") + i
		s = s[:i] + g.pick(slots[s[i+1:j]]) + s[j+1:]
	}
	if g.r.IntN(5) == 0 {
		s = strings.ToLower(s)
	}
	return s
}

func (g *generator) url() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = chars[g.r.IntN(len(chars))]
	}
	return g.pick([]string{"http://twitpic.com/", "http://bit.ly/", "http://tinyurl.com/", "http://is.gd/"}) + string(b)
}

// malformed returns a record that is wrong in one of many ways. In array
// files the record must stay valid JSON, or it would take the rest of the
// array with it.
func (g *generator) malformed(format string) (kind string, data []byte) {
	good := g.tweet()
	kinds := []string{"wrong_type_text", "wrong_type_date", "not_an_object", "unknown_zone", "impossible_date",
		"missing_date", "null_text", "extra_field"}
	if format != "array" {
		kinds = append(kinds, "truncated_json", "binary_garbage", "trailing_garbage")
	}
	if format == "object" {
		kinds = append(kinds, "empty_file")
	}
	kind = g.pick(kinds)
	obj := map[string]any{"date": good.Date, "user": good.User, "text": good.Text, "sentiment": good.Sentiment}
	enc := func() []byte { return marshal(obj) }
	switch kind {
	case "wrong_type_text":
		obj["text"] = g.r.IntN(1000)
	case "wrong_type_date":
		obj["date"] = map[string]any{"$date": 1239081585000}
	case "not_an_object":
		alts := []string{`"just a string"`, `42`, `true`, `null`}
		if format != "object" { // a file holding only [1,2,3] is an array of three records
			alts = append(alts, `[1,2,3]`)
		}
		return kind, []byte(g.pick(alts))
	case "unknown_zone":
		obj["date"] = strings.Replace(good.Date, "PDT", "XYZ", 1)
		obj["date"] = strings.Replace(obj["date"].(string), "PST", "XYZ", 1)
	case "impossible_date":
		obj["date"] = "Mon Feb 30 10:00:00 PDT 2009"
	case "missing_date":
		delete(obj, "date")
	case "null_text":
		obj["text"] = nil
	case "extra_field":
		obj["lang"] = g.pick([]string{"en", "es", "pt", "ja"})
	case "truncated_json":
		b := enc()
		return kind, b[:len(b)/2]
	case "binary_garbage":
		b := make([]byte, 24)
		for i := range b {
			b[i] = byte(g.r.IntN(256))
			if b[i] == '\n' || b[i] == '\r' || b[i] == '{' || b[i] == '[' || b[i] == ' ' || b[i] == '\t' {
				b[i] = 0xFF
			}
		}
		return kind, b
	case "trailing_garbage":
		return kind, append(enc(), []byte(" }garbage")...)
	case "empty_file":
		return kind, []byte{}
	}
	return kind, enc()
}

// Truth is one line of a --truth CSV: what the generator meant a record to say.
type Truth struct {
	SourceFile string
	Record     int
	Intended   string // negative, neutral or positive
	Given      string // the record's sentiment field
	Text       string
}

// ReadTruth reads a --truth CSV.
func ReadTruth(path string) ([]Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Truth
	for i, r := range recs {
		if i == 0 {
			continue // header
		}
		if len(r) != 5 {
			return nil, fmt.Errorf("%s line %d: want 5 fields, got %d", path, i+1, len(r))
		}
		n, err := strconv.Atoi(r[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: record %q: %w", path, i+1, r[1], err)
		}
		out = append(out, Truth{SourceFile: r[0], Record: n, Intended: r[2], Given: r[3], Text: r[4]})
	}
	return out, nil
}
