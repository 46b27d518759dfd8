package gen

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce generates what Generate would write as files and sends each
// file's content to a Kafka topic as one message (keyed by the file's
// name, which spreads them over the partitions), creating the topic with
// partitions partitions when it does not exist. It returns when every
// message is acknowledged.
func Produce(ctx context.Context, brokers []string, topic string, partitions int32, o Options) (Result, error) {
	return ProducePaced(ctx, brokers, topic, partitions, o, 0, nil)
}

// ProducePaced is Produce at about rate messages a second (0: as fast as
// the broker takes them), calling acked with each message's partition,
// offset and acknowledgement time (for latency measurements).
func ProducePaced(ctx context.Context, brokers []string, topic string, partitions int32, o Options, rate float64, acked func(partition int32, offset int64, at time.Time)) (Result, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	if err := CreateTopic(ctx, cl, topic, partitions); err != nil {
		return Result{}, err
	}
	var mu sync.Mutex
	var first error
	start, sent := time.Now(), 0
	o.Write = func(name string, data []byte) error {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))))
			sent++
		}
		mu.Lock()
		err := first
		mu.Unlock()
		if err != nil {
			return err
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(filepath.Base(name)), Value: data}, func(r *kgo.Record, err error) {
			if err == nil && acked != nil {
				mu.Lock()
				acked(r.Partition, r.Offset, time.Now())
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("produce to %s: %w", topic, err)
				}
				mu.Unlock()
			}
		})
		return nil
	}
	res, err := Generate(o)
	if ferr := cl.Flush(ctx); err == nil {
		err = ferr
	}
	if err == nil {
		err = first
	}
	return res, err
}

// CreateTopic creates a topic with partitions partitions (replication 1),
// and does nothing when it exists.
func CreateTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
