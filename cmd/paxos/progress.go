package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// counter reports the progress of a long run on stderr: on a terminal a
// bar redrawn in place, otherwise a plain line at most every period (so a
// run shorter than that prints nothing, and a log stays short).
type counter struct {
	w       io.Writer
	tty     bool
	what    string // "seeds", "walks", ...
	total   int
	done    int
	start   time.Time
	last    time.Time
	period  time.Duration
	drawn   bool
	nowFunc func() time.Time
}

// progressPeriod is how often a counter prints a line on a non-terminal.
var progressPeriod = 5 * time.Second

func newCounter(w io.Writer, what string, total int) *counter {
	now := time.Now()
	return &counter{w: w, tty: isTerminal(w), what: what, total: total, start: now, last: now,
		period: progressPeriod, nowFunc: time.Now}
}

// step records one more unit done; note says where the run is.
func (c *counter) step(note string) {
	c.done++
	c.show(note)
}

// show redraws the bar (on a terminal) or prints the line when a period
// has passed since the last one (otherwise), without counting a unit.
func (c *counter) show(note string) {
	now := c.nowFunc()
	elapsed := now.Sub(c.start).Round(time.Second)
	line := fmt.Sprintf("%d/%d %s, %s (%s)", c.done, c.total, c.what, note, elapsed)
	if c.tty {
		const width = 30
		n := c.done * width / max(1, c.total)
		fmt.Fprintf(c.w, "\r\033[K[%s%s] %s", strings.Repeat("#", n), strings.Repeat(".", width-n), line)
		c.drawn = true
		return
	}
	if now.Sub(c.last) >= c.period {
		c.last = now
		fmt.Fprintln(c.w, line)
	}
}

// finish ends a bar drawn on a terminal.
func (c *counter) finish() {
	if c.drawn {
		fmt.Fprintln(c.w)
		c.drawn = false
	}
}

// clear erases a bar drawn on a terminal, so that other output starts on
// a clean line; the next step or show draws it again.
func (c *counter) clear() {
	if c.drawn {
		fmt.Fprint(c.w, "\r\033[K")
		c.drawn = false
	}
}
