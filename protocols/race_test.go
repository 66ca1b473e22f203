//go:build race

package protocols_test

const raceEnabled = true
