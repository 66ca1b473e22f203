// Package fake is a protocol that breaks every rule a protocol has.
package fake

import (
	"math/rand/v2"
	"time"
)

// Now reads the clock, starts a goroutine and draws from the global generator.
func Now() int64 {
	go func() {}()
	return time.Now().UnixNano() + rand.Int64N(10)
}
