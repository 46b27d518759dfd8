package transforms

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func init() {
	register.DoFn5x1[context.Context, KafkaRange, func(BronzeRow), func(QuarantineRow), func(Tally), error](&readKafkaFn{})
	beam.RegisterType(reflect.TypeOf((*KafkaRange)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*KafkaSource)(nil)).Elem())
}

// KafkaScheme starts an --input that names a Kafka topic:
// kafka://HOST:PORT[,HOST:PORT]/TOPIC.
const KafkaScheme = "kafka://"

// Quarantine categories of the Kafka source.
const (
	ReasonEmptyMessage = "empty_message"
	ReasonOffsetsLost  = "offsets_lost"
)

// KafkaSource is a topic and how to reach its brokers. The pipeline's
// workers connect with it, so it travels in the job graph (a SASL password
// included: give a job server only a password it may see).
type KafkaSource struct {
	Brokers []string
	Topic   string
	// TLS connects with TLS, trusting the system's roots or CAFile; CertFile
	// and KeyFile (PEM) are a client certificate, when the brokers ask.
	TLS                       bool
	CAFile, CertFile, KeyFile string
	// CAPEM, CertPEM and KeyPEM are the files' contents, read where the
	// run starts (Load), so workers elsewhere need no copy of the files.
	CAPEM, CertPEM, KeyPEM []byte
	SASLMechanism          string // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUser, SASLPassword string
}

// Load reads the TLS files named into the source, so the settings travel
// to the workers whole (the key too, as the SASL password does).
func (k *KafkaSource) Load() error {
	for _, f := range []struct {
		path string
		into *[]byte
	}{{k.CAFile, &k.CAPEM}, {k.CertFile, &k.CertPEM}, {k.KeyFile, &k.KeyPEM}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("kafka TLS: %w", err)
		}
		*f.into = data
	}
	return nil
}

// IsKafka reports whether an --input names a Kafka topic.
func IsKafka(input string) bool { return strings.HasPrefix(input, KafkaScheme) }

// ParseKafka reads kafka://HOST:PORT[,HOST:PORT]/TOPIC.
func ParseKafka(input string) (KafkaSource, error) {
	rest, ok := strings.CutPrefix(input, KafkaScheme)
	hosts, topic, slash := strings.Cut(rest, "/")
	if !ok || !slash || hosts == "" || topic == "" || strings.Contains(topic, "/") {
		return KafkaSource{}, fmt.Errorf("kafka input %q: want kafka://HOST:PORT[,HOST:PORT]/TOPIC", input)
	}
	var k KafkaSource
	for _, h := range strings.Split(hosts, ",") {
		if !strings.Contains(h, ":") {
			return KafkaSource{}, fmt.Errorf("kafka input %q: broker %q has no port", input, h)
		}
		k.Brokers = append(k.Brokers, h)
	}
	k.Topic = topic
	return k, nil
}

// URL is the source as --input names it.
func (k KafkaSource) URL() string {
	return KafkaScheme + strings.Join(k.Brokers, ",") + "/" + k.Topic
}

// Options are the client options that reach the brokers with the source's
// security settings.
func (k KafkaSource) Options() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.ClientID("medallion")}
	if k.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if len(k.CAPEM) > 0 {
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(k.CAPEM) {
				return nil, fmt.Errorf("kafka TLS CA %s: no PEM certificate in it", k.CAFile)
			}
		}
		if len(k.CertPEM) > 0 || len(k.KeyPEM) > 0 {
			cert, err := tls.X509KeyPair(k.CertPEM, k.KeyPEM)
			if err != nil {
				return nil, fmt.Errorf("kafka TLS client certificate %s: %w", k.CertFile, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch strings.ToUpper(k.SASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.SASLUser, Pass: k.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism)
	}
	return opts, nil
}

// Client connects to the source's brokers (lazily: the first request dials).
func (k KafkaSource) Client(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := k.Options()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", k.URL(), err)
	}
	return cl, nil
}

// Offsets lists each partition's first and next offsets (the log start and
// the end): what a batch may read now. A topic that does not exist, or
// brokers that cannot be reached, give an error that says so.
func (k KafkaSource) Offsets(ctx context.Context, cl *kgo.Client) (start, end map[int32]int64, err error) {
	adm := kadm.NewClient(cl)
	list := func(what string, f func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
		listed, err := f(ctx, k.Topic)
		if err != nil {
			return nil, fmt.Errorf("kafka %s: list %s offsets (is a broker up at %s?): %w", k.URL(), what, strings.Join(k.Brokers, ","), err)
		}
		out := map[int32]int64{}
		for p, o := range listed[k.Topic] {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("kafka %s: topic %q does not exist", k.URL(), k.Topic)
			}
			if o.Err != nil {
				return nil, fmt.Errorf("kafka %s: partition %d: %w", k.URL(), p, o.Err)
			}
			out[p] = o.Offset
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("kafka %s: topic %q does not exist", k.URL(), k.Topic)
		}
		return out, nil
	}
	if start, err = list("start", adm.ListStartOffsets); err != nil {
		return nil, nil, err
	}
	if end, err = list("end", adm.ListEndOffsets); err != nil {
		return nil, nil, err
	}
	return start, end, nil
}

// KafkaRange is the messages of one partition a batch reads: offsets From
// (inclusive) to To (exclusive), fixed in the batch's plan before any is
// read. Lost marks offsets that retention deleted before any batch read
// them, which the batch records as one quarantine row (--kafka-lost-offsets
// quarantine) instead of reading.
type KafkaRange struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
	Lost      bool   `json:"lost,omitempty"`
}

// Messages is how many offsets the range spans.
func (r KafkaRange) Messages() int64 { return r.To - r.From }

func (r KafkaRange) String() string {
	return fmt.Sprintf("topic %s partition %d offsets %d–%d", r.Topic, r.Partition, r.From, r.To-1)
}

// MessageName is a message's source_file: kafka://TOPIC/PARTITION/OFFSET.
func MessageName(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s%s/%d/%d", KafkaScheme, topic, partition, offset)
}

// SplitKafkaRanges cuts ranges longer than piece messages into pieces, so
// that the workers of a cluster read one partition's long range at once.
func SplitKafkaRanges(ranges []KafkaRange, piece int64) []KafkaRange {
	var out []KafkaRange
	for _, r := range ranges {
		if r.Lost || piece <= 0 {
			out = append(out, r)
			continue
		}
		for from := r.From; from < r.To; from += piece {
			p := r
			p.From, p.To = from, min(from+piece, r.To)
			out = append(out, p)
		}
	}
	return out
}

// LostOffsetsError says that offsets a batch must read are gone: the
// partition's log now starts after them (retention deleted them).
type LostOffsetsError struct {
	Range KafkaRange
	Start int64 // the partition's first offset now
}

func (e *LostOffsetsError) Error() string {
	return fmt.Sprintf("kafka topic %s partition %d: offsets %d–%d are gone (the partition now starts at offset %d: retention deleted them before they were read)",
		e.Range.Topic, e.Range.Partition, e.Range.From, min(e.Start, e.Range.To)-1, e.Start)
}

// BronzeKafka reads planned Kafka ranges into bronze rows, as Bronze reads
// files: a message's value is what a raw file holds (an object, an array
// of them, or NDJSON), its records become bronze rows or quarantine rows
// with the reason, and source_file names the message
// (kafka://TOPIC/PARTITION/OFFSET). An empty message is one quarantined
// record. Keys, headers and message timestamps are not kept. A range the
// brokers cannot give (down, or its offsets deleted) fails the bundle: the
// runner retries it, or the run fails and the next redoes the batch.
func BronzeKafka(s beam.Scope, ranges beam.PCollection, src KafkaSource, lim Limits) (rows, quarantine, tallies beam.PCollection) {
	s = s.Scope("BronzeKafka")
	return beam.ParDo3(s, &readKafkaFn{Source: src, Limits: lim}, ranges)
}

// kafkaPoll is how long one poll waits for messages.
const kafkaPoll = 3 * time.Second

// kafkaStall is how long a read waits for the next message of its range
// before it fails (the bundle is retried, or the run fails naming the
// offsets). A range is read when its last offset has come: transaction
// markers come too (KeepControlRecords), so only offsets compacted away
// at a range's end could leave it waiting.
const kafkaStall = 60 * time.Second

type readKafkaFn struct {
	Source KafkaSource
	Limits Limits
}

func (f *readKafkaFn) ProcessElement(ctx context.Context, r KafkaRange, emit func(BronzeRow), quarantine func(QuarantineRow), tally func(Tally)) error {
	start := time.Now()
	defer func() { bronzeMicros.Inc(ctx, time.Since(start).Microseconds()) }()
	if r.Lost {
		cut := &recordCutter{ctx: ctx, src: MessageName(r.Topic, r.Partition, r.From), now: start.UnixMicro(), lim: f.Limits, quarantine: quarantine}
		cut.bad(nil, recordErr(ReasonOffsetsLost, "%s were deleted by retention before any batch read them", r))
		tally(Tally{Name: TallyRawRecords, N: cut.records})
		return nil
	}
	var records int64
	err := f.read(ctx, r, start, emit, quarantine, &records)
	if err != nil {
		return err
	}
	if err := failFirstAttempt("bronze", MessageName(r.Topic, r.Partition, r.From)); err != nil {
		return err
	}
	workerFiles.Inc(ctx, 1) // a range read: the per-worker spread counts these as a file source's files
	// Tallied once the whole range is read: a failed read emits no tally,
	// and its bundle's rows are dropped with it.
	tally(Tally{Name: TallyRawRecords, N: records})
	return nil
}

func (f *readKafkaFn) read(ctx context.Context, r KafkaRange, start time.Time, emit func(BronzeRow), quarantine func(QuarantineRow), records *int64) error {
	cl, err := f.Source.Client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: kgo.NewOffset().At(r.From)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	next, hwm := r.From, int64(-1)
	lastProgress := time.Now()
	for next < r.To {
		pctx, cancel := context.WithTimeout(ctx, kafkaPoll)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
				ferr = err
			}
		})
		if errors.Is(ferr, kerr.OffsetOutOfRange) {
			return f.lost(ctx, cl, r, next)
		}
		if ferr != nil {
			return fmt.Errorf("kafka %s: %w", r, ferr)
		}
		got := false
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			hwm = max(hwm, p.HighWatermark)
			for _, m := range p.Records {
				if m.Offset >= r.To {
					// Past the range: the offsets before it that did not
					// come hold no message (compacted away, or aborted).
					got, next = true, r.To
					break
				}
				if m.Offset < next {
					continue
				}
				got = true
				next = m.Offset + 1
				if m.Attrs.IsControl() {
					continue // a transaction marker: an offset, not a message
				}
				*records += f.message(ctx, m, start, emit, quarantine)
			}
		})
		switch {
		case got:
			lastProgress = time.Now()
		case time.Since(lastProgress) > kafkaStall && hwm < 0:
			return fmt.Errorf("kafka %s: no answer from the brokers (%s) within %s: can this worker reach them?", r, strings.Join(f.Source.Brokers, ","), kafkaStall)
		case time.Since(lastProgress) > kafkaStall:
			return fmt.Errorf("kafka %s: no message from offset %d on within %s (the partition's high watermark: %d)", r, next, kafkaStall, hwm)
		}
	}
	return nil
}

// message cuts one message into records and returns how many it held.
func (f *readKafkaFn) message(ctx context.Context, m *kgo.Record, now time.Time, emit func(BronzeRow), quarantine func(QuarantineRow)) int64 {
	cut := &recordCutter{ctx: ctx, src: MessageName(m.Topic, m.Partition, m.Offset), now: now.UnixMicro(), lim: f.Limits, emit: emit, quarantine: quarantine}
	switch {
	case len(bytes.TrimSpace(m.Value)) == 0:
		cut.bad(m.Value, recordErr(ReasonEmptyMessage, "the message has no value"))
	case f.Limits.MaxFileBytes > 0 && int64(len(m.Value)) > f.Limits.MaxFileBytes:
		cut.bad(m.Value, recordErr(ReasonTooLarge, "message is %d bytes, limit %d", len(m.Value), f.Limits.MaxFileBytes))
	default:
		cut.cut(m.Value)
	}
	return cut.records
}

// lost builds the error of a read whose offsets are out of range: gone
// (the log starts after them) or, rarer, past the end (the topic was
// recreated since the plan).
func (f *readKafkaFn) lost(ctx context.Context, cl *kgo.Client, r KafkaRange, next int64) error {
	start, end, err := f.Source.Offsets(ctx, cl)
	if err != nil {
		return err
	}
	if s := start[r.Partition]; s > next {
		r.From = next
		return &LostOffsetsError{Range: r, Start: s}
	}
	return fmt.Errorf("kafka %s: offset %d is out of range (the partition holds %d–%d now: was the topic recreated?)", r, next, start[r.Partition], end[r.Partition]-1)
}
