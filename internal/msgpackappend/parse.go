package msgpackappend

// ShortString reads a string of fewer than 256 bytes (fixstr or str8) at
// the start of b, returning its bytes and the length of its encoding; it
// reports false for anything else, or too few bytes.
func ShortString(b []byte) ([]byte, int, bool) {
	if len(b) == 0 {
		return nil, 0, false
	}
	n, h := 0, 1
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9 && len(b) > 1:
		n, h = int(b[1]), 2
	default:
		return nil, 0, false
	}
	if len(b) < h+n {
		return nil, 0, false
	}
	return b[h : h+n], h + n, true
}
