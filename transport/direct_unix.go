//go:build unix

package transport

import (
	"net"
	"syscall"
)

// DirectWriter writes to a TCP connection without waiting: one write
// system call on the nonblocking socket, which takes what fits in the
// socket's buffer now. A goroutine that must not block (a replica's event
// loop) writes a short message so, and leaves what the socket did not
// take to a writer goroutine. Callers serialize its use with their other
// writes to the connection. It must not be copied once used.
type DirectWriter struct {
	raw syscall.RawConn
	// The call's argument and results, in fields so that the function
	// given to raw.Write is made once per connection, not per write.
	buf []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// NewDirectWriter returns c's direct writer; its OK is false for a
// connection that is not plain TCP (TLS), which it cannot write.
func NewDirectWriter(c net.Conn) DirectWriter {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return DirectWriter{}
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return DirectWriter{}
	}
	return DirectWriter{raw: raw}
}

// OK reports whether d can write its connection.
func (d *DirectWriter) OK() bool { return d.raw != nil }

// Write writes a prefix of b, as much as the socket takes now, and
// returns its length; an error is the connection's (it is broken), never
// a full socket buffer's.
func (d *DirectWriter) Write(b []byte) (int, error) {
	if d.fn == nil {
		d.fn = func(fd uintptr) bool {
			d.n, d.err = syscall.Write(int(fd), d.buf)
			return true // never wait for the socket to be writable
		}
	}
	d.buf = b
	err := d.raw.Write(d.fn)
	n, werr := d.n, d.err
	d.buf, d.err = nil, nil
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		werr = nil
	}
	return n, werr
}
