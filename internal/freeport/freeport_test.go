package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoopbackPortsAreFreeDistinctAndBelowTheEphemeralRange(t *testing.T) {
	addrs, err := Loopback(8)
	require.NoError(t, err)
	require.Len(t, addrs, 8)
	seen := map[string]bool{}
	lo := ephemeralLow()
	for _, a := range addrs {
		assert.False(t, seen[a], "%s returned twice", a)
		seen[a] = true
		_, port, err := net.SplitHostPort(a)
		require.NoError(t, err)
		p, err := strconv.Atoi(port)
		require.NoError(t, err)
		if lo-lowest >= 1000 {
			assert.GreaterOrEqual(t, p, lowest)
			assert.Less(t, p, lo, "%s is in the ephemeral range", a)
		}
		l, err := net.Listen("tcp", a) // free again once returned
		require.NoError(t, err)
		l.Close()
	}
}

func TestLoopbackSkipsATakenPort(t *testing.T) {
	addrs, err := Loopback(2)
	require.NoError(t, err)
	held, err := net.Listen("tcp", addrs[0])
	require.NoError(t, err)
	defer held.Close()
	taken, free := port(t, addrs[0]), port(t, addrs[1])
	lo := min(taken, free)
	// The first pick is the held port, the second the free one.
	picks := []int{taken - lo, free - lo}
	got, err := loopback(1, lo, lo+max(1000, max(taken, free)-lo+1), func(int) int { v := picks[0]; picks = picks[1:]; return v })
	require.NoError(t, err)
	assert.Equal(t, []string{addrs[1]}, got)
}

func port(t *testing.T, addr string) int {
	_, s, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(s)
	require.NoError(t, err)
	return p
}

func TestLoopbackRejectsANegativeCount(t *testing.T) {
	_, err := Loopback(-1)
	assert.ErrorContains(t, err, "-1 ports")
}
