package transforms

import (
	"reflect"
	"strings"
	"testing"
)

// Parsing kafka:// inputs (unit: our own rules).
func TestParseKafka(t *testing.T) {
	for _, c := range []struct {
		in      string
		brokers []string
		topic   string
		err     string
	}{
		{"kafka://127.0.0.1:9092/tweets", []string{"127.0.0.1:9092"}, "tweets", ""},
		{"kafka://a:1,b:2/t.x-1", []string{"a:1", "b:2"}, "t.x-1", ""},
		{"kafka://a:1", nil, "", "want kafka://HOST:PORT"},
		{"kafka://a:1/", nil, "", "want kafka://HOST:PORT"},
		{"kafka:///t", nil, "", "want kafka://HOST:PORT"},
		{"kafka://a/t", nil, "", `broker "a" has no port`},
		{"kafka://a:1/t/u", nil, "", "want kafka://HOST:PORT"},
		{"/data/raw", nil, "", "want kafka://HOST:PORT"},
	} {
		k, err := ParseKafka(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(k.Brokers, c.brokers) || k.Topic != c.topic {
			t.Errorf("%s: %+v %v, want brokers %v topic %s", c.in, k, err, c.brokers, c.topic)
		}
		if k.URL() != c.in {
			t.Errorf("%s: URL %s", c.in, k.URL())
		}
	}
}

// Long ranges are cut into pieces that cover them exactly; lost ranges
// stay whole (unit).
func TestSplitKafkaRanges(t *testing.T) {
	in := []KafkaRange{
		{Topic: "t", Partition: 0, From: 10, To: 35},
		{Topic: "t", Partition: 1, From: 0, To: 5},
		{Topic: "t", Partition: 2, From: 0, To: 100, Lost: true},
	}
	got := SplitKafkaRanges(in, 10)
	want := []KafkaRange{
		{Topic: "t", Partition: 0, From: 10, To: 20},
		{Topic: "t", Partition: 0, From: 20, To: 30},
		{Topic: "t", Partition: 0, From: 30, To: 35},
		{Topic: "t", Partition: 1, From: 0, To: 5},
		{Topic: "t", Partition: 2, From: 0, To: 100, Lost: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if MessageName("t", 2, 41) != "kafka://t/2/41" {
		t.Errorf("MessageName: %s", MessageName("t", 2, 41))
	}
	e := &LostOffsetsError{Range: KafkaRange{Topic: "t", Partition: 1, From: 5, To: 50}, Start: 20}
	if !strings.Contains(e.Error(), "partition 1: offsets 5–19 are gone") {
		t.Errorf("LostOffsetsError: %s", e)
	}
}
