//go:build !unix

package transport

import "net"

// DirectWriter would write to a TCP connection without waiting; where
// the socket's descriptor is not reachable it cannot (OK is false) and
// every message goes through a writer goroutine.
type DirectWriter struct{}

// NewDirectWriter returns a DirectWriter that cannot write.
func NewDirectWriter(net.Conn) DirectWriter { return DirectWriter{} }

// OK reports false: see DirectWriter.
func (*DirectWriter) OK() bool { return false }

// Write writes nothing.
func (*DirectWriter) Write([]byte) (int, error) { return 0, nil }
