package inference

import (
	"path/filepath"
	"testing"
)

// FuzzEncode: no text may crash the tokenizers, every id is in the
// vocabulary, the special tokens frame the text, and truncation holds.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"what a great day :)", "İstanbul ıi", "\xff\xfe", "👩‍👩‍👧", "a\x0bb\u0085c", "<mask> [CLS]", "今日は", "", "@User http://t.co/x &#129; &amp; :-) I'm ΣΑΣ"} {
		f.Add(s, uint8(10))
	}
	var toks []*Tokenizer
	var vocabSize []int64
	for _, dir := range []string{demoModel, robertaBPE} {
		tok, err := LoadTokenizer(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			f.Fatal(err)
		}
		n := int64(0)
		switch m := tok.model.(type) {
		case *wordPiece:
			n = int64(len(m.vocab))
		case *bpe:
			n = int64(len(m.vocab))
		}
		toks, vocabSize = append(toks, tok), append(vocabSize, n)
	}
	// BERTweet's vocab.txt + bpe.codes, with and without the tweet normaliser (regexp2, entities).
	for _, opts := range []BertweetOptions{{}, {Normalization: true, Lowercase: true}} {
		tok, err := LoadBertweet(bertweetData, opts)
		if err != nil {
			f.Fatal(err)
		}
		toks, vocabSize = append(toks, tok), append(vocabSize, int64(len(tok.model.(*fastBPE).vocab)))
	}
	f.Fuzz(func(t *testing.T, text string, maxLen uint8) {
		for i, tok := range toks {
			limit := int(maxLen)%64 + tok.NumSpecial()
			ids, truncated := tok.Encode(text, limit)
			if len(ids) < tok.NumSpecial() || ids[0] != tok.prefix[0] || ids[len(ids)-1] != tok.suffix[len(tok.suffix)-1] {
				t.Fatalf("%q: %v is not framed by the special tokens", text, ids)
			}
			if len(ids) > limit || (truncated && len(ids) != limit) {
				t.Fatalf("%q: %d ids for limit %d (truncated %v)", text, len(ids), limit, truncated)
			}
			for _, id := range ids {
				if id < 0 || id >= vocabSize[i] {
					t.Fatalf("%q: id %d outside the vocabulary of %d", text, id, vocabSize[i])
				}
			}
		}
	})
}
