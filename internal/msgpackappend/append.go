// Package msgpackappend appends msgpack values to a byte slice by hand, in
// the bytes msgpack.Encoder's own methods write (EncodeString, EncodeBytes,
// EncodeArrayLen, EncodeUint), for encoders that write many small values
// in chunks (a snapshot's keys, a batch of commands) and would otherwise
// spend more on one method call per value than on the rest of the
// encoding.
package msgpackappend

// String appends s as a msgpack string in its smallest form.
func String(b []byte, s string) []byte { return append(stringHeader(b, len(s)), s...) }

// StringBytes appends p as a msgpack string: String of string(p), without
// the conversion.
func StringBytes(b []byte, p []byte) []byte { return append(stringHeader(b, len(p)), p...) }

// stringHeader appends the smallest header of a string of n bytes.
func stringHeader(b []byte, n int) []byte {
	if n < 32 {
		return append(b, 0xa0|byte(n))
	}
	return header(b, n, 0xd9, 0xda, 0xdb)
}

// header appends the smallest of the 8-, 16- and 32-bit length headers
// whose codes are c8, c16 and c32.
func header(b []byte, n int, c8, c16, c32 byte) []byte {
	switch {
	case n < 256:
		return append(b, c8, byte(n))
	case n <= 0xffff:
		return append(b, c16, byte(n>>8), byte(n))
	}
	return append(b, c32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// Bytes appends p as msgpack binary (EncodeBytes of a non-nil p).
func Bytes(b []byte, p []byte) []byte {
	return append(header(b, len(p), 0xc4, 0xc5, 0xc6), p...)
}

// ArrayLen appends the header of an array of n elements (EncodeArrayLen).
func ArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= 0xffff:
		return append(b, 0xdc, byte(n>>8), byte(n))
	}
	return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// Uint appends v as msgpack's smallest unsigned integer.
func Uint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, 0xcc, byte(v))
	case v <= 0xffff:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v <= 0xffffffff:
		return append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, 0xcf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
