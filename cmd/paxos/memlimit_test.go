package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"auto": memAuto, "AUTO": memAuto, "off": 0,
		"512MiB": 512 << 20, "2GiB": 2 << 30, "300MB": 300e6, "1.5GiB": 3 << 29, "64mib": 64 << 20, "100000000": 1e8,
	} {
		got, err := parseMemoryLimit(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "lots", "-1GiB", "0", "1MiB", "1e30GiB", "NaN"} {
		_, err := parseMemoryLimit(in)
		assert.Error(t, err, in)
	}
}
