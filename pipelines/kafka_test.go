package pipelines

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tweetsentiment/medallion/transforms"
)

// A new plan's ranges: each partition from where the plans end to its end,
// a cap shared by backlog, lost offsets refused or kept as Lost ranges
// (unit: our own planning rules).
func TestKafkaRanges(t *testing.T) {
	r := func(p int32, from, to int64) transforms.KafkaRange {
		return transforms.KafkaRange{Topic: "t", Partition: p, From: from, To: to}
	}
	for _, c := range []struct {
		name              string
		max, batch        int64
		lost              string
		first, start, end map[int32]int64
		want              []transforms.KafkaRange
		err               string
	}{
		{name: "no cap", first: map[int32]int64{0: 0, 1: 5, 2: 9}, start: map[int32]int64{0: 0, 1: 0, 2: 0}, end: map[int32]int64{0: 10, 1: 5, 2: 20},
			want: []transforms.KafkaRange{r(0, 0, 10), r(2, 9, 20)}},
		{name: "cap shared by backlog", max: 10, first: map[int32]int64{0: 0, 1: 0}, start: map[int32]int64{0: 0, 1: 0}, end: map[int32]int64{0: 30, 1: 10},
			want: []transforms.KafkaRange{r(0, 0, 8), r(1, 0, 2)}}, // 7.5 and 2.5: the half left over goes to partition 0's turn
		{name: "cap below the partitions, batch 0", max: 2, first: map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}, start: map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0},
			end: map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10}, want: []transforms.KafkaRange{r(0, 0, 1), r(1, 0, 1)}},
		{name: "cap below the partitions, batch 2: the others' turn", max: 2, batch: 2, first: map[int32]int64{0: 1, 1: 1, 2: 0, 3: 0}, start: map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0},
			end: map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10}, want: []transforms.KafkaRange{r(2, 0, 1), r(3, 0, 1)}},
		{name: "cap × backlog past int64", max: 1 << 33, first: map[int32]int64{0: 0, 1: 0}, start: map[int32]int64{0: 0, 1: 0},
			end: map[int32]int64{0: 1 << 33, 1: 1 << 33}, want: []transforms.KafkaRange{r(0, 0, 1<<32), r(1, 0, 1<<32)}},
		{name: "cap over the backlog", max: 100, first: map[int32]int64{0: 3}, start: map[int32]int64{0: 0}, end: map[int32]int64{0: 7},
			want: []transforms.KafkaRange{r(0, 3, 7)}},
		{name: "nothing new", first: map[int32]int64{0: 7}, start: map[int32]int64{0: 0}, end: map[int32]int64{0: 7}},
		{name: "lost refused", first: map[int32]int64{0: 2, 1: 0}, start: map[int32]int64{0: 5, 1: 0}, end: map[int32]int64{0: 9, 1: 1},
			err: "kafka topic t: partition 0 offsets 2–4 were deleted (retention) before any batch read them"},
		{name: "lost quarantined", lost: "quarantine", first: map[int32]int64{0: 2}, start: map[int32]int64{0: 5}, end: map[int32]int64{0: 9},
			want: []transforms.KafkaRange{{Topic: "t", Partition: 0, From: 2, To: 5, Lost: true}, r(0, 5, 9)}},
	} {
		cfg := Config{Kafka: KafkaOptions{MaxMessages: c.max, LostOffsets: c.lost}}
		got, err := cfg.kafkaRanges("t", c.first, c.start, c.end, c.batch)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v %v, want %+v", c.name, got, err, c.want)
		}
	}
}

// Kafka settings are checked before anything runs, with the flag named
// (unit).
func TestValidateKafka(t *testing.T) {
	for _, c := range []struct {
		kafka KafkaOptions
		input string
		err   string
	}{
		{input: "kafka://h:1/t"},
		{input: "kafka://h:1/t", kafka: KafkaOptions{StartingOffsets: "latest"}},
		{input: "kafka://h:1/t", kafka: KafkaOptions{StartingOffsets: "2026-12-04T10:00:00Z"}},
		{input: "kafka://h:1/t", kafka: KafkaOptions{StartingOffsets: "yesterday"}, err: "KafkaStartingOffsets \"yesterday\""},
		{input: "kafka://h:1/t", kafka: KafkaOptions{LostOffsets: "skip"}, err: "KafkaLostOffsets \"skip\": want fail or quarantine"},
		{input: "kafka://h:1/t", kafka: KafkaOptions{MaxMessages: -1}, err: "KafkaMaxMessages -1"},
		{input: "kafka://h:1/t", kafka: KafkaOptions{Source: transforms.KafkaSource{SASLMechanism: "GSSAPI"}}, err: "SASL mechanism"},
		{input: "kafka://h/t", err: "has no port"},
	} {
		cfg := Config{Input: c.input, Lake: t.TempDir(), Codec: "zstd", Kafka: c.kafka}
		err := cfg.Validate()
		if c.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.kafka, err)
			} else if cfg.Input != c.input || cfg.Kafka.Source.Topic != "t" || cfg.Kafka.LostOffsets != "fail" && c.kafka.LostOffsets == "" {
				t.Errorf("%+v: validated to input %s, %+v", c.kafka, cfg.Input, cfg.Kafka)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s %+v: error %v, want %q", c.input, c.kafka, err, c.err)
		}
	}
}
