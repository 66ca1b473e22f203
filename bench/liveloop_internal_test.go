package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paxos-lab/paxos"
)

// putWorkload writes one key per command.
type putWorkload struct{}

func (putWorkload) Next(*rand.Rand) paxos.Command {
	return paxos.Command{Op: paxos.OpPut, Key: "k", Value: "v"}
}

// TestAsyncLoopKeepsEveryClientsOperations drives closed-loop clients
// whose commands complete on other goroutines, as connection readers
// complete them: wait returns every completed command once, in the order
// they returned, and a completion that comes after wait returned is
// dropped.
func TestAsyncLoopKeepsEveryClientsOperations(t *testing.T) {
	defer func(g time.Duration) { asyncGrace = g }(asyncGrace)
	asyncGrace = 100 * time.Millisecond
	const clients = 16
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent, completed atomic.Int64
	var mu sync.Mutex
	var held func(error) // client 1's 10th command, never answered in time
	var wg sync.WaitGroup
	exec := func(site int, cmd paxos.Command, done func(error)) {
		sent.Add(1)
		if cmd.Client == 1 && cmd.Seq == 10 {
			mu.Lock()
			held = done
			mu.Unlock()
			return
		}
		go func() {
			completed.Add(1)
			done(nil)
		}()
	}
	none := func(paxos.CommandID) (time.Duration, paxos.Path, bool) { return 0, 0, false }
	bind := func(site int, id uint64, done func(error)) func(paxos.Command) {
		return func(cmd paxos.Command) { exec(site, cmd, done) }
	}
	l := &asyncLoop{ctx: ctx, start: time.Now(), end: time.Hour, bind: bind, commitOf: none, wg: &wg}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		l.add(&asyncClient{site: c % 3, id: uint64(c + 1), w: putWorkload{}, rng: rand.New(rand.NewPCG(1, uint64(c)))})
	}
	for {
		mu.Lock()
		ready := held != nil
		mu.Unlock()
		if ready && sent.Load() >= 1000 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	ops := l.wait() // after the grace period: client 1 never finishes
	require.Len(t, ops, int(completed.Load()), "every completed command, once")
	for i := 1; i < len(ops); i++ {
		require.LessOrEqual(t, ops[i-1].Return, ops[i].Return, "in the order they returned")
	}
	for _, op := range ops {
		assert.True(t, op.Done)
		assert.GreaterOrEqual(t, op.Return, op.Call)
	}
	mu.Lock()
	late := held
	mu.Unlock()
	require.NotNil(t, late)
	late(nil) // answered after wait returned: dropped
	for _, c := range l.clients {
		c.mu.Lock()
		assert.Empty(t, c.ops, "a late completion is not recorded")
		c.mu.Unlock()
	}
}

// TestFirstErrorKeepsTheFirstAndCostsNothingWithoutOne: firstError keeps
// the first error noted, and noting nil (every command that succeeded)
// allocates nothing.
func TestFirstErrorKeepsTheFirstAndCostsNothingWithoutOne(t *testing.T) {
	var f firstError
	if allocs := testing.AllocsPerRun(100, func() { f.note(nil) }); allocs != 0 {
		t.Fatalf("noting no error allocates %v times, want 0", allocs)
	}
	if err := f.first(); err != nil {
		t.Fatalf("first() = %v before any error", err)
	}
	e1, e2 := errors.New("one"), errors.New("two")
	f.note(e1)
	f.note(e2)
	if err := f.first(); err != e1 {
		t.Fatalf("first() = %v, want %v", err, e1)
	}
}
