//go:build integration && !race

package lake

const raceEnabled = false
