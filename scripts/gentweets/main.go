// Command gentweets writes Sentiment140-shaped raw tweet files for demos,
// tests and benchmarks:
//
//	go run ./scripts/gentweets --out DIR --tweets N [--per-file K]
//	    [--format object|array|ndjson] [--seed S] [--bad FRACTION]
//	    [--profile short|realistic]
//	go run ./scripts/gentweets --kafka HOST:PORT/TOPIC [--partitions 3] --tweets N ...
//
// Texts carry positive, negative or neutral wording; the given sentiment (only
// "positive" or "negative", as in the course data) agrees with the wording
// most of the time, like the course's noisy "unknown model". Every file
// appears atomically (written under a hidden name, then renamed), so a reader
// watching the folder never sees half a file. With --truth the intended
// three-class sentiment of every good record is written to a CSV. With
// --kafka each would-be file is a message of the topic instead (created with
// --partitions when missing).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
)

func main() {
	var o gen.Options
	flag.StringVar(&o.Out, "out", "", "folder to write into (created if missing)")
	flag.IntVar(&o.Tweets, "tweets", 5000, "number of records")
	flag.IntVar(&o.PerFile, "per-file", 1, "records per file")
	flag.StringVar(&o.Format, "format", "object", "file layout: object (one JSON object per file), array, or ndjson")
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed: the same seed gives the same files")
	flag.Float64Var(&o.Bad, "bad", 0, "fraction of records that are malformed, in many different ways")
	flag.IntVar(&o.First, "first", 0, "number of the first file (to add files to a folder in waves)")
	flag.StringVar(&o.Truth, "truth", "", "also write a CSV of each record's intended sentiment here")
	flag.StringVar(&o.Profile, "profile", "short", "short (template phrases, ~7 words: fast, for tests) or realistic (shaped like Sentiment140: ~13 words, ~75 characters, SUBTLEX-US word frequencies, nearly all distinct)")
	flag.StringVar(&o.Vocab, "vocab", gen.DefaultVocab, "--profile realistic: the word list (JSON [{word, count}], most frequent first)")
	kafka := flag.String("kafka", "", "produce to this Kafka topic (HOST:PORT[,HOST:PORT]/TOPIC), one message per would-be file, instead of writing files")
	partitions := flag.Int("partitions", 3, "--kafka: partitions of the topic when it has to be created")
	rate := flag.Float64("rate", 0, "--kafka: messages per second (0: as fast as the broker takes them)")
	acks := flag.String("acks", "", "--kafka: write each message's partition, offset and acknowledgement time (Unix ms) to this CSV")
	flag.Parse()
	if (o.Out == "") == (*kafka == "") {
		fmt.Fprintln(os.Stderr, "gentweets: give --out or --kafka")
		flag.Usage()
		os.Exit(2)
	}
	var res gen.Result
	var err error
	where := o.Out
	if *kafka != "" {
		hosts, topic, ok := strings.Cut(*kafka, "/")
		if !ok || hosts == "" || topic == "" {
			fmt.Fprintf(os.Stderr, "gentweets: --kafka %q: want HOST:PORT[,HOST:PORT]/TOPIC\n", *kafka)
			os.Exit(2)
		}
		where = "kafka://" + *kafka
		var acked func(int32, int64, time.Time)
		if *acks != "" {
			f, ferr := os.Create(*acks)
			if ferr != nil {
				fmt.Fprintf(os.Stderr, "gentweets: %v\n", ferr)
				os.Exit(1)
			}
			defer f.Close()
			fmt.Fprintln(f, "partition,offset,acked_ms")
			acked = func(p int32, off int64, at time.Time) { fmt.Fprintf(f, "%d,%d,%d\n", p, off, at.UnixMilli()) }
		}
		res, err = gen.ProducePaced(context.Background(), strings.Split(hosts, ","), topic, int32(*partitions), o, *rate, acked)
	} else {
		res, err = gen.Generate(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gentweets: %v\n", err)
		os.Exit(1)
	}
	unit := "files"
	if *kafka != "" {
		unit = "messages"
	}
	fmt.Printf("wrote %d records in %d %s to %s (%d malformed", res.Records, res.Files, unit, where, res.Malformed)
	if len(res.ByKind) > 0 {
		kinds := make([]string, 0, len(res.ByKind))
		for k, n := range res.ByKind {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(kinds)
		fmt.Printf(": %s", strings.Join(kinds, ", "))
	}
	fmt.Println(")")
}
