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

// A job on a Java job server's runner keeps its SDK workers between stages
// (environment_cache_millis) unless its options say otherwise; other runners
// get the options as given. Wiring: the option's effect is measured on
// scripts/cluster.sh's Flink cluster (Env.jobOptions).
func TestJobOptions(t *testing.T) {
	for _, tc := range []struct {
		runner string
		given  JobOptions
		want   JobOptions
	}{
		{"prism", nil, nil},
		{"dataflow", JobOptions{"a": "b"}, JobOptions{"a": "b"}},
		{"universal", nil, JobOptions{"environment_cache_millis": 10000.0}},
		{"flink", JobOptions{"sdk_worker_parallelism": 1.0}, JobOptions{"environment_cache_millis": 10000.0, "sdk_worker_parallelism": 1.0}},
		{"spark", JobOptions{"environment_cache_millis": 0.0}, JobOptions{"environment_cache_millis": 0.0}},
	} {
		if got := (Env{Runner: tc.runner, JobOptions: tc.given}).jobOptions(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("--runner=%s, given %v: %v, want %v", tc.runner, tc.given, got, tc.want)
		}
	}
}
