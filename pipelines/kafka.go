package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/transforms"
)

// A Kafka topic is read as files are: a batch's plan fixes, before anything
// is read, each partition's offsets [from, to) (put-if-absent in the plans
// ledger, as Spark keeps Kafka offsets in its checkpoint's offset log), the
// batch's tables record its txn, and a run that died is finished by the next
// from the same ranges. The next batch starts where the plans end; no
// consumer group's offsets decide anything.

// KafkaOptions configure a kafka:// input.
type KafkaOptions struct {
	// Source holds the brokers, the topic (both from --input) and the
	// client's TLS and SASL settings.
	Source transforms.KafkaSource
	// StartingOffsets is where partitions no plan has read yet start:
	// "earliest" (the default), "latest", or an RFC 3339 time (the first
	// message at or after it). It is fixed by the first plan of the topic
	// in the lake (LAKE/_checkpoints/kafka/TOPIC).
	StartingOffsets string
	// MaxMessages caps the offsets one batch plans, shared between the
	// partitions in proportion to their backlog (0: no cap).
	MaxMessages int64
	// LostOffsets is what a plan does with offsets retention deleted
	// before any batch read them: "fail" (the default: stop, naming the
	// partition and offsets) or "quarantine" (one quarantine row per
	// partition says which offsets were lost, and reading goes on).
	LostOffsets string
	// Piece is the most offsets one read takes: longer ranges are cut, so
	// several workers read one partition at once (0: DefaultKafkaPiece).
	Piece int64
	// Group, when set, is a consumer group the lake's progress is
	// committed to once a batch is in every table, so that lag tools see
	// it. It decides nothing: the plans do.
	Group string
}

// DefaultKafkaPiece is the offsets one worker reads at a time.
const DefaultKafkaPiece = 5000

// kafka reports whether the run reads a Kafka topic.
func (c *Config) kafka() bool { return transforms.IsKafka(c.Input) }

// validateKafka fills the source's brokers and topic from --input.
func (c *Config) validateKafka() error {
	src, err := transforms.ParseKafka(c.Input)
	if err != nil {
		return &Failure{Msg: "{Input}: " + err.Error()}
	}
	c.Kafka.Source.Brokers, c.Kafka.Source.Topic = src.Brokers, src.Topic
	if err := c.Kafka.Source.Load(); err != nil {
		return &Failure{Msg: err.Error()}
	}
	if _, err := c.Kafka.Source.Options(); err != nil {
		return &Failure{Msg: err.Error()}
	}
	switch c.Kafka.LostOffsets {
	case "":
		c.Kafka.LostOffsets = "fail"
	case "fail", "quarantine":
	default:
		return &Failure{Msg: fmt.Sprintf("{KafkaLostOffsets} %q: want fail or quarantine", c.Kafka.LostOffsets)}
	}
	if _, err := parseStartingOffsets(c.Kafka.StartingOffsets); err != nil {
		return err
	}
	if c.Kafka.MaxMessages < 0 {
		return &Failure{Msg: fmt.Sprintf("{KafkaMaxMessages} %d: want 0 (no cap) or more", c.Kafka.MaxMessages)}
	}
	if c.Kafka.Piece <= 0 {
		c.Kafka.Piece = DefaultKafkaPiece
	}
	return nil
}

// openKafka checks that the brokers answer and the topic exists, so a
// broker that is down or a mistyped topic fails in one line before a job.
func (c *Config) openKafka(ctx context.Context) error {
	cl, err := c.Kafka.Source.Client()
	if err != nil {
		return &Failure{Msg: err.Error()}
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, _, err := c.Kafka.Source.Offsets(ctx, cl); err != nil {
		return &Failure{Msg: err.Error()}
	}
	return nil
}

// startingOffsets is a parsed --kafka-starting-offsets.
type startingOffsets struct {
	latest bool
	at     time.Time // the first message at or after it; zero: earliest
}

func parseStartingOffsets(s string) (startingOffsets, error) {
	switch s {
	case "", "earliest":
		return startingOffsets{}, nil
	case "latest":
		return startingOffsets{latest: true}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return startingOffsets{}, &Failure{Msg: fmt.Sprintf("{KafkaStartingOffsets} %q: want earliest, latest or an RFC 3339 time (2026-12-04T10:00:00Z)", s)}
	}
	return startingOffsets{at: t}, nil
}

// kafkaStart is where a topic's reading started in a lake: the partitions'
// first offsets, resolved once from the starting offsets and written
// put-if-absent before the first plan, so that "latest" or a time means
// the same offsets to every later run. Partitions added to the topic later
// start at their beginning.
type kafkaStart struct {
	Topic    string          `json:"topic"`
	Starting string          `json:"starting_offsets"`
	Offsets  map[int32]int64 `json:"offsets"`
	Created  time.Time       `json:"created"`
}

func kafkaStartLedger(lakeDir, topic string) ledger {
	return ledger{lakeDir, checkpointsDir + "/kafka/" + topic, "kafka starting offsets"}
}

// kafkaBound is the end offsets a batch run reads up to: those it found at
// its start (a stream has none: it reads what is there at each trigger).
type kafkaBound map[int32]int64

// kafkaPlanner plans batches of a topic's new offsets.
type kafkaPlanner struct {
	c     Config
	cp    *checkpoint
	bound kafkaBound // nil: read up to the end found at each plan
	cl    *kgo.Client
}

// next returns the batch to run: an unfinished plan first, else a new plan
// of the offsets after the last plan's (up to the bound, at most
// MaxMessages), else nil when there is nothing new.
func (k *kafkaPlanner) next(ctx context.Context) (plan *Plan, redo bool, err error) {
	if p, err := k.cp.unfinished(ctx); err != nil || p != nil {
		return p, p != nil, err
	}
	if k.cl == nil {
		if k.cl, err = k.c.Kafka.Source.Client(); err != nil {
			return nil, false, err
		}
	}
	src := k.c.Kafka.Source
	start, end, err := src.Offsets(ctx, k.cl)
	if err != nil {
		return nil, false, &Failure{Msg: err.Error()}
	}
	latest := maps.Clone(end) // the partitions' real ends, before the run's bound
	if k.bound != nil {
		for p, e := range k.bound {
			end[p] = min(end[p], e)
		}
		for p := range end {
			if _, ok := k.bound[p]; !ok {
				delete(end, p) // a partition added since the run began
			}
		}
	}
	first, err := k.firstOffsets(ctx, start, end)
	if err != nil {
		return nil, false, err
	}
	for p, f := range first {
		if f > latest[p] {
			return nil, false, &Failure{Msg: fmt.Sprintf("kafka topic %s partition %d: the lake's plans read up to offset %d, but the partition ends at %d now: was the topic deleted and made again?", src.Topic, p, f, latest[p]),
				Hint: "a recreated topic is a new source: ingest it into a new lake, or reset this one (medallion reset)"}
		}
	}
	batch := int64(0)
	if k.cp.last != nil {
		batch = k.cp.last.Batch + 1
	}
	ranges, err := k.c.kafkaRanges(src.Topic, first, start, end, batch)
	if err != nil {
		return nil, false, err
	}
	if len(ranges) == 0 {
		return nil, false, nil
	}
	p := &Plan{Batch: batch, Kafka: ranges, Created: time.Now().UTC()}
	if k.c.stages != AllStages {
		p.Stages = k.c.stages.String()
	}
	if err := k.cp.plans.claim(ctx, p.Batch, p); err != nil {
		return nil, false, err
	}
	k.cp.add(p)
	return p, false, nil
}

// firstOffsets returns where each partition's next batch starts: after
// the plans' last offset, else where the lake's reading of the topic
// started.
func (k *kafkaPlanner) firstOffsets(ctx context.Context, start, end map[int32]int64) (map[int32]int64, error) {
	topic := k.c.Kafka.Source.Topic
	first := map[int32]int64{}
	for p := range end {
		if n, ok := k.cp.kafkaNext[kafkaKey(topic, p)]; ok {
			first[p] = n
		}
	}
	if len(first) == len(end) {
		return first, nil
	}
	begun, err := k.startRecord(ctx, start, end)
	if err != nil {
		return nil, err
	}
	for p := range end {
		if _, ok := first[p]; ok {
			continue
		}
		if o, ok := begun.Offsets[p]; ok {
			first[p] = o
		} else {
			// A partition added after reading began: from its first offset
			// ever, so messages retention deleted before this run saw the
			// partition are reported as lost, not skipped.
			first[p] = 0
		}
	}
	return first, nil
}

// startRecord reads the topic's starting offsets in the lake, or resolves
// and writes them (the first plan of the topic).
func (k *kafkaPlanner) startRecord(ctx context.Context, start, end map[int32]int64) (*kafkaStart, error) {
	topic := k.c.Kafka.Source.Topic
	l := kafkaStartLedger(k.c.Lake, topic)
	rec := new(kafkaStart)
	if err := l.read(ctx, 0, rec); err == nil {
		return rec, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	so, err := parseStartingOffsets(k.c.Kafka.StartingOffsets)
	if err != nil {
		return nil, err
	}
	rec = &kafkaStart{Topic: topic, Starting: k.c.Kafka.StartingOffsets, Offsets: map[int32]int64{}, Created: time.Now().UTC()}
	if rec.Starting == "" {
		rec.Starting = "earliest"
	}
	switch {
	case so.latest:
		for p, o := range end {
			rec.Offsets[p] = o
		}
	case !so.at.IsZero():
		listed, err := kadm.NewClient(k.cl).ListOffsetsAfterMilli(ctx, so.at.UnixMilli(), topic)
		if err != nil {
			return nil, fmt.Errorf("kafka %s: offsets at %s: %w", k.c.Kafka.Source.URL(), so.at.Format(time.RFC3339), err)
		}
		for p := range end {
			o, ok := listed.Lookup(topic, p)
			switch {
			case !ok:
				return nil, fmt.Errorf("kafka %s: offsets at %s: no answer for partition %d", k.c.Kafka.Source.URL(), so.at.Format(time.RFC3339), p)
			case o.Err != nil:
				return nil, fmt.Errorf("kafka %s: offsets at %s: partition %d: %w", k.c.Kafka.Source.URL(), so.at.Format(time.RFC3339), p, o.Err)
			case o.Offset < 0:
				rec.Offsets[p] = end[p] // no message at or after the time yet
			default:
				rec.Offsets[p] = o.Offset
			}
		}
	default:
		for p := range end {
			rec.Offsets[p] = start[p]
		}
	}
	if err := l.claim(ctx, 0, rec); errors.Is(err, lake.ErrExist) {
		// Another run wrote it first: its offsets hold.
		rec = new(kafkaStart)
		return rec, l.read(ctx, 0, rec)
	} else if err != nil {
		return nil, err
	}
	return rec, nil
}

// kafkaRanges are the ranges of batch's plan: each partition from first to
// its end, MaxMessages shared in proportion to each one's backlog (rounded
// down; the offsets left over go one each to the partitions in turn,
// starting at a partition the batch number picks, so that no partition
// waits for ever under a small cap). Offsets retention deleted before any
// plan read them stop the run, or, with LostOffsets quarantine, become a
// Lost range.
func (c Config) kafkaRanges(topic string, first, start, end map[int32]int64, batch int64) ([]transforms.KafkaRange, error) {
	parts := make([]int32, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var ranges []transforms.KafkaRange
	var lost []transforms.KafkaRange
	backlog := map[int32]int64{}
	var total int64
	for _, p := range parts {
		from := first[p]
		if from < start[p] {
			lost = append(lost, transforms.KafkaRange{Topic: topic, Partition: p, From: from, To: start[p], Lost: true})
			from = start[p]
		}
		if n := end[p] - from; n > 0 {
			backlog[p] = n
			total += n
		}
		first[p] = from
	}
	if len(lost) > 0 && c.Kafka.LostOffsets != "quarantine" {
		var names []string
		for _, r := range lost {
			names = append(names, fmt.Sprintf("partition %d offsets %d–%d", r.Partition, r.From, r.To-1))
		}
		return nil, &Failure{Msg: fmt.Sprintf("kafka topic %s: %s were deleted (retention) before any batch read them", topic, strings.Join(names, ", ")),
			Hint: "the messages are gone from the topic: rerun with {KafkaLostOffsets} quarantine to record each lost range as a quarantine row (reason offsets_lost) and go on"}
	}
	ranges = append(ranges, lost...)
	take := backlog
	if c.Kafka.MaxMessages > 0 && total > c.Kafka.MaxMessages {
		take = map[int32]int64{}
		left := c.Kafka.MaxMessages
		for _, p := range parts {
			share := int64(float64(c.Kafka.MaxMessages) * float64(backlog[p]) / float64(total)) // no overflow; rounded down
			take[p] = min(share, backlog[p], left)
			left -= take[p]
		}
		for i := 0; left > 0 && i < len(parts)*2; i++ {
			p := parts[(int(batch%int64(len(parts)))+i)%len(parts)]
			if take[p] < backlog[p] {
				take[p]++
				left--
			}
		}
	}
	for _, p := range parts {
		if n := take[p]; n > 0 {
			ranges = append(ranges, transforms.KafkaRange{Topic: topic, Partition: p, From: first[p], To: first[p] + n})
		}
	}
	return ranges, nil
}

func kafkaKey(topic string, partition int32) string { return fmt.Sprintf("%s/%d", topic, partition) }

// messages is how many offsets the plan's Kafka ranges span.
func (p *Plan) messages() int64 {
	var n int64
	for _, r := range p.Kafka {
		n += r.Messages()
	}
	return n
}

// kafkaSource is the source a plan's ranges are read with: the run's
// --input, which must name the plan's topic (a redo of a plan made from
// another topic is refused with what to do).
func (c Config) kafkaSource(p *Plan) (transforms.KafkaSource, error) {
	topic := p.Kafka[0].Topic
	if !c.kafka() || c.Kafka.Source.Topic != topic {
		return transforms.KafkaSource{}, &Failure{Msg: fmt.Sprintf("batch %d reads Kafka topic %s, and {Input} is %s", p.Batch, topic, c.Input),
			Hint: fmt.Sprintf("finish it with {Input} kafka://HOST:PORT/%s, or close it with medallion abandon --batch %d", topic, p.Batch)}
	}
	return c.Kafka.Source, nil
}

// readKafka is raw:bronze's reading of a plan's Kafka ranges, cut into
// pieces and spread over the workers.
func (c Config) readKafka(s beam.Scope, src transforms.KafkaSource, ranges []transforms.KafkaRange) upstream {
	pieces := beam.Reshuffle(s, beam.CreateList(s, transforms.SplitKafkaRanges(ranges, c.Kafka.Piece)))
	bronze, quarantined, tallies := transforms.BronzeKafka(s, pieces, src, c.Limits)
	return upstream{bronze: bronze, bronzeTallies: tallies, quarantine: []beam.PCollection{quarantined}}
}

// checkKafkaPlan finds, before a plan's job starts, the offsets it must
// read that are gone from the topic: the first such range's error (nil
// when all are there).
func checkKafkaPlan(ctx context.Context, src transforms.KafkaSource, p *Plan) error {
	cl, err := src.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	start, _, err := src.Offsets(ctx, cl)
	if err != nil {
		return &Failure{Msg: err.Error()}
	}
	for _, r := range p.Kafka {
		if !r.Lost && r.From < start[r.Partition] {
			return &transforms.LostOffsetsError{Range: r, Start: start[r.Partition]}
		}
	}
	return nil
}

// commitKafkaGroup commits a finished Kafka batch's offsets to the
// consumer group (--kafka-group), for lag tools. A failure is logged and
// the run goes on: the lake's plans, not the group, say what was read.
func (c Config) commitKafkaGroup(ctx context.Context, plan *Plan) {
	if c.Kafka.Group == "" || len(plan.Kafka) == 0 || !c.kafka() {
		return
	}
	cl, err := c.Kafka.Source.Client()
	if err == nil {
		defer cl.Close()
		var o kadm.Offsets
		for _, r := range plan.Kafka {
			o.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.To, LeaderEpoch: -1})
		}
		var res kadm.OffsetResponses
		if res, err = kadm.NewClient(cl).CommitOffsets(ctx, c.Kafka.Group, o); err == nil {
			err = res.Error()
		}
	}
	if err != nil {
		slog.Warn("kafka: batch committed to the lake, but not to the consumer group", "group", c.Kafka.Group, "batch", plan.Batch, "err", err)
	}
}

// kafkaEnd is the topic's end offsets now: what a run reads up to.
func (c Config) kafkaEnd(ctx context.Context) (kafkaBound, error) {
	cl, err := c.Kafka.Source.Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	_, end, err := c.Kafka.Source.Offsets(ctx, cl)
	if err != nil {
		return nil, &Failure{Msg: err.Error()}
	}
	return end, nil
}

// checkKafkaBatch makes sure a Kafka plan can be read as planned before
// its job starts: by this run's --input, with every offset still in the
// topic. When retention deleted some and bronze and quarantine hold the
// batch, it is finished from bronze's committed rows; otherwise the run
// stops in one line saying what is gone and what to do.
func (c Config) checkKafkaBatch(ctx context.Context, b *Batch) error {
	plan := b.Plan
	src, err := c.kafkaSource(plan)
	if err != nil {
		if len(b.Held) > 0 && canReplay(b.Held) {
			// Bronze and quarantine hold the batch: the rest follows from
			// bronze's rows, whatever the input is now.
			b.Replay, err = readBatchBronze(ctx, c, plan.stages().appID(), plan.Batch)
		}
		return err
	}
	err = checkKafkaPlan(ctx, src, plan)
	var lost *transforms.LostOffsetsError
	if !errors.As(err, &lost) {
		return err
	}
	if len(b.Held) > 0 && canReplay(b.Held) {
		if b.Replay, err = readBatchBronze(ctx, c, plan.stages().appID(), plan.Batch); err != nil {
			return fmt.Errorf("batch %d: finish it from bronze (%v): %w", plan.Batch, lost, err)
		}
		return nil
	}
	held := "no table holds it yet"
	if len(b.Held) > 0 {
		held = strings.Join(b.Held, ", ") + " hold it"
	}
	return &Failure{Msg: fmt.Sprintf("batch %d: %v (%s)", plan.Batch, lost, held),
		Hint: fmt.Sprintf("the planned messages cannot be read again: run `medallion abandon --lake %s --batch %d` to close the batch (each planned range becomes a quarantine row; nothing committed is lost), then rerun", c.Lake, plan.Batch),
		Err:  lost}
}

// countKafka is a Kafka input's backlog: per partition, the offsets from
// the end of the last batch every table holds (or where the lake's reading
// of the topic starts) to the partition's end.
func (b *backlog) countKafka(ctx context.Context) (int, error) {
	src := *b.kafka
	cl, err := src.Client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start, end, err := src.Offsets(ctx, cl)
	if err != nil {
		return 0, err
	}
	done := map[int32]int64{}
	for batch := int64(0); batch <= b.committed; batch++ {
		for _, r := range b.cp.byBatch[batch].kafkaRanges() {
			if r.Topic == src.Topic {
				done[r.Partition] = max(done[r.Partition], r.To)
			}
		}
	}
	begun := new(kafkaStart)
	if err := kafkaStartLedger(b.cp.lake, src.Topic).read(ctx, 0, begun); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	n := int64(0)
	for p, e := range end {
		from, ok := done[p]
		if !ok {
			if from, ok = begun.Offsets[p]; !ok {
				from = start[p]
			}
		}
		n += max(0, e-from)
	}
	return int(n), nil
}

// kafkaRanges are a plan's Kafka ranges (none for a nil plan).
func (p *Plan) kafkaRanges() []transforms.KafkaRange {
	if p == nil {
		return nil
	}
	return p.Kafka
}
