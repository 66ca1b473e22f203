package explore

import (
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/check"
)

// Kind is the kind of one explorer action.
type Kind uint8

// The actions the explorer takes, one per step.
const (
	Deliver Kind = iota // deliver an in-flight message and remove it
	Drop                // lose an in-flight message
	Dup                 // deliver an in-flight message and keep a copy in flight
	Tick                // advance one replica's clock by Config.TickStep ticks
	Crash               // crash a running replica (volatile state lost)
	Restart             // restart a crashed replica from what it persisted
	Propose             // propose one of the commands at a running replica
	numKinds
)

var kindNames = [numKinds]string{"deliver", "drop", "dup", "tick", "crash", "restart", "propose"}

// String returns the action kind's name, as traces print it.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Action is one step of a schedule. Message actions name the message by its
// content (sender, receiver and encoded body), not by its position in
// flight, so a schedule with some actions removed still means the same
// thing: an action whose message is not in flight when its turn comes, or
// whose replica is not in the state it needs, is skipped.
type Action struct {
	Kind Kind
	// Replica is the target of Tick, Crash, Restart and Propose.
	Replica paxos.NodeID
	// Command indexes the explored commands (Propose).
	Command int
	// Msg is the message of Deliver, Drop and Dup.
	Msg paxos.Message
	// Outbox, on a Crash, loses the messages the replica sent that are
	// still in flight too (they sat in its send buffers).
	Outbox bool
	key    string // Msg encoded: its identity
}

// String renders the action for a trace, e.g. "deliver 1->4 epaxos.PreAccept{...}".
func (a Action) String() string {
	switch a.Kind {
	case Deliver, Drop, Dup:
		return fmt.Sprintf("%-7s %d->%d %T%+v", a.Kind, a.Msg.From, a.Msg.To, a.Msg.Body, a.Msg.Body)
	case Propose:
		return fmt.Sprintf("%-7s c%d at %d", a.Kind, a.Command, a.Replica)
	case Crash:
		if a.Outbox {
			return fmt.Sprintf("%-7s %d, losing what it sent", a.Kind, a.Replica)
		}
		return fmt.Sprintf("%-7s %d", a.Kind, a.Replica)
	default:
		return fmt.Sprintf("%-7s %d", a.Kind, a.Replica)
	}
}

// inflight is one message in the network, with its identity and hash.
type inflight struct {
	m   paxos.Message
	key string
	h   uint64
	// weight scales how likely a walk is to pick this message (its
	// swarm's weights for its link and type, and whether it drew "late").
	weight float64
}

// world is one explored cluster: the replicas, what each persisted, the
// messages in flight, and what the invariants need.
type world struct {
	cfg       *Config
	seed      uint64 // seeds the replicas' own random sources
	reps      []paxos.Replica
	inc       []int
	persisted []paxos.Persisted
	recHash   []uint64 // chain hash of each replica's durable storage
	pending   []inflight
	pendSum   uint64         // sum of the pending messages' hashes (a multiset hash)
	pendHash  map[uint64]int // how many pending messages have each hash

	decSeen map[uint64]bool
	decSum  uint64
	// elections records who led each term (Raft), for election safety.
	elections *check.Elections
	learned   []check.Learned
	applied   []check.Applied
	proposed  []int
	crashes   int
	drops     int
	down      int
	failures  []string
	err       error // a harness error (a replica that could not be built, an unencodable message)
	hs        maphash.Seed
	cmds      []paxos.Command
	sw        *swarm // the walk's weights; nil when replaying
	// What guides the search (see features.go), nil when replaying: the
	// kinds of commands of each replica's latest record per instance, the
	// decided instances' kinds, counted driver events, and the coverage of
	// crashed incarnations.
	recs    map[recKey]string
	shapes  map[recKey]string // the shape of each replica's latest record per instance
	recDeps map[recKey]bool   // whether the latest record with commands names dependencies
	decided map[paxos.Instance]decision
	events  map[string]int
	deadCov paxos.Coverage
	// casts maps (instance, sender, message type) to the receivers sent
	// to; coords maps an instance to the replicas that broadcast about it.
	casts  map[castKey]uint64
	coords map[paxos.Instance]uint64
	// decCount counts the decisions each replica reported; lastRestart
	// is the replica restarted last (-1: none yet).
	decCount    []int
	lastRestart int
	// knowers maps a decided instance to the replicas that reported its
	// decision (guided walks only).
	knowers map[paxos.Instance]uint64
}

func newWorld(cfg *Config, seed uint64, hs maphash.Seed, guided bool) *world {
	n := cfg.Replicas
	w := &world{cfg: cfg, seed: seed, reps: make([]paxos.Replica, n), inc: make([]int, n),
		persisted: make([]paxos.Persisted, n), recHash: make([]uint64, n),
		decSeen: map[uint64]bool{}, pendHash: map[uint64]int{}, proposed: make([]int, cfg.Commands), hs: hs, cmds: cfg.commands(),
		decCount: make([]int, n), lastRestart: -1, elections: check.NewElections()}
	if guided {
		w.recs, w.decided, w.events, w.deadCov = map[recKey]string{}, map[paxos.Instance]decision{}, map[string]int{}, paxos.Coverage{}
		w.shapes, w.recDeps = map[recKey]string{}, map[recKey]bool{}
		w.casts, w.coords = map[castKey]uint64{}, map[paxos.Instance]uint64{}
		w.knowers = map[paxos.Instance]uint64{}
	}
	for i := 0; i < n; i++ {
		if err := w.start(i, nil); err != nil {
			w.err = err
			return w
		}
	}
	return w
}

// replicaSeed derives Config.Seed for replica id's incarnation inc.
func replicaSeed(seed uint64, id, inc int) uint64 {
	return mix(seed ^ mix(uint64(id)+1) ^ mix(uint64(inc)<<32|0x6578706c))
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (w *world) start(i int, restore *paxos.Persisted) error {
	rc := w.cfg.Replica
	rc.ID, rc.N = paxos.NodeID(i), w.cfg.Replicas
	rc.Seed = replicaSeed(w.seed, i, w.inc[i])
	rc.Restore = restore
	r, err := paxos.Build(w.cfg.Protocol, w.cfg.New, rc)
	if err != nil {
		return fmt.Errorf("explore: build replica %d: %w", i, err)
	}
	w.reps[i] = r
	w.collect(i)
	return nil
}

// collect carries out replica i's Ready: persist, send (into the network),
// record decisions and executions, and check the invariants when either
// grew.
func (w *world) collect(i int) {
	r := w.reps[i]
	if r == nil {
		return
	}
	rd := r.Ready()
	if rd.Snapshot != nil {
		w.persisted[i] = paxos.Persisted{Snapshot: rd.Snapshot}
		w.recHash[i] = w.chain(0, rd.Snapshot)
		w.forgetRecords(i)
	}
	if len(rd.Persist) > 0 {
		// Restart hands the replica a copy, so appending in place is safe.
		w.persisted[i].Records = append(w.persisted[i].Records, rd.Persist...)
		for _, rec := range rd.Persist {
			w.recHash[i] = w.chain(w.recHash[i], rec)
			w.noteRecord(i, rec)
		}
	}
	for _, m := range rd.Messages {
		m.From = paxos.NodeID(i)
		if m.To < 0 || int(m.To) >= len(w.reps) || w.reps[m.To] == nil {
			continue // to a crashed replica (or nowhere): lost
		}
		w.send(m)
	}
	grew := false
	w.decCount[i] += len(rd.Decided)
	for _, d := range rd.Decided {
		w.learned = append(w.learned, check.Learned{Replica: paxos.NodeID(i), Incarnation: w.inc[i], Decision: d})
		h := maphash.String(w.hs, fmt.Sprintf("%v|%v|%d|%v", d.Instance, d.Commands, d.Seq, d.Deps))
		if _, ok := w.decided[d.Instance]; !ok && w.decided != nil {
			w.decided[d.Instance] = decisionOf(d)
		}
		if w.knowers != nil && i < 64 {
			w.knowers[d.Instance] |= 1 << uint(i)
		}
		if !w.decSeen[h] {
			w.decSeen[h] = true
			w.decSum += h
		}
		grew = true
	}
	for _, e := range rd.Executed {
		w.applied = append(w.applied, check.Applied{Replica: paxos.NodeID(i), Incarnation: w.inc[i], Exec: e})
		grew = true
	}
	if grew && len(w.failures) == 0 {
		w.failures = check.Invariants(w.learned, w.applied)
	}
	if len(w.failures) == 0 {
		if failure, _ := w.elections.Observe(paxos.NodeID(i), r); failure != "" {
			w.failures = []string{failure}
		}
	}
}

func (w *world) chain(h uint64, rec any) uint64 {
	b, err := paxos.Encode(rec)
	if err != nil {
		w.fail(fmt.Errorf("explore: replica persisted a record the codec cannot encode (%T): %w", rec, err))
		return h
	}
	var mh maphash.Hash
	mh.SetSeed(w.hs)
	var buf [8]byte
	for k := range buf {
		buf[k] = byte(h >> (8 * k))
	}
	mh.Write(buf[:])
	mh.Write(b)
	return mh.Sum64()
}

func (w *world) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// send puts m in flight. Identical copies already in flight are merged: the
// network may lose messages, so one copy standing for two is a loss the
// model allows, and it keeps periodic messages (heartbeats, watermarks)
// from flooding the choice of what to deliver.
func (w *world) send(m paxos.Message) {
	b, err := paxos.EncodeMessage(m)
	if err != nil {
		w.fail(fmt.Errorf("explore: replica %d sent a message the codec cannot encode (%T): %w", m.From, m.Body, err))
		return
	}
	key := string(b)
	h := maphash.String(w.hs, key)
	if w.find(key, h) >= 0 {
		return
	}
	wt := 1.0
	if w.sw != nil {
		wt = w.sw.weigh(m)
	}
	w.noteSend(m)
	w.pending = append(w.pending, inflight{m: m, key: key, h: h, weight: wt})
	w.pendSum += h
	w.pendHash[h]++
}

// find returns the position of the pending message with this key and hash
// (the hash of key), or -1.
func (w *world) find(key string, h uint64) int {
	if w.pendHash[h] == 0 {
		return -1
	}
	for i, p := range w.pending {
		if p.h == h && p.key == key {
			return i
		}
	}
	return -1
}

// findKey is find for a key whose hash is not known.
func (w *world) findKey(key string) int { return w.find(key, maphash.String(w.hs, key)) }

func (w *world) remove(i int) {
	w.pendSum -= w.pending[i].h
	if w.pendHash[w.pending[i].h]--; w.pendHash[w.pending[i].h] == 0 {
		delete(w.pendHash, w.pending[i].h)
	}
	w.pending = append(w.pending[:i], w.pending[i+1:]...)
}

// apply carries out one action; it reports false (and changes nothing) when
// the action does not apply in this state.
func (w *world) apply(a *Action) bool {
	c := w.cfg
	switch a.Kind {
	case Deliver, Dup, Drop:
		if a.key == "" {
			b, err := paxos.EncodeMessage(a.Msg)
			if err != nil {
				return false
			}
			a.key = string(b)
		}
		i := w.findKey(a.key)
		if i < 0 {
			return false
		}
		if a.Kind == Drop {
			if w.drops >= c.MaxDrops {
				return false
			}
			w.drops++
			w.remove(i)
			return true
		}
		m := w.pending[i].m
		if a.Kind == Deliver {
			w.remove(i)
		}
		r := w.reps[m.To]
		if r == nil {
			return true // cannot happen: crashing drops what is in flight to a replica
		}
		_ = r.Step(m) // a refused message leaves the replica usable; that is all the contract says
		w.collect(int(m.To))
		return true
	case Tick:
		r := w.up(a.Replica)
		if r == nil {
			return false
		}
		for k := 0; k < c.TickStep; k++ {
			r.Tick()
			w.collect(int(a.Replica))
		}
		return true
	case Crash:
		if w.up(a.Replica) == nil || w.down >= c.MaxDown || w.crashes >= c.MaxCrashes {
			return false
		}
		w.noteCrash(w.reps[a.Replica])
		w.reps[a.Replica] = nil
		w.down++
		w.crashes++
		for i := len(w.pending) - 1; i >= 0; i-- {
			if w.pending[i].m.To == a.Replica || (a.Outbox && w.pending[i].m.From == a.Replica) {
				w.remove(i)
			}
		}
		return true
	case Restart:
		id := int(a.Replica)
		if id < 0 || id >= len(w.reps) || w.reps[id] != nil {
			return false
		}
		p := w.persisted[id]
		restore := &paxos.Persisted{Snapshot: p.Snapshot, Records: append([]any(nil), p.Records...)}
		w.noteRestart(id)
		w.lastRestart = id
		w.inc[id]++
		w.down--
		if err := w.start(id, restore); err != nil {
			w.fail(err)
		}
		return true
	case Propose:
		r := w.up(a.Replica)
		if r == nil || a.Command < 0 || a.Command >= len(w.cmds) || w.proposed[a.Command] >= c.MaxProposals {
			return false
		}
		w.proposed[a.Command]++
		r.Propose(w.cmds[a.Command])
		w.collect(int(a.Replica))
		return true
	}
	return false
}

func (w *world) up(id paxos.NodeID) paxos.Replica {
	if id < 0 || int(id) >= len(w.reps) {
		return nil
	}
	return w.reps[id]
}

// hash is the observable state: each replica's durable storage and whether
// it runs, the messages in flight, and the decisions learned. Volatile state
// (timers, leases, what a replica holds but has not persisted) is left out,
// so two states with one hash may still differ.
func (w *world) hash() uint64 {
	h := w.pendSum*31 + w.decSum
	for i, rh := range w.recHash {
		x := rh
		if w.reps[i] == nil {
			x = ^x
		}
		h = mix(h ^ x ^ uint64(i+1)*0x100000001b3)
	}
	return h
}

// format renders a trace, one numbered action a line.
func format(trace []Action) string {
	var b strings.Builder
	for i, a := range trace {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, a)
	}
	return b.String()
}

// choices lists what a walk can act on now: the running replicas, the
// crashed ones, and the commands that may still be proposed.
func (w *world) choices() (ups, downs []paxos.NodeID, open []int) {
	for i, r := range w.reps {
		if r != nil {
			ups = append(ups, paxos.NodeID(i))
		} else {
			downs = append(downs, paxos.NodeID(i))
		}
	}
	for i, p := range w.proposed {
		if p < w.cfg.MaxProposals {
			open = append(open, i)
		}
	}
	return ups, downs, open
}
