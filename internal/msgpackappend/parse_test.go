package msgpackappend

import (
	"strings"
	"testing"
)

// TestShortString reads back what String writes for every short length,
// refuses a longer string's header and any cut-short encoding.
func TestShortString(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 255, 256} {
		s := strings.Repeat("s", n)
		b := append(String(nil, s), 0x01) // a following value is not read
		got, k, ok := ShortString(b)
		if n >= 256 {
			if ok {
				t.Errorf("%d bytes: read as a short string", n)
			}
			continue
		}
		if !ok || string(got) != s || k != len(b)-1 {
			t.Errorf("%d bytes: got %d bytes, length %d, %v", n, len(got), k, ok)
		}
		for cut := 0; cut < len(b)-1; cut++ {
			if _, _, ok := ShortString(b[:cut]); ok {
				t.Errorf("%d bytes cut to %d: accepted", n, cut)
			}
		}
	}
}
