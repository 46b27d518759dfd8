package transforms

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzzers: no input may panic, and the invariants the pipeline relies on
// hold. Seeds are the shapes the unit tests use; go test runs them, and
// go test -fuzz=FuzzX explores further (see docs/RELIABILITY.md).

func FuzzSplitAndDecode(f *testing.F) {
	for _, s := range []string{
		`{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"@a hi","sentiment":"positive"}`,
		`[{"text":"a"},{"text":1},"x",[1]]`, "{\"text\":\"a\"}\r\n{\"text\":\"b\"}\n", "\xEF\xBB\xBF{}", "", "[", "{} garbage",
		`{"a":{"b":{"c":[[[[[[1]]]]]]}}}`, "\x00\xff\xfe", `{"text":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := SplitRecords(data)
		if len(recs) == 0 && len(strings.TrimSpace(string(data))) > 0 && strings.TrimSpace(string(data)) != "[]" {
			// only an empty array may hold no record
			if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(string(data), "\xEF\xBB\xBF")), "[") {
				t.Fatalf("non-empty input %q gave no record", data)
			}
		}
		for _, r := range recs {
			if r.Err != nil {
				if Category(r.Err) == "" {
					t.Fatalf("error without a category: %v", r.Err)
				}
				continue
			}
			tw, err := DecodeTweet(r.Data, DefaultLimits)
			if err != nil {
				if !strings.Contains(err.Error(), ": ") {
					t.Fatalf("reason without detail: %v", err)
				}
				continue
			}
			for _, p := range []*string{tw.Date, tw.User, tw.Text, tw.Sentiment} {
				if p != nil && !utf8.ValidString(*p) {
					t.Fatalf("decoded field is not valid UTF-8: %q", *p)
				}
			}
			for k := range tw.Extra {
				if k == "" || strings.ContainsAny(k, " ,;{}()\n\t=") {
					t.Fatalf("extra column name %q is not a valid Delta column name", k)
				}
			}
		}
	})
}

func FuzzParseTweetDate(f *testing.F) {
	for _, s := range []string{"Mon Apr 06 22:19:45 PDT 2009", "Sun Feb 29 12:00:00 +0530 2004", "Fri Feb 30 10:00:00 PDT 2009",
		"Mon Apr 06 22:19:45 XYZ 2009", "", "a b c d e f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTweetDate(s)
		if err != nil {
			if c := Category(err); c != ReasonBadDate && c != ReasonUnknownZone {
				t.Fatalf("category %q for %q", c, s)
			}
			return
		}
		// Round trip: the instant, written in the layout in the zone the
		// string named, parses back to the same instant and the same fields.
		fields := strings.Fields(s)
		off, zerr := zoneOffset(fields[4])
		if zerr != nil {
			t.Fatalf("parsed %q but its zone does not resolve", s)
		}
		local := ts.In(time.FixedZone(fields[4], off))
		back := local.Format("Mon Jan 02 15:04:05 ") + fields[4] + local.Format(" 2006")
		again, err := ParseTweetDate(back)
		if err != nil || !again.Equal(ts) {
			t.Fatalf("%q parsed to %v; written back as %q it parses to %v, %v", s, ts, back, again, err)
		}
		if d, _ := atoiN(fields[2], 1, 2); local.Day() != d || !strings.EqualFold(local.Format("Jan"), fields[1]) {
			t.Fatalf("%q parsed to %v: day or month moved", s, local)
		}
	})
}

func FuzzMentionsAndCleanText(f *testing.F) {
	for _, s := range []string{"@switchfoot http://twitpic.com/2y1zl - Awww", "RT@a RT:@b rt @c", "a@b.com @x@y",
		"&quot;@Bob&quot; &amp; @ALICE", "@aliceìnheiro", "＠full @user/list", strings.Repeat("@a ", 50), "\xff@ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		mentions, cleaned := MentionsAndCleanText(text)
		lowerText := strings.ToLower(text)
		seen := map[string]bool{}
		for _, m := range mentions {
			if m == "" || len(m) > 20 || m != strings.ToLower(m) || seen[m] {
				t.Fatalf("bad mention %q in %v", m, mentions)
			}
			seen[m] = true
			// every mention is in the text in some letter case (entities decode
			// to at most the handle's own characters)
			if !strings.Contains(lowerText, m) {
				t.Fatalf("mention %q is not in %q", m, text)
			}
		}
		if strings.Contains(cleaned, "  ") || strings.TrimSpace(cleaned) != cleaned {
			t.Fatalf("cleaned text %q has uncollapsed white space", cleaned)
		}
		// no extracted mention survives in cleaned_text as a mention
		for _, m := range ExtractMentions(cleaned) {
			if seen[strings.ToLower(m.Handle)] && hasMentionSpan(text, m.Handle) {
				t.Fatalf("cleaned text %q still mentions @%s", cleaned, m.Handle)
			}
		}
	})
}

// hasMentionSpan: the handle was extracted from the original text itself
// (not assembled by removing the text between two pieces).
func hasMentionSpan(text, handle string) bool {
	for _, m := range ExtractMentions(text) {
		if strings.EqualFold(m.Handle, handle) {
			return true
		}
	}
	return false
}
