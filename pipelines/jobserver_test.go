package pipelines

import (
	"fmt"
	"testing"
	"time"
)

// A streaming job on a Java job server gets the options Flink needs to move
// its windows along (see Env.ForStream; the latencies it quotes were
// measured with scripts/bench-stream.sh), a user's own value wins, and other
// runners get the options as they are. [wiring: our own rule]
func TestStreamJobOptions(t *testing.T) {
	for _, tc := range []struct {
		runner  string
		trigger time.Duration
		given   JobOptions
		want    JobOptions
	}{
		{"prism", time.Second, nil, nil},
		{"dataflow", time.Second, JobOptions{"a": "b"}, JobOptions{"a": "b"}},
		{"flink", time.Second, nil, JobOptions{"streaming": true, "max_bundle_time_mills": 100.0, "shutdown_sources_after_idle_ms": 0.0}},
		{"universal", 3 * time.Second, nil, JobOptions{"streaming": true, "max_bundle_time_mills": 300.0, "shutdown_sources_after_idle_ms": 0.0}},
		{"spark", 10 * time.Second, nil, JobOptions{"streaming": true, "max_bundle_time_mills": 1000.0, "shutdown_sources_after_idle_ms": 0.0}},
		{"universal", time.Minute, nil, JobOptions{"streaming": true, "max_bundle_time_mills": 1000.0, "shutdown_sources_after_idle_ms": 0.0}},
		{"universal", 200 * time.Millisecond, JobOptions{"max_bundle_time_mills": 50.0, "checkpointing_interval": 2000.0},
			JobOptions{"streaming": true, "max_bundle_time_mills": 50.0, "shutdown_sources_after_idle_ms": 0.0, "checkpointing_interval": 2000.0}},
	} {
		got := Env{Runner: tc.runner, EnvironmentType: "PROCESS", JobOptions: tc.given}.ForStream(tc.trigger).JobOptions
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("--runner=%s, trigger %v, given %v: %v, want %v", tc.runner, tc.trigger, tc.given, got, tc.want)
		}
	}
}
