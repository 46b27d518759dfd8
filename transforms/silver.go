package transforms

import (
	"context"
	"encoding/json"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x0[context.Context, BronzeRow, func(SilverRow), func(QuarantineRow), func(Tally)](&silverFn{})
	register.Emitter1[SilverRow]()
}

// Counters for the live views; they may overcount on a runner that retries
// bundles, so the accounting uses the tallies silver's commit records.
var (
	silverTweets      = beam.NewCounter(SilverTable.Name, "tweets_with_mentions")
	silverNoMention   = beam.NewCounter(SilverTable.Name, "tweets_without_mentions")
	silverRows        = beam.NewCounter(SilverTable.Name, "rows")
	silverQuarantined = beam.NewCounter(SilverTable.Name, "quarantined")
	silverMicros      = beam.NewCounter(SilverTable.Name, "processing_us")
)

// Silver turns bronze rows into one row per (tweet, distinct mention), with
// the date parsed and the text cleaned. A tweet without mentions yields no
// row and is counted; a tweet whose date or text is unusable is quarantined,
// so bronze rows = tweets with mentions + tweets without + silver quarantine.
// The tweets with and without mentions are tallied (tallies) as data, for
// silver's commit to record.
func Silver(s beam.Scope, bronze beam.PCollection, lim Limits) (rows, quarantine, tallies beam.PCollection) {
	s = s.Scope("Silver")
	return beam.ParDo3(s, &silverFn{Limits: lim}, bronze)
}

type silverFn struct {
	Limits Limits
}

// SilverRows is the pure core of the silver step.
func SilverRows(b BronzeRow, lim Limits) ([]SilverRow, error) {
	if b.Date == nil {
		return nil, recordErr(ReasonMissingDate, "date is null or absent")
	}
	ts, err := ParseTweetDate(*b.Date)
	if err != nil {
		return nil, err
	}
	if b.Text == nil {
		return nil, recordErr(ReasonMissingText, "text is null or absent")
	}
	mentions, cleaned := MentionsAndCleanText(*b.Text)
	if lim.MaxMentions > 0 && len(mentions) > lim.MaxMentions {
		return nil, recordErr(ReasonManyMentions, "%d distinct mentions, limit %d", len(mentions), lim.MaxMentions)
	}
	out := make([]SilverRow, len(mentions))
	for i, m := range mentions {
		out[i] = SilverRow{Timestamp: ts.UnixMicro(), Mention: m, CleanedText: cleaned, Sentiment: b.Sentiment}
	}
	return out, nil
}

func (f *silverFn) ProcessElement(ctx context.Context, b BronzeRow, emit func(SilverRow), quarantine func(QuarantineRow), tally func(Tally)) {
	start := time.Now()
	defer func() { silverMicros.Inc(ctx, time.Since(start).Microseconds()) }()
	rows, err := SilverRows(b, f.Limits)
	if err != nil {
		silverQuarantined.Inc(ctx, 1)
		quarantine(QuarantineRow{
			Stage: SilverTable.Name, SourceFile: b.SourceFile, Reason: err.Error(), ProcessingTime: b.ProcessingTime,
			Record: Truncate(bronzeJSON(b), f.Limits.MaxQuarantined),
		})
		return
	}
	if len(rows) == 0 {
		silverNoMention.Inc(ctx, 1)
		tally(Tally{Name: TallyNoMentions, N: 1})
		return
	}
	silverTweets.Inc(ctx, 1)
	tally(Tally{Name: TallyWithMentions, N: 1})
	silverRows.Inc(ctx, int64(len(rows)))
	for _, r := range rows {
		emit(r)
	}
}

// bronzeJSON renders the source fields of a bronze row for a quarantine row.
func bronzeJSON(b BronzeRow) string {
	m := map[string]*string{"date": b.Date, "user": b.User, "text": b.Text, "sentiment": b.Sentiment}
	js, _ := json.Marshal(m)
	return string(js)
}
