//go:build race

package paxos_test

// raceEnabled is set when the race detector is on: allocation counts skip
// (sync.Pool drops items at random under it).
const raceEnabled = true
