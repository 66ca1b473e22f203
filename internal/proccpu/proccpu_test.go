package proccpu

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTimeCountsWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no process CPU time here")
	}
	t0 := Time()
	x := uint64(1)
	for range 50_000_000 { // tens of milliseconds of work
		x = x*6364136223846793005 + 1442695040888963407
	}
	assert.Greater(t, Time(), t0, "the work was counted (%d)", x&1)
}
