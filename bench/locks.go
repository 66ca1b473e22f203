package bench

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/lockservice"
)

// The applications a Spec can drive (Spec.App).
const (
	AppKV          = "kv"          // the built-in key-value store (the default)
	AppLockService = "lockservice" // the lock service of package lockservice
)

// Lock-service workload parameters: a session lease long enough never to
// lapse in a run, renewed every keepAliveEvery operations.
const (
	lockTTL        = 10 * time.Second
	keepAliveEvery = 20
)

// Locks is the lock-service workload (Spec.App AppLockService). A client
// opens a session, then acquires an exclusive lock and releases it, over
// and over, renewing its session every 20th operation; ReadPct percent of
// the other operations read a lock instead (read-only: a leader under its
// lease answers them locally). The lock comes from the spec's key
// distribution: with conflict keys, the shared lock HotKey with
// probability Pct/100 and otherwise a lock of the client's own, so that
// only the conflicting share contends; with zipf keys, lock "k<rank>". An
// acquire of a lock another session holds is answered ErrHeld at once,
// and the release after it ErrNotHolder: both are completed operations.
//
// Session commands (open, keep-alive) name no lock, so EPaxos orders them
// against every command: one operation in 20 conflicts whatever Pct is.
type Locks struct {
	Pct     float64 // with conflict keys: share of operations on HotKey, 0..100
	ReadPct float64 // share of reads, 0..100
	Own     string  // the client's own lock (conflict keys)

	zipf *ZipfGen
	n    int
	held string
}

// newLocks returns the lock workload of client c of site, over the spec's keys.
func (s *Spec) newLocks(conflict float64, site, c int) (*Locks, error) {
	if err := checkCommon(s.ReadPct, 0); err != nil {
		return nil, err
	}
	w := &Locks{Pct: conflict, ReadPct: s.ReadPct, Own: "s" + strconv.Itoa(site) + "c" + strconv.Itoa(c)}
	if s.Keys.Kind == "zipf" {
		g, err := NewZipfGen(s.Keys.Theta, s.Keys.Keys)
		if err != nil {
			return nil, err
		}
		w.zipf = g
	}
	return w, nil
}

// Next implements Workload.
func (w *Locks) Next(rng *rand.Rand) paxos.Command {
	w.n++
	switch {
	case w.n == 1:
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindOpen, TTL: lockTTL.Milliseconds()})
	case w.n%keepAliveEvery == 0:
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindKeepAlive, TTL: lockTTL.Milliseconds()})
	case w.held != "":
		name := w.held
		w.held = ""
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindRelease, Lock: name})
	}
	name := w.Own
	switch {
	case w.zipf != nil:
		name = "k" + strconv.Itoa(w.zipf.Next(rng))
	case w.Pct > 0 && rng.Float64()*100 < w.Pct:
		name = HotKey
	}
	if w.ReadPct > 0 && rng.Float64()*100 < w.ReadPct {
		return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindRead, Lock: name})
	}
	w.held = name
	return lockservice.Command(0, lockservice.Request{Kind: lockservice.KindAcquire, Lock: name})
}
