package pipelines

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tweetsentiment/medallion/transforms"
)

// StopReason is why a stream stopped.
type StopReason int

const (
	NotStopped     StopReason = iota
	StopSignal                // SIGINT or SIGTERM to the command (its context ended)
	StopRequested             // medallion stop: the lake's stop request
	StopDriverGone            // a job's source: the run that started the job is gone
	StopIdle                  // no new input for the idle timeout
)

func (r StopReason) String() string {
	return [...]string{"running", "signal", "stop requested", "driver gone", "idle"}[r]
}

// Stopped says why a stream stopped, with what an idle stop waited for.
type Stopped struct {
	Reason StopReason
	Detail string // for StopIdle: "no new file for 1m0s"
}

func (s Stopped) String() string {
	if s.Detail != "" {
		return s.Detail
	}
	return s.Reason.String()
}

// driverCheck is how often a job's source reads its driver's heartbeat;
// driverWait is how long a new run waits for a killed run's job to have
// read it (a check, and a call in progress).
const (
	driverCheck = time.Second
	driverWait  = 3 * driverCheck
)

// stopPolicy decides when a stream stops: the one place for a signal, a
// stop request, a driver that is gone and the idle timeout, used by the
// streaming job's source, the micro-batch loop and the command's loop that
// follows a streaming job.
type stopPolicy struct {
	lake string
	idle time.Duration // 0: never idle
	// driver is the run whose streaming job this is (Heartbeat.driver):
	// a job on a job server outlives its driver, so its source stops when
	// that run is gone ("": not watched).
	driver        string
	driverChecked time.Time
}

// now returns why the stream stops now, idleness aside: a signal (the
// command's ctx ended), a stop request, its driver gone (read at most once
// per driverCheck).
func (p *stopPolicy) now(ctx context.Context, now time.Time) StopReason {
	switch {
	case ctx.Err() != nil:
		return StopSignal
	case stopRequested(p.lake):
		return StopRequested
	case p.driver != "" && now.Sub(p.driverChecked) >= driverCheck:
		p.driverChecked = now
		if driverGone(p.lake, p.driver) {
			slog.Warn("the stream run that started this job is gone: stopping after the planned batches", "lake", p.lake, "driver", p.driver)
			return StopDriverGone
		}
	}
	return NotStopped
}

// idleSince reports whether nothing new came for the idle timeout since
// lastNew.
func (p *stopPolicy) idleSince(now, lastNew time.Time) bool {
	return p.idle > 0 && now.Sub(lastNew) >= p.idle
}

// silentAfter is how long a running stream's heartbeat may go unwritten
// before the run counts as gone: it writes at least once a trigger.
func silentAfter(trigger time.Duration) time.Duration { return 3*trigger + 30*time.Second }

// driverGone reports whether the run named driver no longer drives the
// stream on the lake: its heartbeat fell silent, says it stopped, or is
// another run's. A heartbeat that cannot be read is not taken as gone.
func driverGone(lakeDir, driver string) bool {
	hb, err := readHeartbeat(lakeDir)
	if err != nil {
		return false
	}
	return hb.driver() != driver || hb.State != "running" || hb.Silent(time.Now())
}

// idleStop is an idle stop, saying what was awaited: new files, or new
// commits of the table the stages start from.
func idleStop(c Config, idle time.Duration) Stopped {
	if c.stages.First > transforms.RawBronze {
		return Stopped{StopIdle, fmt.Sprintf("no new %s commit for %s", c.stages.source(), idle)}
	}
	if c.kafka() {
		return Stopped{StopIdle, fmt.Sprintf("no new Kafka message for %s", idle)}
	}
	return Stopped{StopIdle, fmt.Sprintf("no new file for %s", idle)}
}
