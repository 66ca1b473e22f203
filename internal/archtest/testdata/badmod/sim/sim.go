// Package sim is a driver that imports a protocol directly.
package sim

import "example.com/badmod/good"

// Run uses the protocol without the registry.
func Run() int { return good.Draw(1) }
