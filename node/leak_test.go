package node_test

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// noLeaks waits until the goroutine count is back to before, and otherwise
// fails with the stacks of the goroutines still running.
func noLeaks(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var live []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if !strings.Contains(g, "testing.") {
			live = append(live, g)
		}
	}
	t.Fatalf("goroutines leaked: %d running, %d before:\n%s", runtime.NumGoroutine(), before, strings.Join(live, "\n\n"))
}
