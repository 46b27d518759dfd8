//go:build integration

package pipelines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	reforacle "github.com/tweetsentiment/medallion/internal/oracle"
	"github.com/tweetsentiment/medallion/lake"
	"github.com/tweetsentiment/medallion/scripts/gentweets/gen"
	"github.com/tweetsentiment/medallion/transforms"
)

// broker is a Kafka broker a test started with scripts/kafka.sh.
type broker struct {
	addr, dir string
	port      int
	args      []string // kafka.sh's flags for this broker
}

// startKafka starts a single-node Kafka broker (KRaft) with scripts/kafka.sh
// in a temporary folder, and stops it when the test ends. extra are more
// kafka.sh flags (a SASL listener).
func startKafka(t *testing.T, extra ...string) *broker {
	t.Helper()
	cp, _ := filepath.Abs("../.cache/runners/kafka.classpath")
	needTool(t, "Kafka's broker (scripts/setup-runners.sh)", cp)
	// A free port may be taken by another process before the broker binds
	// it (the controller's, the next one, too): then again, on new ports.
	var failed string
	for attempt := 0; attempt < 3; attempt++ {
		port := loopbackPort(t)
		for isListening(port + 1) { // the controller takes the next port
			port = loopbackPort(t)
		}
		b := &broker{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir(), port: port}
		b.args = append([]string{"--port", strconv.Itoa(port), "--dir", b.dir}, extra...)
		out, err := b.run("up")
		if err == nil {
			t.Cleanup(func() { b.down(t) })
			return b
		}
		b.run("down")
		failed = fmt.Sprintf("kafka.sh up: %v\n%s", err, out)
		if !strings.Contains(out, "Address already in use") && !strings.Contains(out, "is taken") {
			break
		}
	}
	t.Fatal(failed)
	return nil
}

func (b *broker) run(cmd string) (string, error) {
	script, _ := filepath.Abs("../scripts/kafka.sh")
	out, err := exec.Command(script, append([]string{cmd}, b.args...)...).CombinedOutput()
	return string(out), err
}

func (b *broker) script(t *testing.T, cmd string) {
	t.Helper()
	if out, err := b.run(cmd); err != nil {
		t.Fatalf("kafka.sh %s: %v\n%s", cmd, err, out)
	}
}

func (b *broker) up(t *testing.T)   { b.script(t, "up") }
func (b *broker) down(t *testing.T) { b.script(t, "down") }

func (b *broker) input(topic string) string { return "kafka://" + b.addr + "/" + topic }

func (b *broker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.ProducerBatchMaxBytes(4 << 20)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func isListening(port int) bool {
	_, err := exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port)).CombinedOutput()
	return err == nil
}

// produceDir sends each file of dir (in name order) to topic as one
// message keyed by its name, creating the topic with partitions
// partitions; it returns when every message is acknowledged.
func produceDir(t *testing.T, cl *kgo.Client, topic string, partitions int32, dir string) int {
	t.Helper()
	ctx := context.Background()
	if err := gen.CreateTopic(ctx, cl, topic, partitions); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Name()), Value: data})
	}
	produce(t, cl, recs...)
	return len(recs)
}

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// withoutSource is a table's rows as a multiset with source_file left out
// too: a file names its path, a message its topic, partition and offset.
// An empty message is quarantined as one (the generator's empty file).
func withoutSource(t *testing.T, dir string) []string {
	return tableMultisetOf(t, dir, func(r map[string]any) {
		delete(r, "source_file")
		if r["reason"] == transforms.ReasonEmptyMessage+": the message has no value" {
			r["reason"] = transforms.ReasonEmptyFile + ": file has no records"
		}
	})
}

// sameTablesBut compares every table of two lakes as withoutSource does.
func sameTablesBut(t *testing.T, what, got, want string) {
	t.Helper()
	for _, name := range transforms.TableNames() {
		g, w := withoutSource(t, lake.Join(got, name)), withoutSource(t, lake.Join(want, name))
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			var only []string
			for _, r := range g {
				if !slices.Contains(w, r) {
					only = append(only, "+ "+r)
				}
			}
			for _, r := range w {
				if !slices.Contains(g, r) {
					only = append(only, "- "+r)
				}
			}
			if len(only) > 6 {
				only = only[:6]
			}
			t.Errorf("%s: %s has %d rows, the file-source run %d; rows that differ (+ here, - there):\n%s", what, name, len(g), len(w), strings.Join(only, "\n"))
		}
	}
}

// rawTweets writes files of every layout a message may hold: objects,
// arrays and NDJSON, some records malformed.
func rawTweets(t *testing.T, tweets int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	for i, o := range []gen.Options{
		{Tweets: tweets / 2, PerFile: 1, Format: "object", Bad: 0.04},
		{Tweets: tweets / 4, PerFile: 7, Format: "array", Bad: 0.04, First: 100000},
		{Tweets: tweets / 4, PerFile: 5, Format: "ndjson", Bad: 0.04, First: 200000},
	} {
		o.Out, o.Seed = dir, seed+uint64(i)
		if _, err := gen.Generate(o); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A 3-partition topic holding the same tweets as a folder of files: a
// batch run over the topic (capped, so it takes several batches), and a
// stream (a batch job per trigger) over it, give every table the rows a
// file-source run gives (source_file aside); the plans' ranges tile each
// partition from 0 to its end; a rerun finds nothing new. (Reference: the
// file-source run, our own code, whose rows the other tests check against
// the course's logic and Spark.)
func TestKafkaSource(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	raw := rawTweets(t, 600, 11)
	messages := produceDir(t, b.client(t), "tweets", 3, raw)
	ref := t.TempDir()
	if _, err := Run(ctx, Config{Input: raw, Lake: ref, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}

	t.Run("batch", func(t *testing.T) {
		lk := t.TempDir()
		cfg := Config{Input: b.input("tweets"), Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1,
			Kafka: KafkaOptions{MaxMessages: 100, Piece: 20, Group: "lag-tools"}, Metrics: NewMetrics()}
		pending := func() int {
			t.Helper()
			c := cfg
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			bl, err := c.openBacklog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n, err := bl.count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := pending(); n != messages {
			t.Errorf("pending inputs before the run: %d, want every offset (%d)", n, messages)
		}
		sum, err := Run(ctx, cfg, prismRunner(ctx))
		if err != nil {
			t.Fatal(err)
		}
		// The group holds where the plans end: each partition's end.
		committed, err := kadm.NewClient(b.client(t)).FetchOffsets(ctx, "lag-tools")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		committed.Each(func(o kadm.OffsetResponse) { total += o.At })
		if total != int64(messages) {
			t.Errorf("consumer group lag-tools holds offsets summing to %d, want %d (every partition's end)", total, messages)
		}
		if sum.PlannedMessages != int64(messages) || sum.Batch < 2 {
			t.Errorf("run read %d offsets in batches %d–%d, want %d offsets in several batches", sum.PlannedMessages, sum.FirstBatch, sum.Batch, messages)
		}
		sameTablesBut(t, "batch from Kafka", lk, ref)
		checkTiling(t, lk, messages)
		if n, live := pending(), cfg.Metrics.Snapshot().Pending; n != 0 || live != 0 {
			t.Errorf("pending inputs after the run: %d (the run's gauge: %d), want 0", n, live)
		}
		again, err := Run(ctx, cfg, prismRunner(ctx))
		if err != nil || again.Batch >= 0 {
			t.Errorf("rerun: batch %d %v, want nothing new", again.Batch, err)
		}
	})
	t.Run("stream", func(t *testing.T) {
		lk := t.TempDir()
		cfg := Config{Input: b.input("tweets"), Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1,
			Kafka: KafkaOptions{MaxMessages: 150}}
		var out strings.Builder
		res, err := Stream(ctx, cfg, prismRunner(ctx), StreamOptions{Trigger: 200 * time.Millisecond, IdleTimeout: time.Second, Monitor: time.Hour}, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "a batch job per trigger") || res.Stopped.Reason != StopIdle {
			t.Errorf("stream: stopped %v\n%s", res.Stopped, out.String())
		}
		sameTablesBut(t, "stream from Kafka", lk, ref)
		checkTiling(t, lk, messages)
	})
}

// checkTiling checks that the plans' ranges cover each partition's offsets
// from 0 on, in order, without gap or overlap, messages in all.
func checkTiling(t *testing.T, lk string, messages int) {
	t.Helper()
	plans, err := records[Plan](context.Background(), plansLedger(lk))
	if err != nil {
		t.Fatal(err)
	}
	next := map[int32]int64{}
	var total int64
	for _, p := range plans {
		if len(p.Files) > 0 {
			t.Errorf("plan %d holds files %v", p.Batch, p.Files)
		}
		for _, r := range p.Kafka {
			if r.From != next[r.Partition] || r.To <= r.From {
				t.Errorf("plan %d: %s, want it to start at %d", p.Batch, r, next[r.Partition])
			}
			next[r.Partition] = r.To
			total += r.Messages()
		}
	}
	if total != int64(messages) || len(next) != 3 {
		t.Errorf("plans span %d offsets of %d partitions, want %d of 3", total, len(next), messages)
	}
}

// Messages produced while a stream runs are planned within a couple of
// triggers: each wave's offsets are in a plan made at most two triggers
// after the wave was acknowledged (our own code; the plan's time is when it
// was written).
func TestKafkaStreamPicksUp(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	cl := b.client(t)
	if err := gen.CreateTopic(ctx, cl, "live", 3); err != nil {
		t.Fatal(err)
	}
	lk := t.TempDir()
	const trigger = time.Second
	done := make(chan error, 1)
	var out strings.Builder
	go func() {
		cfg := Config{Input: b.input("live"), Lake: lk, Shards: 2, Codec: "zstd", Model: demoModel, BatchSize: 16, Threads: 1}
		_, err := Stream(ctx, cfg, prismRunner(ctx), StreamOptions{Trigger: trigger, IdleTimeout: 4 * trigger, Monitor: time.Hour}, &out)
		done <- err
	}()
	time.Sleep(2 * trigger) // the stream is up and idle
	var acked []time.Time
	total := 0
	for wave := 0; wave < 3; wave++ {
		var recs []*kgo.Record
		for i := 0; i < 20; i++ {
			recs = append(recs, &kgo.Record{Topic: "live", Key: []byte(strconv.Itoa(i)),
				Value: fmt.Appendf(nil, `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u%d","text":"wave %d @w%d hello","sentiment":"positive"}`, i, wave, i)})
		}
		produce(t, cl, recs...)
		acked = append(acked, time.Now())
		total += len(recs)
		time.Sleep(3 * trigger / 2)
	}
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if n := len(readTable(t, filepath.Join(lk, transforms.BronzeTable.Name))); n != total {
		t.Errorf("bronze holds %d rows, %d produced", n, total)
	}
	plans, err := records[Plan](ctx, plansLedger(lk))
	if err != nil {
		t.Fatal(err)
	}
	// The wave's plan is the first one made after it was acknowledged
	// that holds offsets (each wave is planned whole: no cap).
	for w, at := range acked {
		i := slices.IndexFunc(plans, func(p *Plan) bool { return p.Created.After(at.Add(-50*time.Millisecond)) && p.messages() > 0 })
		if i < 0 {
			t.Errorf("wave %d: no plan after it\n%s", w, out.String())
			continue
		}
		if lag := plans[i].Created.Sub(at); lag > 2*trigger {
			t.Errorf("wave %d planned %s after it was produced, want at most two triggers (%s)", w, lag, 2*trigger)
		} else {
			t.Logf("wave %d planned %s after it was produced (batch %d, %d offsets)", w, lag.Round(time.Millisecond), plans[i].Batch, plans[i].messages())
		}
	}
}

// SIGKILL at random points of a Kafka stream (a batch job per trigger,
// small batches), then restarts until idle: every table equals an
// uninterrupted run's, exactly (our own code as reference: the
// uninterrupted run; TestKafkaSource ties it to the file source).
func TestKafkaKillTrials(t *testing.T) {
	needRuntime(t)
	b := startKafka(t)
	raw := rawTweets(t, 400, 21)
	produceDir(t, b.client(t), "tweets", 3, raw)
	input := b.input("tweets")
	child := func(lk string, extra ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), childEnv+"=1", childEnv+"_INPUT="+input, childEnv+"_LAKE="+lk, childEnv+"_KAFKA_MAX=40"), extra...)
		return cmd
	}
	stream := childEnv + "_STREAM=micro-batch"
	ref := t.TempDir()
	start := time.Now()
	if out, err := child(ref, stream).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted stream: %v\n%s", err, out)
	}
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(29, 29))
	const trials = 10
	killed, midBatch := 0, 0
	for trial := 0; trial < trials; trial++ {
		lk := t.TempDir()
		cmd := child(lk, stream)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int64N(int64(full)))
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		}
		// Restarted until a restart finds nothing to do.
		for i := 0; ; i++ {
			out, err := child(lk, stream).CombinedOutput()
			if err != nil {
				t.Fatalf("trial %d: restart: %v\n%s", trial, err, out)
			}
			if i == 0 && streamRedo.Match(out) {
				midBatch++ // the kill left a planned batch unfinished
			}
			if !strings.Contains(string(out), "Kafka offsets →") || i > 3 {
				break
			}
		}
		if _, err := Vacuum(context.Background(), lk, 0); err != nil {
			t.Fatal(err)
		}
		sameTables(t, fmt.Sprintf("trial %d (killed after %s)", trial, delay), lk, ref)
	}
	t.Logf("%d trials: %d killed a running stream, %d of them mid-batch (a planned batch the restart finished); uninterrupted %s", trials, killed, midBatch, full)
	if killed < trials/2 || midBatch == 0 {
		t.Errorf("%d of %d trials killed a running stream, %d mid-batch: the recovery path was not exercised enough", killed, trials, midBatch)
	}
}

// Bad input from Kafka: each message that is not tweets (invalid JSON, an
// empty message, a 2 MiB one) is a quarantine row naming the message, with
// the reason; a topic that does not exist and a broker that is down stop
// the command with one line; the committed tables are untouched and the
// next run, with the broker back, goes on (our own code; the reasons are
// the file source's, which TestHostile checks).
func TestKafkaBadInput(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	cl := b.client(t)
	if err := gen.CreateTopic(ctx, cl, "odd", 1); err != nil {
		t.Fatal(err)
	}
	good := `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"a","text":"fine @x day","sentiment":"positive"}`
	huge := `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"a","text":"` + strings.Repeat("a", 2<<20) + `","sentiment":"positive"}`
	produce(t, cl,
		&kgo.Record{Topic: "odd", Value: []byte(good)},
		&kgo.Record{Topic: "odd", Value: []byte(`{"date": "Mon`)},
		&kgo.Record{Topic: "odd", Value: nil},
		&kgo.Record{Topic: "odd", Value: []byte(huge)},
		&kgo.Record{Topic: "odd", Value: []byte("[" + good + "," + good + "]")},
	)
	lk := t.TempDir()
	args := []string{"run", "--input", b.input("odd"), "--lake", lk, "--model", absPath(demoModel), "--monitoring", t.TempDir()}
	stderr, stdout, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, stderr, stdout)
	}
	q := readTable(t, filepath.Join(lk, transforms.QuarantineTable.Name))
	got := map[string]string{}
	for _, r := range q {
		reason := fmt.Sprint(r["reason"])
		got[fmt.Sprint(r["source_file"])] = reason[:strings.Index(reason+":", ":")]
	}
	want := map[string]string{"kafka://odd/0/1": transforms.ReasonInvalidJSON, "kafka://odd/0/2": transforms.ReasonEmptyMessage, "kafka://odd/0/3": transforms.ReasonTooLarge}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("quarantine %v, want %v", got, want)
	}
	if n := len(readTable(t, filepath.Join(lk, transforms.BronzeTable.Name))); n != 3 {
		t.Errorf("bronze holds %d rows, want 3 (one message, and two in an array)", n)
	}
	versions := func() string {
		var vs []string
		for _, name := range transforms.TableNames() {
			v, err := latestVersion(ctx, filepath.Join(lk, name))
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, fmt.Sprintf("%s v%d", name, v))
		}
		return strings.Join(vs, ", ")
	}
	before := versions()
	oneLine := func(what, stderr, want string, code int) {
		t.Helper()
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") > 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q, want one line (and a hint) with %q", what, code, stderr, want)
		}
	}
	stderr, _, code = cli(t, "run", "--input", b.input("nope"), "--lake", lk, "--model", absPath(demoModel))
	oneLine("missing topic", stderr, `topic "nope" does not exist`, code)

	b.down(t)
	stderr, _, code = cli(t, args...)
	oneLine("broker down", stderr, "is a broker up at "+b.addr, code)
	if after := versions(); after != before {
		t.Errorf("tables moved while the broker was down: %s, then %s", before, after)
	}
	b.up(t)
	produce(t, cl, &kgo.Record{Topic: "odd", Value: []byte(good)})
	if stderr, stdout, code := cli(t, args...); code != 0 || !strings.Contains(stdout, "batch 1") {
		t.Fatalf("run after the broker came back: exit %d\n%s%s", code, stderr, stdout)
	}
	if n := len(readTable(t, filepath.Join(lk, transforms.BronzeTable.Name))); n != 4 {
		t.Errorf("bronze holds %d rows after the broker came back, want 4", n)
	}
}

// Offsets deleted before a batch read them (DeleteRecords moves the log
// start as retention does): a new plan stops with one line naming the
// partition and offsets, or with --kafka-lost-offsets quarantine records
// them as one quarantine row and reads on; a planned batch whose offsets
// went stops with the way forward, and abandon closes it with a quarantine
// row per range (our own code).
func TestKafkaLostOffsets(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	cl := b.client(t)
	if err := gen.CreateTopic(ctx, cl, "short", 1); err != nil {
		t.Fatal(err)
	}
	tweets := func(n int) {
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: "short", Value: fmt.Appendf(nil, `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"t%d @m","sentiment":"negative"}`, i)})
		}
		produce(t, cl, recs...)
	}
	deleteBefore := func(offset int64) {
		var o kadm.Offsets
		o.Add(kadm.Offset{Topic: "short", Partition: 0, At: offset})
		res, err := kadm.NewClient(cl).DeleteRecords(ctx, o)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("delete records before %d: %v", offset, err)
		}
	}
	lk := t.TempDir()
	args := []string{"run", "--input", b.input("short"), "--lake", lk, "--model", absPath(demoModel), "--monitoring", t.TempDir(), "--stages", "raw:bronze"}
	tweets(10)
	if stderr, stdout, code := cli(t, args...); code != 0 {
		t.Fatalf("first run: %d\n%s%s", code, stderr, stdout)
	}
	tweets(10) // offsets 10–19
	deleteBefore(15)
	stderr, _, code := cli(t, args...)
	if code == 0 || !strings.Contains(stderr, "partition 0 offsets 10–14 were deleted (retention) before any batch read them") || !strings.Contains(stderr, "--kafka-lost-offsets quarantine") {
		t.Errorf("lost offsets: exit %d, stderr %q", code, stderr)
	}
	if stderr, stdout, code := cli(t, append(args, "--kafka-lost-offsets", "quarantine")...); code != 0 {
		t.Fatalf("with --kafka-lost-offsets quarantine: %d\n%s%s", code, stderr, stdout)
	}
	lost := 0
	for _, r := range readTable(t, filepath.Join(lk, transforms.QuarantineTable.Name)) {
		if strings.HasPrefix(fmt.Sprint(r["reason"]), transforms.ReasonOffsetsLost+": topic short partition 0 offsets 10–14") {
			lost++
		}
	}
	if n := len(readTable(t, filepath.Join(lk, transforms.BronzeTable.Name))); n != 15 || lost != 1 {
		t.Errorf("bronze %d rows, %d offsets_lost rows: want 15 and 1", n, lost)
	}

	// A plan written, then its offsets deleted before it ran.
	tweets(10) // offsets 20–29
	cfg := Config{Input: b.input("short"), Lake: lk, Codec: "zstd", Stages: "raw:bronze"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cp, err := openCheckpoint(ctx, lk)
	if err != nil {
		t.Fatal(err)
	}
	k := &kafkaPlanner{c: cfg, cp: cp}
	plan, _, err := k.next(ctx)
	if err != nil || plan == nil {
		t.Fatalf("plan: %v %v", plan, err)
	}
	deleteBefore(25)
	stderr, _, code = cli(t, args...)
	if code == 0 || !strings.Contains(stderr, fmt.Sprintf("batch %d: kafka topic short partition 0: offsets 20–24 are gone", plan.Batch)) ||
		!strings.Contains(stderr, fmt.Sprintf("medallion abandon --lake %s --batch %d", lk, plan.Batch)) {
		t.Errorf("planned batch lost: exit %d, stderr %q", code, stderr)
	}
	if _, err := AbandonBatch(ctx, lk, plan.Batch); err != nil {
		t.Fatal(err)
	}
	abandoned := 0
	for _, r := range readTable(t, filepath.Join(lk, transforms.QuarantineTable.Name)) {
		if r["source_file"] == "kafka://short/0/20" && strings.HasPrefix(fmt.Sprint(r["reason"]), ReasonAbandoned) {
			abandoned++
		}
	}
	if abandoned != 1 {
		t.Errorf("abandon left %d quarantine rows for the range, want 1", abandoned)
	}
	// The lake goes on after the abandoned batch.
	tweets(3)
	if stderr, stdout, code := cli(t, args...); code != 0 || !strings.Contains(stdout, "bronze rows                      3") {
		t.Errorf("after abandon: %d\n%s%s", code, stderr, stdout)
	}
}

// SASL/PLAIN: the broker's SASL listener lets the run in with the user's
// password (from $MEDALLION_KAFKA_PASSWORD) and refuses a wrong one in one
// line (the broker is the reference: Kafka's own PLAIN authenticator).
func TestKafkaSASL(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	sasl := loopbackPort(t)
	startKafka(t, "--sasl-port", strconv.Itoa(sasl), "--sasl-user", "medallion:s3cret")
	addr := fmt.Sprintf("127.0.0.1:%d", sasl)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(plain.Auth{User: "medallion", Pass: "s3cret"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := gen.CreateTopic(ctx, cl, "secure", 1); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, &kgo.Record{Topic: "secure", Value: []byte(`{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"a","text":"ok @x","sentiment":"positive"}`)})
	lk := t.TempDir()
	run := func(password string) (string, string, int) {
		cmd := exec.Command(medallionBin(t), "run", "--input", "kafka://"+addr+"/secure", "--lake", lk, "--stages", "raw:bronze",
			"--kafka-sasl", "PLAIN", "--kafka-user", "medallion")
		cmd.Env = append(os.Environ(), "MEDALLION_KAFKA_PASSWORD="+password)
		var e, o strings.Builder
		cmd.Stderr, cmd.Stdout = &e, &o
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return e.String(), o.String(), cmd.ProcessState.ExitCode()
	}
	if stderr, _, code := run("wrong"); code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") > 1 || !strings.Contains(strings.ToLower(stderr), "authentication") {
		t.Errorf("wrong password: exit %d, stderr %q", code, stderr)
	}
	if stderr, stdout, code := run("s3cret"); code != 0 || !strings.Contains(stdout, "bronze rows                      1") {
		t.Errorf("right password: exit %d\n%s%s", code, stderr, stdout)
	}
}

// A 3-partition topic on Flink's job server (PROCESS workers, the lake on
// S3): a batch run (capped: several batches, long ranges cut in pieces)
// and a stream (a batch job per trigger) give the tables of an in-process
// file-source run over the same tweets, and more than one worker process
// read ranges (reference for the runner: Beam's Flink runner).
func TestKafkaOnFlink(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	e := newEngineSetup(t)
	raw := rawTweets(t, 600, 41)
	messages := produceDir(t, b.client(t), "tweets", 3, raw)
	ref := batchLake(t, raw)
	endpoint, logs := startEngine(t, "flink")
	rctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	model := []string{"--registry", e.registry, "--model", "models:/tweet-sentiment/Production", "--monitoring", t.TempDir()}

	lk := "s3://" + e.bucket + "/lake-kafka"
	out := runMedallion(t, rctx, append(append([]string{"run", "--input", b.input("tweets"), "--lake", lk, "--kafka-max-messages", "300"}, model...), engineFlags(t, endpoint)...)...)
	sameTablesBut(t, "batch from Kafka on Flink", lk, ref)
	if !strings.Contains(out, fmt.Sprintf("Kafka offsets read    %12s", group(int64(messages)))) {
		t.Errorf("run summary does not count %d offsets:\n%s", messages, out)
	}
	if m := regexp.MustCompile(`worker processes\s+(\d+)\s+\((\d+) read Kafka ranges.*`).FindStringSubmatch(out); m == nil || atoi(m[2]) < 2 {
		t.Errorf("the ranges were not read by several workers:\n%s\njob server:\n%s", out, logs.String())
	} else {
		t.Logf("batch on Flink: %s", m[0])
	}

	lk = "s3://" + e.bucket + "/lake-kafka-stream"
	out = runMedallion(t, rctx, append(append([]string{"stream", "--input", b.input("tweets"), "--lake", lk, "--kafka-max-messages", "300",
		"--trigger", "1s", "--idle-timeout", "3s", "--monitor", "1h"}, model...), engineFlags(t, endpoint)...)...)
	if !strings.Contains(out, "a batch job per trigger") || !strings.Contains(out, "no new Kafka message for 3s") {
		t.Errorf("stream on Flink:\n%s", out)
	}
	sameTablesBut(t, "stream from Kafka on Flink", lk, ref)
	sweepStaged(t, endpoint)
}

// Spark Structured Streaming's Kafka source, writing a Delta bronze table
// with the course notebook's bronze logic (scripts/oracles/spark_kafka_bronze.py),
// reads the same 3-partition topic as our raw:bronze: Spark, reading both
// tables, finds the same rows (date, user, text, sentiment, source_file as
// multisets). Reference: Spark 4.0 with spark-sql-kafka and delta-spark.
func TestSparkKafkaBronze(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	if _, err := gen.Produce(ctx, []string{b.addr}, "tweets", 3, gen.Options{Tweets: 500, PerFile: 1, Format: "object", Seed: 51}); err != nil {
		t.Fatal(err)
	}
	ours := Config{Input: b.input("tweets"), Lake: t.TempDir(), Shards: 2, Codec: "zstd", Stages: "raw:bronze", Kafka: KafkaOptions{MaxMessages: 200}}
	if _, err := Run(ctx, ours, prismRunner(ctx)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := reforacle.Run(t, "spark_kafka_bronze.py", b.addr, "tweets", filepath.Join(dir, "bronze"), filepath.Join(dir, "checkpoint"),
		"--compare", ours.table(transforms.BronzeTable.Name))
	var got struct{ Rows, OnlyOurs, OnlySpark int64 }
	if err := json.Unmarshal(out, &struct {
		Rows      *int64 `json:"rows"`
		OnlyOurs  *int64 `json:"only_ours"`
		OnlySpark *int64 `json:"only_spark"`
	}{&got.Rows, &got.OnlyOurs, &got.OnlySpark}); err != nil {
		t.Fatalf("spark_kafka_bronze.py: %s: %v", out, err)
	}
	if got.Rows != 500 || got.OnlyOurs != 0 || got.OnlySpark != 0 {
		t.Errorf("Spark's bronze has %d rows (want 500); %d rows only in ours, %d only in Spark's", got.Rows, got.OnlyOurs, got.OnlySpark)
	}
}

// A transactional producer's messages: the range a plan takes ends with
// the transaction's commit marker (an offset that is no message), and the
// read takes it as read at once instead of waiting for a message that
// never comes (our own code; the broker writes the markers).
func TestKafkaTransactions(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	cl := b.client(t, kgo.TransactionalID("medallion-test"))
	if err := gen.CreateTopic(ctx, cl, "tx", 1); err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		produce(t, cl, &kgo.Record{Topic: "tx", Value: fmt.Appendf(nil, `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"tx %d @m","sentiment":"positive"}`, i)})
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	lk := t.TempDir()
	start := time.Now()
	sum, err := Run(ctx, Config{Input: b.input("tx"), Lake: lk, Codec: "zstd", Stages: "raw:bronze"}, prismRunner(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if sum.PlannedMessages != 6 || sum.RawRecords != 5 || time.Since(start) > 20*time.Second {
		t.Errorf("planned %d offsets (want 6: 5 messages and the commit marker), read %d records (want 5), in %s", sum.PlannedMessages, sum.RawRecords, time.Since(start))
	}
}

// Where a lake starts reading a topic: an RFC 3339 time and "latest" are
// resolved once, recorded, and later runs (whatever their flag) go on from
// the plans; a partition added to the topic later is read from its first
// offset, and records retention deleted from it before the lake saw it are
// reported lost, not skipped (our own code; the broker resolves times).
func TestKafkaStartingOffsets(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	b := startKafka(t)
	cl := b.client(t)
	if err := gen.CreateTopic(ctx, cl, "start", 1); err != nil {
		t.Fatal(err)
	}
	tweets := func(partition int32, n int) {
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: "start", Partition: partition, Value: fmt.Appendf(nil, `{"date":"Mon Apr 06 22:19:45 PDT 2009","user":"u","text":"s%d @m","sentiment":"negative"}`, i)})
		}
		produce(t, b.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	}
	tweets(0, 5)
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	tweets(0, 5) // offsets 5–9, after at
	rows := func(lk string) int { return len(readTable(t, filepath.Join(lk, transforms.BronzeTable.Name))) }
	run := func(lk, starting, lost string) error {
		_, err := Run(ctx, Config{Input: b.input("start"), Lake: lk, Codec: "zstd", Stages: "raw:bronze",
			Kafka: KafkaOptions{StartingOffsets: starting, LostOffsets: lost}}, prismRunner(ctx))
		return err
	}
	record := func(lk string) kafkaStart {
		var rec kafkaStart
		if err := kafkaStartLedger(lk, "start").read(ctx, 0, &rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}

	byTime := t.TempDir()
	if err := run(byTime, at.UTC().Format(time.RFC3339), ""); err != nil {
		t.Fatal(err)
	}
	if n, rec := rows(byTime), record(byTime); n != 5 || rec.Offsets[0] != 5 || rec.Starting != at.UTC().Format(time.RFC3339) {
		t.Errorf("starting at %s: %d rows, record %+v; want 5 rows from offset 5", at.UTC().Format(time.RFC3339), n, rec)
	}

	latest := t.TempDir()
	if err := run(latest, "latest", ""); err != nil {
		t.Fatal(err)
	}
	tweets(0, 3)
	if err := run(latest, "earliest", ""); err != nil { // the record decides, not the flag
		t.Fatal(err)
	}
	if n, rec := rows(latest), record(latest); n != 3 || rec.Offsets[0] != 10 {
		t.Errorf("latest: %d rows, record %+v; want the 3 produced after the first run", n, rec)
	}

	// A partition added, written to, and its first two records deleted
	// before the lake saw it.
	adm := kadm.NewClient(cl)
	if _, err := adm.CreatePartitions(ctx, 1, "start"); err != nil {
		t.Fatal(err)
	}
	tweets(1, 4)
	var o kadm.Offsets
	o.Add(kadm.Offset{Topic: "start", Partition: 1, At: 2})
	if res, err := adm.DeleteRecords(ctx, o); err != nil || res.Error() != nil {
		t.Fatalf("delete records: %v %v", err, res.Error())
	}
	err := run(latest, "", "")
	if err == nil || !strings.Contains(err.Error(), "partition 1 offsets 0–1 were deleted (retention) before any batch read them") {
		t.Errorf("a new partition's deleted records: %v", err)
	}
	if err := run(latest, "", "quarantine"); err != nil {
		t.Fatal(err)
	}
	if n := rows(latest); n != 5 {
		t.Errorf("after the new partition: %d rows, want 3 + 2", n)
	}
}
