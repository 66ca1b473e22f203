//go:build race

package multi_test

// raceEnabled is set when the race detector is on: long simulations and heap measurements skip.
const raceEnabled = true
