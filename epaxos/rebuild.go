package epaxos

import (
	"fmt"
	"slices"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/quorum"
)

// Rebuilding after a lost disk (Config.Rebuild); the rule and its argument
// are in the package doc. The residual, precisely: the bound H[q] covers
// the votes of the rebuilding replica W whose instance had reached some
// answering peer by the time that peer answered. A PreAccept or Accept that
// W answered before its disk was lost, still on its way to every answering
// member of its quorum when they answered, names an instance that may lie
// above H[q]; W would then vote on it again with no memory of its first
// vote, and if W led it, W may lead the same slot again. The model has no
// bound on message delay, so no rule without one closes that window.
//
// A rebuilt replica never casts a fast-path vote again: its PreAccept replies
// always count as changed and it never holds a command leader's original
// attributes from its own merge (SnapshotRecord.Rebuilt keeps this across
// restarts). Recovery rule 4a rules a silent replica p out of γ's fast quorum
// because p's index only grows (but for pruning, which by the lemma in
// recovery.go never drops δ while p may still vote on γ), so p, having
// proposed an interfering δ, could not have pre-accepted γ unchanged
// without adding δ. A rebuilt p has
// lost that memory: the state it installed is a peer's committed state, in
// which δ may be a Nop (decided by a recovery that never saw δ's command)
// while a stale replica still holds δ as p proposed it. Such a p could
// pre-accept γ unchanged, help fast-commit it, and then be ruled out by a
// recovery at the stale replica: the bug of the restart case, with a lost
// disk instead of a restart. Keeping p out of every fast quorum makes rule
// 4a's conclusion true of it whatever it forgot. The cost: after a rebuild
// a fast path needs the other members of a fast quorum.
//
// Its own slots. A rebuilt p must never lead, at the initial ballot, a slot
// of its own that it led before the loss: a silent peer may hold that
// instance with another command, recover it later and commit it, while p's
// new command commits in the same slot (TestRebuiltReplicaSlotDecidedOnce
// plays it). H[p], the highest slot of p the answering peers know, does
// not cover an instance p led that reached only peers that did not answer.
// What bounds p's slots is the window: p leads a new instance only while
// fewer than Config.Window of its own instances are uncommitted here,
// counting those restored after a restart and its placeholders
// (Replica.held) with those it leads (Replica.inflight), and every slot of
// p below its slot counter is held here or garbage-collected. So when p
// led its highest slot s*, one of its slots in [s*-Window, s*-1] was
// committed here (or s* <= Window): a slow quorum had voted for it before
// the loss, hence before the answers, and the answering peers (N-F of
// them, p excluded) meet every F replicas other than p, so one of them
// knew that slot: s* <= H[p] + Window. p therefore reserves its slots up to
// R = H[p] + Window (SnapshotRecord.Reserved, durable with the snapshot
// that ends the rebuild): it leads a slot up to R like a recovery, with a
// phase 1 at a higher ballot (Prepare), and proposes its command there
// only when no replica of the slow quorum that answered holds anything of
// the slot (rule 3: p, the command leader, replied; free). A command a
// peer holds, or accepted at a higher ballot, is decided there instead, as
// any recovery would (Paxos: a value chosen in the slot, at any ballot, is
// seen by the phase 1), and p proposes its own again in its next slot.
// Slots above R are led as usual. No slot is skipped, so no gap stalls
// execution or garbage collection. Cost: one more round trip for p's first
// Window instances after its rebuild. Assumption: the window of p's
// incarnations before the loss was at most this incarnation's
// Config.Window.

// RebuildQuery asks a peer for what a replica rebuilding after a lost disk
// needs: the highest slot it knows of each replica, its committed state when
// WantState is set, and a Commit for each instance of Missing it knows
// committed.
type RebuildQuery struct {
	WantState bool             `msgpack:"w,omitempty"`
	Missing   []paxos.Instance `msgpack:"m,omitempty"`
}

// RebuildInfo answers a RebuildQuery. MaxSlot[q] is the highest slot of
// replica q the peer knows of; State, when asked for, is the peer's whole
// state, of which the rebuilding replica keeps only what is committed.
// Rebuilding is set when the peer is rebuilding itself; its answer then
// counts for nothing.
type RebuildInfo struct {
	Rebuilding bool            `msgpack:"r,omitempty"`
	MaxSlot    []uint64        `msgpack:"m"`
	State      *SnapshotRecord `msgpack:"s,omitempty"`
	// Unknown lists the instances of the query's Missing of which the peer
	// holds nothing (no record, or only a promise), not garbage-collected.
	Unknown []paxos.Instance `msgpack:"u,omitempty"`
}

// RebuildRecord marks the rebuild of a replica that lost its disk: Done
// false when it begins, true once the replica votes again.
type RebuildRecord struct {
	Done bool `msgpack:"d,omitempty"`
}

func init() {
	paxos.Register("epaxos.RebuildQuery", RebuildQuery{})
	paxos.Register("epaxos.RebuildInfo", RebuildInfo{})
	paxos.Register("epaxos.RebuildRecord", RebuildRecord{})
}

// maxMissing bounds the instances one RebuildQuery asks commits for.
const maxMissing = 256

// rebuild is the state of a replica that rebuilds after losing its disk.
type rebuild struct {
	answered  quorum.Set // peers, not rebuilding, that answered
	high      []uint64   // per replica, the highest slot they reported
	enough    bool       // answered meets every slow quorum without us
	installed bool       // a peer's committed state is installed here
	askedAt   uint64     // tick of the last query
	asks      int        // queries for missing commits so far (backoff)
	// unknownAt lists, per missing instance, the peers that answered that
	// they hold nothing of it (see forgotten).
	unknownAt map[paxos.Instance]quorum.Set
}

// Rebuilding reports whether the replica is rebuilding after a lost disk and
// does not vote yet.
func (r *Replica) Rebuilding() bool { return r.rb != nil }

// rebuildMarkers reads from what was persisted whether a rebuild was under
// way (marker) or completed (done), and whether a peer's state was already
// installed.
func rebuildMarkers(p *paxos.Persisted) (marker, done, installed bool) {
	if p == nil {
		return false, false, false
	}
	if s, ok := p.Snapshot.(SnapshotRecord); ok && s.Rebuilding {
		marker, installed = true, true
	}
	for _, rec := range p.Records {
		if v, ok := rec.(RebuildRecord); ok {
			marker, done = !v.Done, v.Done
		}
	}
	return marker, done, installed
}

// startRebuild enters the rebuilding state when cfg.Rebuild asks for it (and
// the restored records do not say it completed) or the restored records say
// a rebuild was under way.
func (r *Replica) startRebuild() error {
	marker, done, installed := rebuildMarkers(r.cfg.Restore)
	if done {
		r.rebuilt = true
	}
	if done || (!r.cfg.Rebuild && !marker) {
		return nil
	}
	if r.n-1 < r.sq {
		return fmt.Errorf("epaxos: %w: cannot rebuild replica %d of %d: it is a slow quorum on its own, so what only it held was lost with its disk",
			paxos.ErrConfig, r.id, r.n)
	}
	r.rb = &rebuild{high: make([]uint64, r.n), installed: installed, unknownAt: map[paxos.Instance]quorum.Set{}}
	if !marker {
		r.rd.Persist = append(r.rd.Persist, RebuildRecord{})
	}
	q := RebuildQuery{WantState: !installed}
	for _, p := range r.nearest {
		r.send(p, q)
	}
	return nil
}

// rebuildStep handles the rebuild messages, and, while rebuilding, every
// message that would make this replica vote. It reports whether it handled
// the message.
func (r *Replica) rebuildStep(from paxos.NodeID, body any) (bool, error) {
	switch m := body.(type) {
	case RebuildQuery:
		r.onRebuildQuery(from, m)
		return true, nil
	case RebuildInfo:
		if len(m.MaxSlot) != r.n {
			return true, fmt.Errorf("epaxos: rebuild info with %d slots for %d replicas: %w", len(m.MaxSlot), r.n, paxos.ErrMalformed)
		}
		if r.rb != nil && !m.Rebuilding {
			return true, r.onRebuildInfo(from, m)
		}
		return true, nil
	}
	if r.rb == nil {
		return false, nil
	}
	switch body.(type) {
	case PreAccept, Accept, Prepare, TryPreAccept:
		return true, nil // no vote, no promise while rebuilding
	case Commit:
		// Before a peer's state is installed, a decision would be lost
		// with the install; the query for missing commits brings it again.
		return !r.rb.installed, nil
	}
	return false, nil
}

// onRebuildQuery answers a peer that rebuilds. It forgot what it executed,
// so its old execution watermark no longer holds: garbage collection here
// waits for its new one.
func (r *Replica) onRebuildQuery(from paxos.NodeID, m RebuildQuery) {
	if from == r.id {
		return
	}
	clear(r.peerExec[from])
	r.peerSeen[from], r.peerSeenExec[from] = nil, nil // start again from what it reports next
	info := RebuildInfo{Rebuilding: r.rb != nil, MaxSlot: make([]uint64, r.n)}
	for q := range info.MaxSlot {
		info.MaxSlot[q] = max(r.maxSlot[q], r.gcUpTo[q])
	}
	if m.WantState && r.rb == nil {
		s := r.snapshot()
		info.State = &s
	}
	var commits []Commit
	if r.rb == nil {
		for i, id := range m.Missing {
			if i == maxMissing || id.Replica < 0 || int(id.Replica) >= r.n {
				break
			}
			in := r.inst[id.Replica][id.Slot]
			switch {
			case in != nil && in.status == StatusCommitted:
				commits = append(commits, Commit{Inst: in.id, Cmds: in.cmds, Seq: in.seq, Deps: in.deps})
			case id.Slot > r.gcUpTo[id.Replica] && (in == nil || in.status == StatusNone):
				info.Unknown = append(info.Unknown, id)
			}
		}
	}
	r.send(from, info)
	for _, c := range commits {
		r.send(from, c)
	}
}

func (r *Replica) onRebuildInfo(from paxos.NodeID, m RebuildInfo) error {
	rb := r.rb
	if !rb.installed && m.State != nil {
		if err := r.installState(*m.State); err != nil {
			return err
		}
		rb = r.rb
	}
	for _, id := range m.Unknown {
		if int(id.Replica) >= 0 && int(id.Replica) < r.n {
			rb.unknownAt[id] = rb.unknownAt[id].Add(int(from))
		}
	}
	if !rb.enough {
		// The bound is fixed once enough peers answered: later answers
		// would chase instances started since, and never be met under load.
		rb.answered = rb.answered.Add(int(from))
		for q, s := range m.MaxSlot {
			rb.high[q] = max(rb.high[q], s)
		}
		rb.enough = r.n-rb.answered.Len() < r.sq
	}
	r.rebuildDone()
	return nil
}

// installState replaces this replica's state by the committed part of a
// peer's: its store, dependency index and committed instances. Instances
// the peer holds uncommitted become empty placeholders: the peer's votes
// are not this replica's.
func (r *Replica) installState(src SnapshotRecord) error {
	snap := SnapshotRecord{Store: src.Store, Keys: src.Keys, Index: src.Index, Executed: src.Executed, ExecUpTo: src.ExecUpTo, GCUpTo: src.GCUpTo, Floor: src.Floor}
	for _, rec := range src.Instances {
		if rec.Status == StatusCommitted {
			snap.Instances = append(snap.Instances, rec)
		} else {
			snap.Instances = append(snap.Instances, InstanceRecord{Inst: rec.Inst})
		}
	}
	cfg := r.cfg
	cfg.Rebuild, cfg.Restore = false, &paxos.Persisted{Snapshot: snap}
	fresh, err := newReplica(cfg, r.opts)
	if err != nil {
		return fmt.Errorf("epaxos: rebuild from a peer's state: %w: %w", paxos.ErrMalformed, err)
	}
	rb, batch, rd, now, stats := r.rb, r.batch, r.rd, r.now, r.stats
	// A planted bug (mutants_catalog.go) changes planted or the quorum
	// sizes after construction; it must survive the swap below, or a
	// rebuilt replica would run the correct protocol beside peers that
	// do not, and the checker would credit itself with their disagreement.
	planted, fq, sq := r.planted, r.fq, r.sq
	rd.Decided = append(rd.Decided, fresh.rd.Decided...)
	rd.Executed = append(rd.Executed, fresh.rd.Executed...)
	*r = *fresh
	r.rb, r.batch, r.now, r.stats = rb, batch, now, stats
	r.planted, r.fq, r.sq = planted, fq, sq
	r.rb.installed = true
	for _, in := range r.uncommitted {
		r.scheduleRecovery(in)
	}
	// The snapshot holds all durable state, the rebuild marker included.
	rd.Persist = nil
	rd.Snapshot = r.snapshot()
	r.rd = rd
	return nil
}

// rebuildTick runs instead of Tick while rebuilding: it queries the peers
// until enough answered and a peer's state is installed, then asks for the
// commits of the instances it misses up to the highest slots reported.
func (r *Replica) rebuildTick() {
	rb := r.rb
	rt := uint64(r.cfg.RetryTicks)
	if rb.enough && rb.installed {
		// Asking for missing commits backs off exponentially (up to 32
		// retry periods): every peer answers each query with up to
		// maxMissing commits, and several rebuilding replicas asking every
		// period could keep the others too busy to decide what they wait
		// for.
		rt <<= min(rb.asks, 5)
	}
	if r.now-rb.askedAt < rt {
		return
	}
	rb.askedAt = r.now
	if !rb.enough || !rb.installed {
		q := RebuildQuery{WantState: !rb.installed}
		for _, p := range r.nearest {
			if !rb.answered.Has(int(p)) || !rb.installed {
				r.send(p, q)
			}
		}
		return
	}
	if missing := r.rebuildMissing(); len(missing) > 0 {
		rb.asks++
		q := RebuildQuery{Missing: missing}
		wm := Watermark{Executed: slices.Clone(r.execUpTo)}
		for _, p := range r.nearest {
			r.send(p, q)
			r.send(p, wm)
		}
	}
	r.rebuildDone()
}

// rebuildMissing lists (up to maxMissing) the instances up to the highest
// reported slots that are not committed here.
func (r *Replica) rebuildMissing() []paxos.Instance {
	var out []paxos.Instance
	for q := 0; q < r.n; q++ {
		for s := r.gcUpTo[q] + 1; s <= r.rb.high[q]; s++ {
			id := paxos.Instance{Replica: paxos.NodeID(q), Slot: s}
			if in := r.inst[q][s]; (in == nil || in.status != StatusCommitted) && !r.forgotten(id) {
				out = append(out, id)
				if len(out) == maxMissing {
					return out
				}
			}
		}
	}
	return out
}

// forgotten reports whether no replica can still decide instance id, so a
// rebuild need not wait for its commit: peers that do not hold it (no record
// at all, or only a promise) leave too few replicas, this one included, to
// form a slow quorum, so it was never committed (every quorum is at least a
// slow quorum, and each member persisted its vote); and its command leader,
// the only replica that could drive it without knowing more, is this
// replica (which forgot it with its disk) or answered that it does not hold
// it either. A bound H[q] can name such an instance when a peer reported a
// placeholder (an instance known only as a dependency, never persisted) that
// it forgot in a restart. After the rebuild this replica's own recovery
// decides any placeholder it keeps (as a Nop when nobody knows the command).
func (r *Replica) forgotten(id paxos.Instance) bool {
	set := r.rb.unknownAt[id]
	return r.n-set.Len() < r.sq && (id.Replica == r.id || set.Has(int(id.Replica)))
}

// rebuildDone ends the rebuild once enough peers answered, a peer's state is
// installed and every instance up to the highest reported slots is
// committed here.
func (r *Replica) rebuildDone() {
	rb := r.rb
	if rb == nil || !rb.enough || !rb.installed || len(r.rebuildMissing()) > 0 {
		return
	}
	// Every slot of ours up to the highest one reported is held here,
	// decided or as a placeholder that recovery decides (one nobody holds
	// becomes a Nop), so that none is missing from the count of our
	// uncommitted instances that bounds the slots we may have led (see
	// "Its own slots" above).
	for s := r.gcUpTo[r.id] + 1; s <= rb.high[r.id]; s++ {
		if r.inst[r.id][s] == nil {
			r.get(paxos.Instance{Replica: r.id, Slot: s})
		}
	}
	r.nextSlot = max(r.nextSlot, rb.high[r.id]+1, r.gcUpTo[r.id]+1)
	r.reserved = max(r.reserved, max(rb.high[r.id], r.gcUpTo[r.id])+uint64(r.cfg.Window))
	r.rb = nil
	r.rebuilt = true
	// A snapshot makes the new slot counter durable (no slot of ours in
	// use before the loss is ever led again, even after a crash), and
	// the Done record after it ends the rebuild.
	r.rd.Snapshot = r.snapshot()
	r.rd.Persist = []any{RebuildRecord{Done: true}}
}
