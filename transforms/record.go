// Package transforms holds the medallion steps (raw → bronze → silver) as Beam
// composites, and the pure parsing they are built on: raw tweet records, tweet
// dates, @mention extraction and text cleaning.
package transforms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The columns every raw tweet record is read into. Any other top-level field is
// kept as an extra nullable string column (schema growth, like Spark's mergeSchema).
var tweetFields = [...]string{"date", "user", "text", "sentiment"}

// ReservedBronzeColumns are bronze's own columns; an extra field whose name
// collides with one of them (ignoring case) is renamed with the extra_ prefix.
var ReservedBronzeColumns = []string{"date", "user", "text", "sentiment", "source_file", "processing_time"}

// Limits bound what one raw file or record may cost. A record over a limit is
// quarantined with the reason; nothing over a limit is ever silently cut.
type Limits struct {
	MaxFileBytes      int64 // a larger file is quarantined whole
	MaxRecordBytes    int   // a larger record is quarantined
	MaxRecordsPerFile int   // records past this in one file are quarantined
	MaxExtraColumns   int   // more unknown top-level fields than this → quarantine
	MaxMentions       int   // a tweet with more distinct mentions is quarantined by silver
	MaxQuarantined    int   // bytes of the raw record kept in a quarantine row
}

// DefaultLimits are generous for tweets (a tweet is < 1 KiB) yet keep a hostile
// file from exhausting a worker.
var DefaultLimits = Limits{
	MaxFileBytes:      256 << 20,
	MaxRecordBytes:    1 << 20,
	MaxRecordsPerFile: 1_000_000,
	MaxExtraColumns:   32,
	MaxMentions:       100, // a 280-character tweet holds at most ~90
	MaxQuarantined:    4096,
}

// Tweet is one raw record after schema enforcement. A nil field was absent or
// JSON null in the source.
type Tweet struct {
	Date, User, Text, Sentiment *string
	// Extra holds unknown top-level fields by column name: strings as they are,
	// other JSON values as compact JSON text.
	Extra map[string]string
}

// RawRecord is one record cut out of a raw file, before decoding.
type RawRecord struct {
	Index int    // 0-based position in the file
	Data  []byte // the record's JSON text
	// Err is set when the file could not be cut into records at this point
	// (for example a broken JSON array); Data then holds what remains.
	Err error
}

// Reason categories of quarantine rows. A quarantine reason reads
// "<category>: <detail>", so rows can be grouped by category.
const (
	ReasonInvalidJSON  = "invalid_json"
	ReasonNotObject    = "not_an_object"
	ReasonWrongType    = "wrong_type"
	ReasonTooLarge     = "too_large"
	ReasonEmptyFile    = "empty_file"
	ReasonTooManyExtra = "too_many_fields"
	ReasonMissingDate  = "missing_date"
	ReasonBadDate      = "bad_date"
	ReasonUnknownZone  = "unknown_zone"
	ReasonMissingText  = "missing_text"
	ReasonReadFailed   = "read_failed"
	ReasonTooMany      = "too_many_records"
	ReasonManyMentions = "too_many_mentions"
	// A planned file that was gone, or no longer the file that was planned
	// (another size or modification time), when its batch read it: the
	// batch goes on without it, so a user's deleting a bad file never
	// leaves the lake stuck (see PlannedFile).
	ReasonVanished = "vanished"
	ReasonChanged  = "changed_after_planning"
)

// RecordError is a record-level failure with a reason category.
type RecordError struct {
	Category string
	Detail   string
}

func (e *RecordError) Error() string { return e.Category + ": " + e.Detail }

func recordErr(cat, format string, args ...any) *RecordError {
	return &RecordError{Category: cat, Detail: fmt.Sprintf(format, args...)}
}

// Category returns the reason category of err, or ReasonInvalidJSON for an
// error that carries none.
func Category(err error) string {
	var re *RecordError
	if errors.As(err, &re) {
		return re.Category
	}
	return ReasonInvalidJSON
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// SplitRecords cuts a raw file into records. Three layouts are accepted: one
// JSON object (the course data: one tweet per file, possibly pretty-printed), a
// JSON array of objects, or one object per line (NDJSON). A UTF-8 BOM and CRLF
// line ends are tolerated. It never fails as a whole: what cannot be cut is
// returned as a record with Err set, so the caller can quarantine it.
func SplitRecords(data []byte) []RawRecord {
	data = bytes.TrimPrefix(data, utf8BOM)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return []RawRecord{{Data: data, Err: recordErr(ReasonEmptyFile, "file has no records")}}
	}
	switch trimmed[0] {
	case '[':
		return splitArray(trimmed)
	case '{':
		// A whole-file object is the common case; NDJSON also starts with '{'.
		if json.Valid(trimmed) {
			return []RawRecord{{Data: trimmed}}
		}
	}
	return splitLines(data)
}

// splitArray streams the elements of a top-level JSON array. A syntax error
// stops the cut: the rest of the file becomes one failed record.
func splitArray(data []byte) []RawRecord {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.Token() // '[': the caller checked the first byte
	var out []RawRecord
	for i := 0; ; i++ {
		start := dec.InputOffset()
		if !dec.More() {
			_, err := dec.Token() // ']'
			tail := bytes.TrimSpace(data[dec.InputOffset():])
			switch {
			case err != nil:
				out = append(out, RawRecord{Index: i, Data: data[start:], Err: recordErr(ReasonInvalidJSON, "array element %d: %v", i, err)})
			case len(tail) > 0:
				out = append(out, RawRecord{Index: i, Data: tail, Err: recordErr(ReasonInvalidJSON, "trailing data after the JSON array")})
			}
			return out
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			out = append(out, RawRecord{Index: i, Data: data[start:], Err: recordErr(ReasonInvalidJSON, "array element %d: %v", i, err)})
			return out
		}
		out = append(out, RawRecord{Index: i, Data: raw})
	}
}

// splitLines treats each non-blank line as one record.
func splitLines(data []byte) []RawRecord {
	var out []RawRecord
	i := 0
	for len(data) > 0 {
		line := data
		if n := bytes.IndexByte(data, '\n'); n >= 0 {
			line, data = data[:n], data[n+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line) // also drops a CR of CRLF
		if len(line) == 0 {
			continue
		}
		out = append(out, RawRecord{Index: i, Data: line})
		i++
	}
	return out
}

// DecodeTweet enforces the raw schema on one record: it must be a JSON object
// whose date, user, text and sentiment fields are strings, null or absent.
// Unknown fields are kept in Extra under a valid column name.
func DecodeTweet(data []byte, lim Limits) (Tweet, error) {
	if lim.MaxRecordBytes > 0 && len(data) > lim.MaxRecordBytes {
		return Tweet{}, recordErr(ReasonTooLarge, "record is %d bytes, limit %d", len(data), lim.MaxRecordBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return Tweet{}, recordErr(ReasonInvalidJSON, "%s", jsonSyntaxDetail(trimmed))
		}
		return Tweet{}, recordErr(ReasonNotObject, "want a JSON object, got %s", jsonKind(trimmed))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return Tweet{}, recordErr(ReasonInvalidJSON, "%s", jsonSyntaxDetail(trimmed))
	}
	var t Tweet
	targets := [...]**string{&t.Date, &t.User, &t.Text, &t.Sentiment}
	for i, name := range tweetFields {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		delete(fields, name)
		s, isNull, err := stringOrNull(raw)
		if err != nil {
			return Tweet{}, recordErr(ReasonWrongType, "field %q: want string or null, got %s", name, jsonKind(raw))
		}
		if !isNull {
			*targets[i] = &s
		}
	}
	if len(fields) > 0 {
		if lim.MaxExtraColumns > 0 && len(fields) > lim.MaxExtraColumns {
			return Tweet{}, recordErr(ReasonTooManyExtra, "%d unknown fields, limit %d", len(fields), lim.MaxExtraColumns)
		}
		t.Extra = make(map[string]string, len(fields))
		for name, raw := range fields {
			s, isNull, err := stringOrNull(raw)
			if isNull {
				continue
			}
			if err != nil { // not a string: keep the JSON text
				var buf bytes.Buffer
				if json.Compact(&buf, raw) == nil {
					s = buf.String()
				} else {
					s = string(raw)
				}
			}
			t.Extra[ExtraColumnName(name)] = s
		}
	}
	return t, nil
}

// stringOrNull decodes a JSON string or null.
func stringOrNull(raw json.RawMessage) (s string, isNull bool, err error) {
	raw = bytes.TrimSpace(raw)
	if bytes.Equal(raw, []byte("null")) {
		return "", true, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", false, errors.New("not a string")
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, err
	}
	return s, false, nil
}

func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func jsonSyntaxDetail(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "not valid JSON"
}

// ExtraColumnName maps an unknown field name to a Delta column name: lower
// case, characters Delta forbids without column mapping (" ,;{}()\n\t=") as
// '_', and an extra_ prefix where it would collide with a bronze column.
func ExtraColumnName(field string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(field) {
		switch {
		case r == utf8.RuneError, strings.ContainsRune(" ,;{}()\n\t\r=.`", r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	name := b.String()
	if name == "" {
		name = "_"
	}
	for _, c := range ReservedBronzeColumns {
		if name == c {
			return "extra_" + name
		}
	}
	return name
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…[truncated, %d bytes in all]", len(s))
}
