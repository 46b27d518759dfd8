package transforms

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExtractMentions(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		// The course's example tweet (../shared/notes/data-and-model.md).
		{"course example", "@switchfoot http://twitpic.com/2y1zl - Awww, that's a bummer.  You shoulda got David Carr of Third Day to do it. ;D", []string{"switchfoot"}},
		// Cases from twitter-text's conformance suite (extract.yml).
		{"start", "@username reply", []string{"username"}},
		{"end", "mention @username", []string{"username"}},
		{"underscore", "mention @user_name", []string{"user_name"}},
		{"numeric", "mention @12345", []string{"12345"}},
		{"several", "mention @username1 @username2", []string{"username1", "username2"}},
		{"japanese", "の@usernameに到着を待っている", []string{"username"}},
		{"ending in @", "Current Status: @_@ (cc: @username)", []string{"username"}},
		{"accented latin after", "@aliceìnheiro something something", nil},
		{"e-mail", "@username email me @test@example.com", []string{"username"}},
		{"url", "@http://twitter.com", nil},
		{"newline", "@username\n@mention", []string{"username", "mention"}},
		{"RT", "RT@username RT:@mention RT @test", []string{"username", "mention", "test"}},
		{"rt", "rt@username rt:@mention rt @test", []string{"username", "mention", "test"}},
		{"Rt", "Rt@username Rt:@mention Rt @test", []string{"username", "mention", "test"}},
		{"after !", "f!@kn", nil}, {"after @", "f@@kn", nil}, {"after #", "f#@kn", nil},
		{"after $", "f$@kn", nil}, {"after %", "f%@kn", nil}, {"after &", "f&@kn", nil}, {"after *", "f*@kn", nil},
		// More behaviour we rely on.
		{"full-width at", "hi ＠friend!", []string{"friend"}},
		{"address", "mail foo@bar.com now", nil},
		{"list is not a mention", "see @user/my-list and @other", []string{"other"}},
		{"slash then digit is a mention", "@username/7list", []string{"username"}},
		{"punctuation after", "thanks @bob, @carol.", []string{"bob", "carol"}},
		{"twenty characters at most", "@abcdefghijklmnopqrstuvwxyz", []string{"abcdefghijklmnopqrst"}},
		{"word then RT", "ART@x", nil},
		{"dot then RT", ".RT@x", nil},
		{"lone at", "@ @! @", nil},
		{"emoji before", "😀@smile", []string{"smile"}},
		{"invalid utf8 around", "\xff@ok \xfe", []string{"ok"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, m := range ExtractMentions(c.text) {
				got = append(got, m.Handle)
				if span := c.text[m.Start:m.End]; !strings.HasSuffix(span, m.Handle) || (span[0] != '@' && !strings.HasPrefix(span, "＠")) {
					t.Errorf("span %q does not hold @%s", span, m.Handle)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("ExtractMentions(%q) = %v, want %v", c.text, got, c.want)
			}
		})
	}
}

func TestMentionsAndCleanText(t *testing.T) {
	cases := []struct {
		text, cleaned string
		mentions      []string
	}{
		{"@switchfoot http://twitpic.com/2y1zl - Awww, that's a bummer.  You shoulda got David Carr of Third Day to do it. ;D",
			"http://twitpic.com/2y1zl - Awww, that's a bummer. You shoulda got David Carr of Third Day to do it. ;D", []string{"switchfoot"}},
		{"&quot;@Bob&quot; &amp; @ALICE love &lt;3", "\" \" & love <3", []string{"bob", "alice"}},
		{"@Bob hi @bob and @BOB", "hi and", []string{"bob"}},
		{"no mentions\there", "no mentions here", nil},
		{"a@b.com\u00a0 @x\u3000end", "a@b.com end", []string{"x"}},
		{"@only", "", []string{"only"}},
	}
	for _, c := range cases {
		m, cleaned := MentionsAndCleanText(c.text)
		if cleaned != c.cleaned || strings.Join(m, ",") != strings.Join(c.mentions, ",") {
			t.Errorf("MentionsAndCleanText(%q) = %v, %q; want %v, %q", c.text, m, cleaned, c.mentions, c.cleaned)
		}
	}
}

func TestParseTweetDate(t *testing.T) {
	ok := []struct {
		in   string
		want time.Time
	}{
		{"Mon Apr 06 22:19:45 PDT 2009", time.Date(2009, 4, 7, 5, 19, 45, 0, time.UTC)},
		{"Thu Jan 01 00:00:00 PST 2009", time.Date(2009, 1, 1, 8, 0, 0, 0, time.UTC)},
		{"Sat May 16 10:00:00 UTC 2009", time.Date(2009, 5, 16, 10, 0, 0, 0, time.UTC)},
		{"Sat May 16 10:00:00 +0000 2009", time.Date(2009, 5, 16, 10, 0, 0, 0, time.UTC)},
		{"Sat May 16 10:00:00 -07:00 2009", time.Date(2009, 5, 16, 17, 0, 0, 0, time.UTC)},
		{"Sat May 16 10:00:00 EDT 2009", time.Date(2009, 5, 16, 14, 0, 0, 0, time.UTC)},
		{"sat may 16 10:00:00 gmt 2009", time.Date(2009, 5, 16, 10, 0, 0, 0, time.UTC)},
		{" Sun  Feb 29 12:00:00 CST 2004 ", time.Date(2004, 2, 29, 18, 0, 0, 0, time.UTC)},
	}
	for _, c := range ok {
		got, err := ParseTweetDate(c.in)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTweetDate(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, category, detail string }{
		{"Mon Apr 06 22:19:45 XYZ 2009", ReasonUnknownZone, `unknown time zone "XYZ"`},
		{"Mon Apr 06 22:19:45 IST 2009", ReasonUnknownZone, "unknown time zone"},
		{"Fri Feb 30 10:00:00 PDT 2009", ReasonBadDate, "does not exist"},
		{"Mon Apr 06 25:00:00 PDT 2009", ReasonBadDate, "does not exist"},
		{"Tue Apr 06 22:19:45 PDT 2009", ReasonBadDate, "is a Monday"},
		{"2009-04-06T22:19:45Z", ReasonBadDate, "want"},
		{"Mon Foo 06 22:19:45 PDT 2009", ReasonBadDate, "unknown month"},
		{"Mon Apr 6x 22:19:45 PDT 2009", ReasonBadDate, "malformed"},
		{"Mon Apr 06 22:19 PDT 2009", ReasonBadDate, "malformed"},
		{"Mon Apr 06 22:19:45 +2500 2009", ReasonUnknownZone, "unknown time zone"},
		{"", ReasonBadDate, "want"},
	}
	for _, c := range bad {
		_, err := ParseTweetDate(c.in)
		var re *RecordError
		if !errors.As(err, &re) || re.Category != c.category || !strings.Contains(re.Detail, c.detail) {
			t.Errorf("ParseTweetDate(%q) err = %v; want %s containing %q", c.in, err, c.category, c.detail)
		}
	}
}

func TestSplitRecords(t *testing.T) {
	obj := `{"date": "d", "user": "u", "text": "t", "sentiment": "positive"}`
	cases := []struct {
		name     string
		in       string
		records  int
		failures int
	}{
		{"one object", obj, 1, 0},
		{"pretty object", "{\n  \"text\": \"x\"\n}\n", 1, 0},
		{"array", "[" + obj + ",\n" + obj + "]", 2, 0},
		{"empty array", "[]", 0, 0},
		{"ndjson with CRLF and blank lines", obj + "\r\n\r\n" + obj + "\r\n", 2, 0},
		{"BOM", "\xEF\xBB\xBF" + obj, 1, 0},
		{"empty file", "  \n", 1, 1},
		{"broken array", "[" + obj + ", {\"text\": ", 2, 1},
		{"garbage after array", "[" + obj + "] trailing", 2, 1},
		{"object then garbage", obj + " }}", 1, 0}, // one line, cut as a record: DecodeTweet rejects it
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs := SplitRecords([]byte(c.in))
			fails := 0
			for _, r := range recs {
				if r.Err != nil {
					fails++
				}
			}
			if len(recs) != c.records || fails != c.failures {
				t.Errorf("got %d records (%d failed), want %d (%d failed): %+v", len(recs), fails, c.records, c.failures, recs)
			}
		})
	}
}

func TestDecodeTweet(t *testing.T) {
	str := func(s string) *string { return &s }
	cases := []struct {
		name     string
		in       string
		want     Tweet
		category string
	}{
		{"all fields", `{"date":"D","user":"U","text":"T","sentiment":"negative"}`,
			Tweet{Date: str("D"), User: str("U"), Text: str("T"), Sentiment: str("negative")}, ""},
		{"null and missing", `{"date":null,"text":"T"}`, Tweet{Text: str("T")}, ""},
		{"extra fields kept", `{"text":"T","lang":"en","Retweets":3,"geo":{"a":[1, 2]},"Text":"dup","gone":null}`,
			Tweet{Text: str("T"), Extra: map[string]string{"lang": "en", "retweets": "3", "geo": `{"a":[1,2]}`, "extra_text": "dup"}}, ""},
		{"wrong type", `{"text": 42}`, Tweet{}, ReasonWrongType},
		{"array field", `{"user": ["a"]}`, Tweet{}, ReasonWrongType},
		{"not an object", `[1,2]`, Tweet{}, ReasonNotObject},
		{"string record", `"hello"`, Tweet{}, ReasonNotObject},
		{"invalid json", `{"text": "unterminated`, Tweet{}, ReasonInvalidJSON},
		{"binary garbage", "\x00\x01\x02\xff", Tweet{}, ReasonInvalidJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeTweet([]byte(c.in), DefaultLimits)
			if c.category != "" {
				if Category(err) != c.category {
					t.Fatalf("err = %v, want category %s", err, c.category)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != show(c.want) {
				t.Errorf("got %s\nwant %s", show(got), show(c.want))
			}
		})
	}
	big := `{"text":"` + strings.Repeat("x", 2<<20) + `"}`
	if _, err := DecodeTweet([]byte(big), DefaultLimits); Category(err) != ReasonTooLarge {
		t.Errorf("2 MiB record: err = %v, want %s", err, ReasonTooLarge)
	}
}

func show(t Tweet) string {
	p := func(s *string) string {
		if s == nil {
			return "<nil>"
		}
		return *s
	}
	var extra []string
	for k, v := range t.Extra {
		extra = append(extra, k+"="+v)
	}
	sortStrings(extra)
	return strings.Join([]string{p(t.Date), p(t.User), p(t.Text), p(t.Sentiment), strings.Join(extra, ";")}, "|")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
