// Package protocols registers the fake module's protocols.
package protocols

import (
	_ "example.com/badmod/fake"
	_ "example.com/badmod/good"
)
