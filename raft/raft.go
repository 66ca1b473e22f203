package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/kv"
	"github.com/paxos-lab/paxos/quorum"
)

// DefaultSnapshotEvery is how many applied log entries separate two
// snapshots when Config.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// maxSizePerMsg bounds the entries one append message carries (raft's
// MaxSizePerMsg): large enough to batch a burst, small enough to keep one
// message from holding up a link.
const maxSizePerMsg = 1 << 20

// ErrMalformed is wrapped by Step errors about messages that are not raft
// messages for this replica, or hold what no correct replica sends (see
// validate). It wraps paxos.ErrMalformed.
var ErrMalformed = fmt.Errorf("raft: %w", paxos.ErrMalformed)

// pend is a command proposed at this replica that has not executed here.
type pend struct {
	cmd       paxos.Command
	read      bool   // a Get waiting for a ReadIndex answer
	proposed  bool   // handed to raft (and not requeued since)
	at        uint64 // tick it was last handed to raft
	committed bool   // its commit was reported
}

// Replica is a replica running etcd's raft (a RawNode) behind the
// paxos.Replica contract. Build one with New.
type Replica struct {
	cfg     paxos.Config
	id      paxos.NodeID
	rn      *etcdraft.RawNode
	storage *etcdraft.MemoryStorage
	store   *kv.Executor
	rng     *rand.Rand
	voters  []uint64
	bug     bugs

	now          uint64
	elapsed      int // ticks since this replica last heard from a leader (not leading)
	timeout      int // election timeout drawn from [ElectionTicks, 2*ElectionTicks)
	state        etcdraft.StateType
	reported     etcdraft.StateType // the role the last raft Ready reported
	reportedLead uint64             // the leader the last raft Ready reported
	lead         uint64             // raft id of the leader this replica knows, 0 for none

	applied   uint64
	snapIndex uint64
	every     uint64
	snapDue   bool // a SnapshotRecord must be emitted in this Ready
	// snapTaken: the due snapshot is one this replica took
	// (takeSnapshot), and none was installed from a leader in this Ready.
	snapTaken bool
	// replaced is set when an append replaced entries of the log (a new
	// leader's entries conflicting with ours) and cleared by a snapshot
	// written in place: see backgroundSnapshot.
	replaced bool
	// snapState is the state of the snapshot at snapIndex when this
	// replica took it (takeSnapshot): raft's storage then holds that
	// snapshot without its data, and the state, shared with the store copy
	// on write, is encoded only where it is needed: by the storage that
	// persists the SnapshotRecord (SnapshotRecord.EncodeMsgpack), or for a
	// MsgSnap to a follower that is behind (fillSnapshot). Nil when the
	// snapshot's data is in raft's storage (installed or restored).
	snapState *State
	// sinceSnapCmds counts commands applied since the latest snapshot, and
	// snapKeys is how many keys the store held then (see takeSnapshot).
	sinceSnapCmds int
	snapKeys      int
	resend        uint64

	pending map[paxos.CommandID]*pend
	order   []paxos.CommandID // pending commands in proposal order (and some executed ones)
	queue   []paxos.CommandID // pending commands to hand to raft, in order

	reads map[paxos.CommandID]paxos.Command // ReadIndex requests in flight
	ready []readyRead                       // reads confirmed, waiting for their index to apply

	// The highest ReadIndex position (a heartbeat's context) this
	// replica's raft sent while leading term hbTerm: followers echo no
	// higher one, and raft slices its pending reads by it.
	hbTerm, hbCtx uint64
	// snapSent lists the followers a MsgSnap went to in the Ready being
	// handled; drain reports each as finished after Advance (see there).
	snapSent []uint64

	rb     *rebuild // non-nil while rebuilding after a lost disk
	noVote uint64   // the bound T of a finished rebuild: no vote at a term up to it

	cov    paxos.Coverage
	rd     paxos.Ready
	heldHS HardStateRecord // the lateHardState bug's record, persisted one Ready late
}

// readyRead is a read whose ReadIndex the leader confirmed.
type readyRead struct {
	index uint64
	cmd   paxos.Command
}

// New builds a raft replica. It refuses, with an error wrapping
// paxos.ErrConfig, quorum systems other than majorities, a heartbeat
// interval not below the election timeout, and Config.Rebuild at N = 1.
// With Config.Rebuild it starts as a non-voting member (see the package
// documentation, "Lost disks").
func New(cfg paxos.Config) (paxos.Replica, error) {
	return newReplica(cfg, bugs{})
}

func newReplica(cfg paxos.Config, bug bugs) (*Replica, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Quorums != nil {
		if _, ok := cfg.Quorums.(quorum.Majority); !ok {
			return nil, fmt.Errorf("%w: raft uses majority quorums, got %s; leave the quorum system unset", paxos.ErrConfig, cfg.Quorums)
		}
	}
	if cfg.HeartbeatTicks >= cfg.ElectionTicks {
		return nil, fmt.Errorf("%w: HeartbeatTicks=%d must be below ElectionTicks=%d", paxos.ErrConfig, cfg.HeartbeatTicks, cfg.ElectionTicks)
	}
	r := &Replica{
		cfg:     cfg,
		id:      cfg.ID,
		storage: etcdraft.NewMemoryStorage(),
		store:   kv.NewExecutor(cfg),
		rng:     cfg.Rand(),
		bug:     bug,
		pending: map[paxos.CommandID]*pend{},
		reads:   map[paxos.CommandID]paxos.Command{},
		cov:     paxos.Coverage{},
		resend:  uint64(4 * cfg.ElectionTicks),
	}
	switch {
	case cfg.SnapshotEvery == 0:
		r.every = DefaultSnapshotEvery
	case cfg.SnapshotEvery > 0:
		r.every = uint64(cfg.SnapshotEvery)
	}
	for i := 1; i <= cfg.N; i++ {
		r.voters = append(r.voters, uint64(i))
	}
	rebuildRec, err := r.restore(cfg.Restore)
	if err != nil {
		return nil, fmt.Errorf("%w: raft replica %d: %w", paxos.ErrConfig, cfg.ID, err)
	}
	rn, err := etcdraft.NewRawNode(&etcdraft.Config{
		ID:                        uint64(cfg.ID) + 1,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   r.storage,
		Applied:                   r.applied,
		MaxSizePerMsg:             maxSizePerMsg,
		MaxInflightMsgs:           cfg.Window,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            etcdraft.ReadOnlySafe,
		Logger:                    quiet{},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: raft replica %d: %w", paxos.ErrConfig, cfg.ID, err)
	}
	r.rn = rn
	st := rn.BasicStatus()
	r.state, r.lead = st.RaftState, st.Lead
	r.resetTimer()
	if err := r.startRebuild(rebuildRec); err != nil {
		return nil, err
	}
	if cfg.Restore == nil && cfg.InitialLeader == cfg.ID && r.rb == nil {
		r.campaign()
	}
	return r, nil
}

// restore rebuilds the storage and the key-value store from what the
// replica persisted (nil: a new replica with the voters in its ConfState).
// It returns the latest rebuild record restored, if any.
func (r *Replica) restore(p *paxos.Persisted) (*RebuildRecord, error) {
	cs := &pb.ConfState{Voters: r.voters}
	if err := r.storage.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: cs}}); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, nil
	}
	var hs HardStateRecord
	var rb *RebuildRecord
	apply := func(rec any) error {
		switch rec := rec.(type) {
		case SnapshotRecord:
			r.storage = etcdraft.NewMemoryStorage()
			snap := &pb.Snapshot{Data: rec.Data, Metadata: &pb.SnapshotMetadata{ConfState: cs, Index: new(rec.Index), Term: new(rec.Term)}}
			if err := r.storage.ApplySnapshot(snap); err != nil {
				return err
			}
			r.snapState = nil
			if rec.state != nil && len(rec.Data) == 0 {
				// A record kept unencoded (by a simulator, say): its state
				// is the store's, shared copy on write.
				store, err := kv.ExecutorFromSnapshot(r.cfg, rec.state.KV)
				if err != nil {
					return err
				}
				r.store, r.snapState = store, rec.state
			} else if err := r.installState(rec.Data); err != nil {
				return err
			}
			r.applied, r.snapIndex = rec.Index, rec.Index
			hs, rb = rec.HardState, rec.Rebuild
			return r.appendEntries(rec.Entries)
		case HardStateRecord:
			hs = rec
		case EntriesRecord:
			return r.appendEntries(rec.Entries)
		case RebuildRecord:
			rb = &rec
		default:
			return fmt.Errorf("unexpected persisted record %T", rec)
		}
		return nil
	}
	if p.Snapshot != nil {
		if err := apply(p.Snapshot); err != nil {
			return nil, err
		}
	}
	for _, rec := range p.Records {
		if err := apply(rec); err != nil {
			return nil, err
		}
	}
	last, _ := r.storage.LastIndex()
	if hs.Commit > last {
		return nil, fmt.Errorf("persisted commit index %d beyond the last persisted entry %d: the records are incomplete", hs.Commit, last)
	}
	if hs.Commit < r.snapIndex {
		hs.Commit = r.snapIndex
	}
	if r.bug.appliedFromCommit {
		r.applied = hs.Commit
	}
	return rb, r.storage.SetHardState(&pb.HardState{Term: new(hs.Term), Vote: new(hs.Vote), Commit: new(hs.Commit)})
}

// appendEntries appends persisted entries to the storage; an entry at an
// index already held replaces it and every later one.
func (r *Replica) appendEntries(es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	first, _ := r.storage.FirstIndex()
	last, _ := r.storage.LastIndex()
	if es[0].Index > last+1 {
		return fmt.Errorf("persisted entries start at %d, after the last persisted entry %d", es[0].Index, last)
	}
	ents := make([]*pb.Entry, 0, len(es))
	for i, e := range es {
		if i > 0 && e.Index != es[i-1].Index+1 {
			return fmt.Errorf("persisted entries skip from %d to %d", es[i-1].Index, e.Index)
		}
		if e.Index < first {
			continue // covered by the snapshot
		}
		ents = append(ents, toPB(e))
	}
	return r.storage.Append(ents)
}

func toPB(e Entry) *pb.Entry {
	return &pb.Entry{Term: new(e.Term), Index: new(e.Index), Type: pb.EntryType(e.Type).Enum(), Data: e.Data}
}

func fromPB(e *pb.Entry) Entry {
	return Entry{Term: e.GetTerm(), Index: e.GetIndex(), Type: int32(e.GetType()), Data: e.GetData()}
}

// installState replaces the key-value store with an encoded State.
func (r *Replica) installState(data []byte) error {
	if len(data) == 0 {
		r.store = kv.NewExecutor(r.cfg)
		return nil
	}
	v, err := paxos.Decode(data)
	if err != nil {
		return err
	}
	st, ok := v.(State)
	if !ok {
		return fmt.Errorf("snapshot holds %T, want raft.State", v)
	}
	store, err := kv.ExecutorFromSnapshot(r.cfg, st.KV)
	if err != nil {
		return err
	}
	r.store = store
	return nil
}

// ---- paxos.Replica ----

// ID implements paxos.Replica.
func (r *Replica) ID() paxos.NodeID { return r.id }

// Leader returns the leader this replica knows, or -1.
func (r *Replica) Leader() paxos.NodeID { return paxos.NodeID(r.lead) - 1 }

// IsLeader reports whether this replica is raft's leader.
func (r *Replica) IsLeader() bool { return r.state == etcdraft.StateLeader }

// LeaderTerm implements paxos.ElectionReporter: the term this replica
// leads, when it leads.
func (r *Replica) LeaderTerm() (uint64, bool) {
	if r.state != etcdraft.StateLeader {
		return 0, false
	}
	return r.Term(), true
}

// Term returns the replica's current raft term.
func (r *Replica) Term() uint64 { return r.rn.BasicStatus().GetTerm() }

// Applied returns the index of the last log entry applied to the store.
func (r *Replica) Applied() uint64 { return r.applied }

// ExecutedPrefix implements paxos.Converger: the index of the last log entry
// applied to the store.
func (r *Replica) ExecutedPrefix() uint64 { return r.applied }

// Coverage implements paxos.CoverageReporter.
func (r *Replica) Coverage() paxos.Coverage {
	out := paxos.Coverage{}
	out.Add(r.cov)
	return out
}

// Propose implements paxos.Replica.
func (r *Replica) Propose(cmd paxos.Command) {
	if err := r.store.Check(&cmd); err != nil {
		r.rd.Executed = append(r.rd.Executed, paxos.Refused(&cmd, err))
		return
	}
	if cmd.IsNop() {
		r.proposeNow([]paxos.Command{cmd})
		return
	}
	id := cmd.ID()
	if r.store.Done(&cmd) { // a retry of an executed command
		ex, _ := r.store.Executed(&cmd)
		r.rd.Executed = append(r.rd.Executed, ex)
		return
	}
	if _, ok := r.pending[id]; ok {
		return // already on its way; a retry adds nothing
	}
	if !cmd.Writes() && r.cfg.LeaseTicks > 0 {
		if r.bug.readUnconfirmed && r.state == etcdraft.StateLeader {
			r.rd.Executed = append(r.rd.Executed, r.store.Read(&cmd))
			return
		}
		r.readIndex(cmd)
		return
	}
	r.pending[id] = &pend{cmd: cmd}
	r.order = append(r.order, id)
	r.queue = append(r.queue, id)
}

// readIndex serves a Get by raft's ReadIndex: the leader confirms with a
// heartbeat round that a quorum still follows it, and the replica answers
// once it has applied the commit index the leader had then. The request's
// context is the command's (client, seq), not a counter of this
// incarnation: an answer to a request sent before a crash can then only
// answer the same operation, whose call preceded that request.
func (r *Replica) readIndex(cmd paxos.Command) {
	id := cmd.ID()
	r.reads[id] = cmd
	r.pending[id] = &pend{cmd: cmd, read: true, proposed: true, at: r.now}
	r.order = append(r.order, id)
	var ctx [16]byte
	binary.BigEndian.PutUint64(ctx[:8], id.Client)
	binary.BigEndian.PutUint64(ctx[8:], id.Seq)
	r.cov["read-index"]++
	r.rn.ReadIndex(ctx[:])
}

func (r *Replica) proposeNow(cmds []paxos.Command) bool {
	data, err := paxos.Encode(Batch{Cmds: cmds})
	if err != nil {
		return false
	}
	return r.rn.Propose(data) == nil
}

// flush hands queued commands to raft, Batch commands an entry, while a
// leader is known (raft drops proposals otherwise).
func (r *Replica) flush() {
	if r.lead == 0 || len(r.queue) == 0 {
		return
	}
	i := 0
	for i < len(r.queue) {
		var cmds []paxos.Command
		var ids []paxos.CommandID
		j := i
		for ; j < len(r.queue) && len(cmds) < r.cfg.Batch; j++ {
			p := r.pending[r.queue[j]]
			if p == nil || p.proposed {
				continue
			}
			cmds = append(cmds, p.cmd)
			ids = append(ids, r.queue[j])
		}
		if len(cmds) > 0 && !r.proposeNow(cmds) {
			break
		}
		for _, id := range ids {
			p := r.pending[id]
			p.proposed, p.at = true, r.now
		}
		i = j
	}
	r.queue = r.queue[:copy(r.queue, r.queue[i:])]
}

// requeue hands pending commands to raft again: all of them after a
// leader change, or those that have not executed for a while (a proposal
// forwarded to a leader that failed, or an entry a new leader overwrote, is
// lost). Execution deduplicates the copies. A Get whose ReadIndex got no
// answer goes through the log instead.
func (r *Replica) requeue(stale func(p *pend) bool) {
	out := r.order[:0]
	for _, id := range r.order {
		p := r.pending[id]
		if p == nil {
			continue
		}
		out = append(out, id)
		if p.proposed && stale(p) {
			if p.read {
				delete(r.reads, id)
			}
			p.read, p.proposed = false, false
			r.queue = append(r.queue, id)
			r.cov["reproposals"]++
		}
	}
	r.order = out
}

// Tick implements paxos.Replica. Only a leader's RawNode is ticked (it
// sends heartbeats and checks its quorum); a replica that does not lead
// runs its own election timer, drawn from the replica's seeded source, and
// calls Campaign when it expires (see the package documentation).
func (r *Replica) Tick() {
	r.now++
	// The role is read from raft itself, not from the last Ready: a
	// leader's tick can make it step down (CheckQuorum), and the next tick
	// may come before any Ready.
	st := r.rn.BasicStatus()
	r.state, r.lead = st.RaftState, st.Lead
	switch {
	case r.rb != nil:
		r.rebuildTick()
	case r.state == etcdraft.StateLeader:
		r.rn.Tick()
	default:
		r.elapsed++
		if r.elapsed >= r.timeout {
			r.campaign()
		}
	}
	if r.now%uint64(r.cfg.RetryTicks) == 0 && len(r.pending) > 0 {
		r.requeue(func(p *pend) bool { return r.now-p.at >= r.resend })
	}
}

func (r *Replica) resetTimer() {
	r.elapsed = 0
	e := r.cfg.ElectionTicks
	r.timeout = e + r.rng.IntN(e)
}

func (r *Replica) campaign() {
	r.resetTimer()
	r.cov["campaigns"]++
	_ = r.rn.Campaign()
}

// Step implements paxos.Replica. A message no correct replica sends is
// refused with an error wrapping ErrMalformed (and paxos.ErrMalformed),
// counted under paxos.CoverageRefused, before raft sees it.
func (r *Replica) Step(msg paxos.Message) error {
	var m *pb.Message
	err := r.checkSender(msg)
	if err == nil {
		var done bool
		if done, err = r.rebuildMessage(msg); done && err == nil {
			return nil
		}
	}
	if err == nil {
		m, err = r.decode(msg)
	}
	if errors.Is(err, errStaleProgress) || (err == nil && !r.admits(m)) {
		r.cov["rebuild-dropped"]++
		return nil
	}
	if err != nil {
		r.cov[paxos.CoverageRefused]++
		return fmt.Errorf("%w: raft replica %d: %w", ErrMalformed, r.id, err)
	}
	return r.step(msg, m)
}

// checkSender checks a message's envelope: addressed to this replica, from
// another replica of the cluster.
func (r *Replica) checkSender(msg paxos.Message) error {
	if msg.To != r.id {
		return fmt.Errorf("addressed to %d", msg.To)
	}
	if msg.From < 0 || int(msg.From) >= r.cfg.N || msg.From == r.id {
		return fmt.Errorf("from %d, want another replica of 0..%d", msg.From, r.cfg.N-1)
	}
	return nil
}

// decode unwraps a raft message and validates it (see validate). It first
// hands raft's pending Ready to the storage, so that validate sees raft's
// whole log.
func (r *Replica) decode(msg paxos.Message) (*pb.Message, error) {
	body, ok := msg.Body.(Msg)
	if !ok {
		return nil, fmt.Errorf("body %T, want raft.Msg", msg.Body)
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(body.Data, m); err != nil {
		return nil, err
	}
	// A follower forwards a proposal or a read to the leader it knows
	// keeping the request's sender, so one forwarded twice (its first
	// leader had lost the lead) names its origin, perhaps this replica.
	forwarded := m.GetType() == pb.MsgProp || m.GetType() == pb.MsgReadIndex
	if (m.GetFrom() != uint64(msg.From)+1 && (!forwarded || m.GetFrom() == 0 || m.GetFrom() > uint64(r.cfg.N))) || m.GetTo() != uint64(r.id)+1 {
		return nil, fmt.Errorf("%s from raft id %d to %d in an envelope from %d to %d", m.GetType(), m.GetFrom(), m.GetTo(), msg.From, msg.To)
	}
	r.drain()
	if err := r.validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (r *Replica) step(msg paxos.Message, m *pb.Message) error {
	before := r.rn.BasicStatus()
	if err := r.rn.Step(m); err != nil && !errors.Is(err, etcdraft.ErrProposalDropped) {
		return fmt.Errorf("raft replica %d: step %s from %d: %w", r.id, m.GetType(), msg.From, err)
	}
	if r.bug.commitNoTermCheck && (m.GetType() == pb.MsgApp || m.GetType() == pb.MsgHeartbeat) {
		// The planted bug: the commit index is trusted for whatever this
		// replica holds at those indexes.
		r.drain()
		last, _ := r.storage.LastIndex()
		if to := min(m.GetCommit(), last); to > r.applied {
			if ents, err := r.storage.Entries(r.applied+1, to+1, ^uint64(0)); err == nil {
				r.apply(ents)
			}
		}
	}
	after := r.rn.BasicStatus()
	r.state, r.lead = after.RaftState, after.Lead
	if after.RaftState == etcdraft.StateLeader {
		return nil
	}
	// Reset the election timer whenever raft resets its own election
	// clock: a change of term or role, a message from the current leader,
	// a vote granted.
	t := m.GetType()
	switch {
	case after.GetTerm() != before.GetTerm() || after.RaftState != before.RaftState:
		r.resetTimer()
	case (t == pb.MsgApp || t == pb.MsgHeartbeat || t == pb.MsgSnap) && m.GetTerm() == after.GetTerm() && after.Lead == m.GetFrom():
		r.resetTimer()
	case t == pb.MsgVote && m.GetTerm() == after.GetTerm() && after.GetVote() == m.GetFrom():
		r.resetTimer()
	}
	return nil
}

// Ready implements paxos.Replica.
func (r *Replica) Ready() paxos.Ready {
	for round := 0; round < 2; round++ {
		r.flush()
		r.drain()
	}
	r.rebuildDone()
	if r.snapDue {
		r.snapDue = false
		rec := r.record()
		if r.backgroundSnapshot() {
			rec.background = true // this Ready's records follow it
		} else {
			r.rd.Persist = nil // the snapshot record holds all of it
			r.replaced = false
		}
		r.snapTaken = false
		r.rd.Snapshot = rec
	}
	out := r.rd
	r.rd = paxos.Ready{}
	return out
}

// drain carries out raft's pending Readys; what they persist, send and
// execute waits in r.rd for the replica's next Ready.
func (r *Replica) drain() {
	for n := 0; n < 64 && r.rn.HasReady(); n++ {
		rd := r.rn.Ready()
		r.handle(rd)
		r.rn.Advance(rd)
		// A leader that sent a snapshot pauses that follower until told
		// how the send ended; the network may lose it, and nothing would
		// resume the follower then. Report every send as finished: the
		// leader probes again, and sends a new snapshot if the follower
		// did not install this one.
		for _, to := range r.snapSent {
			r.rn.ReportSnapshot(to, etcdraft.SnapshotFinish)
		}
		r.snapSent = r.snapSent[:0]
	}
}

// handle carries out one raft Ready: install its snapshot, persist its
// entries and HardState, queue its messages, apply its committed entries,
// answer confirmed reads.
func (r *Replica) handle(rd etcdraft.Ready) {
	if ss := rd.SoftState; ss != nil {
		if ss.RaftState == etcdraft.StateLeader && r.reported != etcdraft.StateLeader {
			r.cov["leader-terms"]++
		}
		r.reported = ss.RaftState
		if ss.RaftState != r.state {
			r.resetTimer()
		}
		r.state, r.lead = ss.RaftState, ss.Lead
		if ss.Lead != r.reportedLead && ss.Lead != 0 && len(r.pending) > 0 {
			r.requeue(func(*pend) bool { return true })
		}
		r.reportedLead = ss.Lead
	}
	if snap := rd.Snapshot; snap != nil && !etcdraft.IsEmptySnap(snap) {
		r.installSnapshot(snap)
	}
	if len(rd.Entries) > 0 {
		if last, _ := r.storage.LastIndex(); rd.Entries[0].GetIndex() <= last {
			r.replaced = true
		}
		_ = r.storage.Append(rd.Entries)
		if !r.bug.noPersistEntries {
			rec := EntriesRecord{Entries: make([]Entry, len(rd.Entries))}
			for i, e := range rd.Entries {
				rec.Entries[i] = fromPB(e)
			}
			r.rd.Persist = append(r.rd.Persist, rec)
		}
	}
	if hs := rd.HardState; hs != nil && !etcdraft.IsEmptyHardState(hs) {
		_ = r.storage.SetHardState(hs)
		rec := hardState(hs)
		if r.bug.lateHardState {
			// persisted one Ready late, after the messages that depend on it
			rec, r.heldHS = r.heldHS, rec
		}
		if rec != (HardStateRecord{}) {
			r.rd.Persist = append(r.rd.Persist, rec)
		}
	}
	for _, m := range rd.Messages {
		if m.GetType() == pb.MsgHeartbeat && len(m.GetContext()) == hbCtxLen {
			if m.GetTerm() != r.hbTerm {
				r.hbTerm, r.hbCtx = m.GetTerm(), 0
			}
			r.hbCtx = max(r.hbCtx, binary.LittleEndian.Uint64(m.GetContext()))
		}
		if m.GetType() == pb.MsgSnap {
			r.fillSnapshot(m)
			r.snapSent = append(r.snapSent, m.GetTo())
		}
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			continue
		}
		r.rd.Messages = append(r.rd.Messages, paxos.Message{From: r.id, To: paxos.NodeID(m.GetTo()) - 1, Body: Msg{Data: data}})
	}
	if r.bug.applyOnAppend {
		r.apply(rd.Entries)
	}
	r.apply(rd.CommittedEntries)
	for _, rs := range rd.ReadStates {
		if len(rs.RequestCtx) != 16 {
			continue
		}
		id := paxos.CommandID{Client: binary.BigEndian.Uint64(rs.RequestCtx[:8]), Seq: binary.BigEndian.Uint64(rs.RequestCtx[8:])}
		if cmd, ok := r.reads[id]; ok {
			delete(r.reads, id)
			r.ready = append(r.ready, readyRead{index: rs.Index, cmd: cmd})
		}
	}
	r.answerReads()
}

func hardState(hs *pb.HardState) HardStateRecord {
	return HardStateRecord{Term: hs.GetTerm(), Vote: hs.GetVote(), Commit: hs.GetCommit()}
}

// apply executes committed entries on the store, reporting decisions,
// commits of this replica's proposals and executions.
func (r *Replica) apply(ents []*pb.Entry) {
	for _, e := range ents {
		idx := e.GetIndex()
		if idx <= r.applied {
			continue
		}
		r.applied = idx
		if e.GetType() != pb.EntryNormal {
			continue // no configuration changes are proposed
		}
		cmds := []paxos.Command{{Op: paxos.OpNop}}
		if len(e.GetData()) > 0 {
			v, err := paxos.Decode(e.GetData())
			b, ok := v.(Batch)
			if err != nil || !ok {
				continue // never proposed by this package
			}
			cmds = b.Cmds
		}
		r.rd.Decided = append(r.rd.Decided, paxos.Decision{Instance: paxos.Instance{Replica: 0, Slot: idx}, Commands: cmds})
		if len(e.GetData()) == 0 {
			continue
		}
		for _, c := range cmds {
			if p := r.pending[c.ID()]; p != nil && c.Client != 0 {
				if !p.committed {
					r.rd.Committed = append(r.rd.Committed, paxos.Commit{ID: c.ID(), Path: paxos.PathClassic})
				}
				delete(r.pending, c.ID())
			}
			r.rd.Executed = append(r.rd.Executed, r.store.Apply(&c))
			r.sinceSnapCmds++
		}
	}
	if len(r.order) > 2*len(r.pending)+16 {
		r.requeue(func(*pend) bool { return false })
	}
	if r.every > 0 && r.applied-r.snapIndex >= r.every && r.sinceSnapCmds >= r.snapKeys {
		r.takeSnapshot()
	}
}

// answerReads answers confirmed reads whose index has been applied.
func (r *Replica) answerReads() {
	out := r.ready[:0]
	for _, rr := range r.ready {
		p := r.pending[rr.cmd.ID()]
		if p == nil || !p.read {
			continue // answered meanwhile, or sent through the log
		}
		if rr.index > r.applied+r.readSlack() && !r.bug.readBeforeApplied {
			out = append(out, rr)
			continue
		}
		delete(r.pending, rr.cmd.ID())
		r.rd.Executed = append(r.rd.Executed, r.store.Read(&rr.cmd))
	}
	r.ready = out
}

// takeSnapshot snapshots the store at the applied index and compacts the
// log up to the previous snapshot, so lagging followers can still catch up
// from the log for one interval. A snapshot costs time in proportion to
// the store, so one is taken after SnapshotEvery applied entries once at
// least as many commands applied since the last one as the store held
// keys then: the cost per command stays bounded however much the store
// holds.
// Nothing is encoded here, on the event loop: the store's data is shared
// with the snapshot copy on write (see snapState).
func (r *Replica) takeSnapshot() {
	kvs := r.store.Snapshot()
	if r.bug.snapshotDropsDedup {
		kvs.Sessions = nil
	}
	prev := r.snapIndex
	if _, err := r.storage.CreateSnapshot(r.applied, &pb.ConfState{Voters: r.voters}, nil); err != nil {
		return
	}
	// Compact up to the previous snapshot, keeping at most every entries
	// for followers that catch up from the log (one interval may hold as
	// many commands as the store holds keys).
	if c := max(prev, r.applied-min(r.applied, r.every)); c > 0 {
		_ = r.storage.Compact(c)
	}
	r.snapState = &State{KV: kvs}
	r.snapIndex = r.applied
	r.sinceSnapCmds, r.snapKeys = 0, r.store.Len()
	r.snapTaken = r.snapTaken || !r.snapDue
	r.snapDue = true
	r.cov["snapshots"]++
}

// backgroundSnapshot reports whether the snapshot due in this Ready may be
// written in the background (SnapshotRecord.BackgroundSnapshot). Its Ready
// then keeps its records, which the storage writes after the snapshot:
// until the snapshot is on disk, a crash leaves the previous snapshot and
// every record since, the state of a replica that never took it. Once it
// is on disk, restore replays after it the records of its Ready and, when
// a node persists several Readys in one Append, those of the Readys before
// it in that Append; all were emitted since the last snapshot written in
// place. Replaying them gives the state the snapshot alone gives:
//
//   - HardStateRecord: each replaces the HardState, and the last is raft's
//     HardState when the snapshot record was made, the one it holds. (Not
//     so with the lateHardState bug, whose records run one Ready behind:
//     its snapshots are written in place.)
//   - EntriesRecord: with replaced unset, every append since the last
//     snapshot written in place started just after the log's last entry
//     (handle sets replaced otherwise), so the records are consecutive
//     pieces A1..Ak of the log L the snapshot holds, and Ak ends at L's
//     last entry. Restore skips entries at or below the snapshot's index
//     (they are in its state). A piece that reaches past that index
//     replaces L's entries from its first one above the index on, which
//     leaves L cut after the piece's last entry; the next piece starts
//     right after it (so restore's check that no piece starts past the
//     log's end holds) and puts back what follows. After Ak the log is L
//     again; if no piece reaches past the index, nothing changed. The
//     commit index of the last HardState is within L, as it was.
//   - RebuildRecord: there is none: a snapshot whose Ready carries one, or
//     taken while rebuilding, is written in place.
//
// Why an append that replaced entries rules it out: such an append ends
// where the new leader's log ends, possibly at or below the snapshot's
// index, and cut off every entry the log held past its end. Restore skips
// an append wholly at or below the snapshot's index, so an earlier record's
// entries past that index, which it had cut off, would come back. The
// next snapshot written in place clears replaced. Snapshots installed from
// a leader hold a state that no record holds and are written in place too.
func (r *Replica) backgroundSnapshot() bool {
	if !r.snapTaken || r.replaced || r.rb != nil || r.bug.lateHardState {
		return false
	}
	for _, rec := range r.rd.Persist {
		if _, ok := rec.(RebuildRecord); ok {
			return false
		}
	}
	return true
}

// fillSnapshot gives a MsgSnap for the snapshot this replica took (whose
// data raft's storage does not hold; see snapState) its encoded state.
func (r *Replica) fillSnapshot(m *pb.Message) {
	s := m.GetSnapshot()
	if s == nil || len(s.GetData()) > 0 || r.snapState == nil || s.GetMetadata().GetIndex() != r.snapIndex {
		return
	}
	data, err := paxos.Encode(*r.snapState)
	if err != nil {
		return
	}
	m.Snapshot = &pb.Snapshot{Data: data, Metadata: s.GetMetadata()}
}

// installSnapshot installs a snapshot the leader sent.
func (r *Replica) installSnapshot(snap *pb.Snapshot) {
	if err := r.storage.ApplySnapshot(snap); err != nil {
		return
	}
	if err := r.installState(snap.GetData()); err != nil {
		return
	}
	idx := snap.GetMetadata().GetIndex()
	r.applied, r.snapIndex = idx, idx
	r.snapState, r.sinceSnapCmds = nil, 0
	r.snapDue, r.snapTaken = true, false
	r.cov["snapshot-installs"]++
	// Proposals of ours the snapshot executed: report their outputs.
	for _, id := range r.order {
		p := r.pending[id]
		if p == nil || p.read {
			continue
		}
		if ex, done := r.store.Executed(&p.cmd); done {
			r.rd.Executed = append(r.rd.Executed, ex)
			delete(r.pending, id)
		}
	}
}

// record returns the replica's whole durable state as a SnapshotRecord.
func (r *Replica) record() SnapshotRecord {
	snap, _ := r.storage.Snapshot()
	hs, _, _ := r.storage.InitialState()
	rec := SnapshotRecord{
		HardState: hardState(hs),
		Index:     snap.GetMetadata().GetIndex(),
		Term:      snap.GetMetadata().GetTerm(),
		Voters:    r.voters,
		Data:      snap.GetData(),
		Rebuild:   r.rebuildRecord(),
	}
	if len(rec.Data) == 0 && r.snapState != nil && rec.Index == r.snapIndex {
		rec.state = r.snapState // encoded with the record, by whoever persists it
	}
	last, _ := r.storage.LastIndex()
	if last > rec.Index {
		ents, err := r.storage.Entries(rec.Index+1, last+1, ^uint64(0))
		if err == nil {
			for _, e := range ents {
				rec.Entries = append(rec.Entries, fromPB(e))
			}
		}
	}
	return rec
}

// quiet is raft's logger: the replica logs nothing (drivers log what it
// reports); raft's panics still panic.
type quiet struct{}

func (quiet) Debug(...any)              {}
func (quiet) Debugf(string, ...any)     {}
func (quiet) Error(...any)              {}
func (quiet) Errorf(string, ...any)     {}
func (quiet) Info(...any)               {}
func (quiet) Infof(string, ...any)      {}
func (quiet) Warning(...any)            {}
func (quiet) Warningf(string, ...any)   {}
func (quiet) Fatal(v ...any)            { panic(fmt.Sprint(v...)) }
func (quiet) Fatalf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
func (quiet) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (quiet) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
