package transforms

import (
	"html"
	"strings"
	"unicode/utf8"
)

// Mention is one @mention found in a text: the handle as written, and the byte
// span of "@handle" (the at sign included).
type Mention struct {
	Handle     string
	Start, End int
}

// ExtractMentions finds @mentions the way Twitter's twitter-text library does
// (extractMentionsWithIndices): an at sign (@ or full-width ＠) followed by 1–20
// ASCII letters, digits or underscores; not preceded by a letter, digit,
// underscore or one of !#$%&*@＠ unless that is "RT", "RT:" (any case) itself
// standing at a word start; not followed by another at sign, a Latin accented
// letter or "://"; and not a list ("@user/list"). Like the reference regular
// expression it resumes scanning after each candidate, accepted or not.
func ExtractMentions(text string) []Mention {
	var out []Mention
	resume := 0 // like a global regex's lastIndex: no match may start before it
	for p := 0; p < len(text); {
		r, w := utf8.DecodeRuneInString(text[p:])
		if r != '@' && r != '＠' {
			p += w
			continue
		}
		if !validMentionStart(text, p, resume) {
			p += w
			continue
		}
		nameStart := p + w
		nameEnd := nameStart
		for nameEnd < len(text) && nameEnd-nameStart < 20 && isScreenNameByte(text[nameEnd]) {
			nameEnd++
		}
		if nameEnd == nameStart {
			p += w
			continue
		}
		end := nameEnd
		isList := false
		if end+1 < len(text) && text[end] == '/' && isASCIILetter(text[end+1]) {
			isList = true
			end += 2
			for n := 0; end < len(text) && n < 24 && (isScreenNameByte(text[end]) || text[end] == '-'); n++ {
				end++
			}
		}
		resume = end
		p = end
		if invalidMentionEnd(text[end:]) || isList {
			continue
		}
		out = append(out, Mention{Handle: text[nameStart:nameEnd], Start: nameStart - w, End: nameEnd})
	}
	return out
}

// validMentionStart reports whether the at sign at p has a valid preceding
// context that begins at or after resume (text before resume was consumed by
// an earlier candidate, as in a global regex).
func validMentionStart(text string, p, resume int) bool {
	if p == 0 {
		return true
	}
	prev, pw := utf8.DecodeLastRuneInString(text[:p])
	if p-pw >= resume && !isInvalidMentionPrefix(prev) {
		return true
	}
	// (?:^|[^a-zA-Z0-9_+~.-])(?:rt|RT|rT|Rt):?  directly before the at sign.
	q := p
	if q > 0 && text[q-1] == ':' {
		q--
	}
	if q < 2 || !strings.EqualFold(text[q-2:q], "rt") {
		return false
	}
	q -= 2
	if q < resume {
		return false
	}
	if q == 0 {
		return true
	}
	before, bw := utf8.DecodeLastRuneInString(text[:q])
	return q-bw >= resume && !(isScreenNameRune(before) || strings.ContainsRune("+~.-", before))
}

func isInvalidMentionPrefix(r rune) bool {
	return isScreenNameRune(r) || strings.ContainsRune("!#$%&*@＠", r)
}

// invalidMentionEnd: an at sign, a Latin accented letter or "://" right after
// the name disqualifies it (an e-mail address, "@aliceìnheiro", "@http://").
func invalidMentionEnd(after string) bool {
	if strings.HasPrefix(after, "://") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(after)
	return r == '@' || r == '＠' || isLatinAccent(r)
}

func isLatinAccent(r rune) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x24F,
		r >= 0x300 && r <= 0x36F, r >= 0x1E00 && r <= 0x1EFF:
		return true
	}
	switch r {
	case 0x253, 0x254, 0x256, 0x257, 0x259, 0x25B, 0x263, 0x268, 0x26F, 0x272, 0x289, 0x28B, 0x2BB:
		return true
	}
	return false
}

func isASCIILetter(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func isScreenNameByte(b byte) bool {
	return isASCIILetter(b) || (b >= '0' && b <= '9') || b == '_'
}

func isScreenNameRune(r rune) bool { return r < utf8.RuneSelf && isScreenNameByte(byte(r)) }

// MentionsAndCleanText is silver's view of a tweet text. HTML entities are
// decoded first (Sentiment140 texts carry &quot; &amp; &lt;), so mentions are
// found in the text a reader sees. mentions holds each distinct handle once,
// lower-cased (handles are case-insensitive), in order of first appearance:
// a tweet counts once towards each handle it mentions. cleaned is the
// decoded text with every mention span removed and whitespace collapsed.
func MentionsAndCleanText(text string) (mentions []string, cleaned string) {
	decoded := html.UnescapeString(text)
	found := ExtractMentions(decoded)
	var b strings.Builder
	b.Grow(len(decoded))
	last := 0
	seen := make(map[string]bool, len(found))
	for _, m := range found {
		b.WriteString(decoded[last:m.Start])
		b.WriteByte(' ') // keep the words around a mention apart
		last = m.End
		h := strings.ToLower(m.Handle)
		if !seen[h] {
			seen[h] = true
			mentions = append(mentions, h)
		}
	}
	b.WriteString(decoded[last:])
	return mentions, collapseSpace(b.String())
}

// collapseSpace trims and turns every run of Unicode white space into a single
// ASCII space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
