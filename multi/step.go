package multi

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

// Propose implements paxos.Replica.
func (r *Replica) Propose(cmd paxos.Command) {
	if err := r.store.Check(&cmd); err != nil {
		r.rd.Executed = append(r.rd.Executed, paxos.Refused(&cmd, err))
		return
	}
	if !cmd.IsNop() && !cmd.Writes() && r.canReadLocally() {
		r.rd.Executed = append(r.rd.Executed, r.store.Read(&cmd))
		return
	}
	id := cmd.ID()
	if !cmd.IsNop() && cmd.Client != 0 {
		if r.store.Done(&cmd) { // a retry of an executed command
			ex, _ := r.store.Executed(&cmd)
			r.rd.Executed = append(r.rd.Executed, ex)
			return
		}
		if r.pending.get(id) != nil {
			// A client retry of a command still pending here: it is
			// already queued, held or forwarded (and re-forwarded if it
			// gets lost), so sending it again would only add load.
			return
		}
		r.pending.add(id, proposal{cmd: cmd, sentAt: r.now})
		if r.role == follower {
			r.held = append(r.held, id)
			return
		}
	}
	switch {
	case r.role != follower:
		r.waiting = append(r.waiting, cmd)
	case r.leader >= 0 && r.leader != r.id:
		r.send(r.leader, Forward{Cmds: []paxos.Command{cmd}})
	}
}

// pump forwards held proposals to the leader while fewer than fwdCap
// forwarded ones are unexecuted. This is the follower's flow control: an
// overloaded leader pays CPU for every command it receives, so forwarding
// faster than it commits only queues commands in front of the Accepted
// replies it needs to commit, and its throughput collapses. Held, the
// backlog waits here instead. The credit, max(Window, Batch) commands, lets
// one follower fill the leader's window at one command per slot; when the
// leader batches, credits come back a batch at a time and one Forward
// carries the held commands they allow, so the leader pays one message for
// many commands.
func (r *Replica) pump() {
	if r.role != follower || r.leader < 0 || r.leader == r.id || len(r.held) == 0 {
		return
	}
	var cmds []paxos.Command
	if r.fwd < r.fwdCap {
		cmds = make([]paxos.Command, 0, min(len(r.held), r.fwdCap-r.fwd))
	}
	i := 0
	for ; i < len(r.held) && r.fwd < r.fwdCap; i++ {
		id := r.held[i]
		p := r.pending.get(id)
		if p == nil || p.forwarded {
			continue
		}
		if ex, done := r.store.Executed(&p.cmd); done {
			// executed meanwhile, e.g. retried by its client elsewhere
			r.rd.Executed = append(r.rd.Executed, ex)
			r.pending.remove(id)
			continue
		}
		p.forwarded, p.sentAt = true, r.now
		r.fwd++
		cmds = append(cmds, p.cmd)
	}
	if i == len(r.held) {
		r.held = r.held[:0]
	} else {
		r.held = r.held[:copy(r.held, r.held[i:])]
	}
	if len(cmds) > 0 {
		r.send(r.leader, Forward{Cmds: cmds})
	}
}

// unforward forgets which proposals were forwarded (to a leader that is
// gone) and holds them all again, in proposal order.
func (r *Replica) unforward() {
	r.fwd = 0
	r.held = r.held[:0]
	r.pending.each(func(id paxos.CommandID, p *proposal) {
		p.forwarded = false
		r.held = append(r.held, id)
	})
}

// Tick implements paxos.Replica.
func (r *Replica) Tick() {
	r.now++
	if r.rb != nil {
		r.rebuildTick()
		return
	}
	switch r.role {
	case leader:
		r.hbElapsed++
		if r.hbElapsed >= r.cfg.HeartbeatTicks {
			r.hbElapsed = 0
			r.heartbeat()
		}
		r.retransmit()
		r.choosePhase2()
		r.flush(true)
	case candidate:
		r.electionElapsed++
		if r.electionElapsed >= r.electionTimeout {
			r.startElection()
		} else if r.now-r.prepareAt >= uint64(r.cfg.RetryTicks) {
			r.prepareAt = r.now
			p := Prepare{Ballot: r.ballot, Commit: r.executed}
			for _, id := range r.others {
				if !r.promises.Has(int(id)) {
					r.send(id, p)
				}
			}
		}
	case follower:
		r.electionElapsed++
		if r.electionElapsed >= r.electionTimeout && !r.leaseHeld() {
			r.startElection()
		}
		r.resendPending()
	}
}

// Ready implements paxos.Replica.
func (r *Replica) Ready() paxos.Ready {
	r.pump()
	r.flush(false)
	rd := r.rd
	if rd.Empty() && !r.bug.persistAfterReply {
		return paxos.Ready{} // r.rd keeps its empty lists for the next one
	}
	r.rd = paxos.Ready{}
	if r.bug.persistAfterReply {
		r.rd.Persist, r.bug.held = r.bug.held, nil
	}
	r.spares.Fill(&r.rd)
	return rd
}

// RecycleReady takes back the lists of a Ready its caller has carried out
// and will not touch again, for later Readies to reuse (node.Node calls
// it; see internal/readypool). What the replica decides does not depend on
// whether it is called.
func (r *Replica) RecycleReady(rd *paxos.Ready) { r.spares.Put(rd) }

// Step implements paxos.Replica. A refused message (an error wrapping
// paxos.ErrMalformed) is counted under paxos.CoverageRefused.
func (r *Replica) Step(msg paxos.Message) error {
	err := r.step(msg)
	if err != nil {
		r.cov.refused++
	}
	return err
}

func (r *Replica) step(msg paxos.Message) error {
	if msg.To != r.id {
		return fmt.Errorf("%w: addressed to %d, this is replica %d", paxos.ErrMalformed, msg.To, r.id)
	}
	if msg.From < 0 || int(msg.From) >= r.n || msg.From == r.id {
		return fmt.Errorf("%w: sender %d is not another replica of 0..%d", paxos.ErrMalformed, msg.From, r.n-1)
	}
	from := msg.From
	if err := r.checkBallots(from, msg.Body); err != nil {
		return err
	}
	r.heard[from] = r.now
	if handled, err := r.rebuildStep(from, msg.Body); handled {
		return err
	}
	switch m := msg.Body.(type) {
	case Prepare:
		return r.onPrepare(from, m)
	case Promise:
		return r.onPromise(from, m)
	case Accept:
		return r.onAccept(from, m)
	case Accepted:
		r.onAccepted(from, m)
	case Commit:
		return r.onCommit(from, m)
	case Chosen:
		return r.onChosen(from, m)
	case Nack:
		r.onNack(m)
	case Heartbeat:
		return r.onHeartbeat(from, m)
	case HeartbeatReply:
		r.onHeartbeatReply(from, m)
	case Forward:
		return r.onForward(from, m)
	case CatchUp:
		return r.onCatchUp(from, m)
	case InstallSnapshot:
		r.onInstallSnapshot(from, m)
	default:
		return fmt.Errorf("%w: unexpected body %T from %d", paxos.ErrMalformed, msg.Body, from)
	}
	return nil
}
