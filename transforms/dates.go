package transforms

import (
	"strconv"
	"strings"
	"time"
)

// zoneOffsets maps the zone abbreviations tweets carry to UTC offsets in
// seconds. Go's time.Parse gives an unknown abbreviation offset 0 without a
// word, which would shift Pacific-time tweets by 7–8 hours; so zones are
// looked up here and an unknown one is an error.
var zoneOffsets = map[string]int{
	"UTC": 0, "GMT": 0, "Z": 0,
	"EST": -5 * 3600, "EDT": -4 * 3600,
	"CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600,
	"PST": -8 * 3600, "PDT": -7 * 3600,
}

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseTweetDate parses Twitter's `EEE MMM dd HH:mm:ss zzz yyyy` layout
// ("Mon Apr 06 22:19:45 PDT 2009"). The zone is an abbreviation from a fixed
// table or a numeric offset (+0000, -07:00). Dates that do not exist (Feb 30,
// 25:00, a weekday that does not match the date) are errors, never normalised.
func ParseTweetDate(s string) (time.Time, error) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return time.Time{}, recordErr(ReasonBadDate, "date %q: want \"EEE MMM dd HH:mm:ss zzz yyyy\"", clip(s))
	}
	wd, ok := weekdays[strings.ToLower(f[0])]
	if !ok {
		return time.Time{}, recordErr(ReasonBadDate, "date %q: unknown weekday %q", clip(s), clip(f[0]))
	}
	mon, ok := months[strings.ToLower(f[1])]
	if !ok {
		return time.Time{}, recordErr(ReasonBadDate, "date %q: unknown month %q", clip(s), clip(f[1]))
	}
	day, err1 := atoiN(f[2], 1, 2)
	year, err2 := atoiN(f[5], 4, 4)
	hms := strings.Split(f[3], ":")
	if err1 != nil || err2 != nil || len(hms) != 3 {
		return time.Time{}, recordErr(ReasonBadDate, "date %q: malformed day, time or year", clip(s))
	}
	hh, e1 := atoiN(hms[0], 2, 2)
	mm, e2 := atoiN(hms[1], 2, 2)
	ss, e3 := atoiN(hms[2], 2, 2)
	if e1 != nil || e2 != nil || e3 != nil {
		return time.Time{}, recordErr(ReasonBadDate, "date %q: malformed time %q", clip(s), clip(f[3]))
	}
	off, err := zoneOffset(f[4])
	if err != nil {
		return time.Time{}, recordErr(ReasonUnknownZone, "date %q: unknown time zone %q", clip(s), clip(f[4]))
	}
	t := time.Date(year, mon, day, hh, mm, ss, 0, time.FixedZone(f[4], off))
	if t.Day() != day || t.Month() != mon || t.Hour() != hh || t.Minute() != mm || t.Second() != ss {
		return time.Time{}, recordErr(ReasonBadDate, "date %q does not exist", clip(s))
	}
	if t.Weekday() != wd {
		return time.Time{}, recordErr(ReasonBadDate, "date %q: %s is a %s", clip(s), t.Format("2006-01-02"), t.Weekday())
	}
	return t.UTC(), nil
}

// zoneOffset reads an abbreviation from the table, or ±hhmm / ±hh:mm.
func zoneOffset(z string) (int, error) {
	if off, ok := zoneOffsets[strings.ToUpper(z)]; ok {
		return off, nil
	}
	if len(z) == 6 && z[3] == ':' {
		z = z[:3] + z[4:]
	}
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return 0, strconv.ErrSyntax
	}
	h, err1 := atoiN(z[1:3], 2, 2)
	m, err2 := atoiN(z[3:5], 2, 2)
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return 0, strconv.ErrSyntax
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return off, nil
}

// atoiN parses an unsigned decimal of minLen..maxLen ASCII digits.
func atoiN(s string, minLen, maxLen int) (int, error) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, strconv.ErrSyntax
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}

// clip keeps error messages short whatever the input.
func clip(s string) string { return Truncate(s, 64) }
