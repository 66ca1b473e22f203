//go:build !race

package protocols_test

// raceEnabled is set when the race detector is on: heap measurements skip.
const raceEnabled = false
