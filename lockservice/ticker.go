package lockservice

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/paxos-lab/paxos"
)

// DefaultTickEvery is how often a replica serving the lock service proposes
// a Tick when nothing else is configured (`paxos serve --lock-tick`).
const DefaultTickEvery = time.Second

// Ticker makes the Tick commands that one replica proposes so that sessions
// expire without client traffic (see the package doc, "Expiry without
// clients"). It is a client of the service like any other: a non-zero
// client id (its own, not a session's) and consecutive seqs. It offers
// the same seq again until that tick is known applied, so the library's
// exactly-once sessions never hold a gap of the ticker's (a lost tick
// would otherwise leave every later one remembered); a retry of a tick
// that was applied after all is answered as a duplicate and changes
// nothing. Not safe for concurrent use.
type Ticker struct {
	client uint64
	seq    uint64
}

// NewTicker returns a ticker proposing as client (non-zero; 0 picks a
// random id). Give each replica process its own: a restarted process that
// reused an id would start again at seq 1, which the service answers as a
// duplicate without moving its clock.
func NewTicker(client uint64) *Ticker {
	for client == 0 {
		client = rand.Uint64()
	}
	return &Ticker{client: client, seq: 1}
}

// Next returns the tick to propose now (its time is written by the
// receiving replica's Stamp).
func (t *Ticker) Next() paxos.Command {
	c := Command(t.client, Request{Kind: KindTick})
	c.Seq = t.seq
	return c
}

// Applied tells the ticker that the tick with ex's command id executed
// (Duplicate or not), so the next one takes the next seq.
func (t *Ticker) Applied(ex paxos.Execution) {
	if ex.Command.Client == t.client && ex.Command.Seq == t.seq {
		t.seq++
	}
}

// RunTicker proposes a Tick through submit (a live replica's
// node.Node.Submit) every every, until ctx ends: what `paxos serve --app
// lockservice` runs beside each replica. A tick that fails (no leader
// yet, the replica stopping) is offered again at the next period.
func RunTicker(ctx context.Context, submit func(context.Context, paxos.Command) (paxos.Execution, error), every time.Duration) {
	if every <= 0 {
		return
	}
	t := NewTicker(0)
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		sctx, cancel := context.WithTimeout(ctx, every)
		ex, err := submit(sctx, t.Next())
		cancel()
		if err == nil {
			t.Applied(ex)
		} else if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return
		}
	}
}
