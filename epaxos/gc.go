package epaxos

import (
	"github.com/paxos-lab/paxos"
)

func (r *Replica) onWatermark(from paxos.NodeID, m Watermark) {
	pe, stuck := r.peerExec[from], r.peerStuck[from]
	patience := uint64(2 * r.cfg.RetryTicks)
	for q := range pe {
		// A peer's watermark is trusted no further than this replica's
		// horizon: a lower watermark only delays garbage collection.
		switch e := min(m.Executed[q], r.horizon(paxos.NodeID(q))); {
		case e > pe[q]:
			pe[q], stuck[q] = e, r.now
		case r.now-stuck[q] >= patience:
			stuck[q] = r.now // at most one catch-up per row and patience
			r.helpCatchUp(from, q, pe[q])
		}
	}
	r.collect()
}

// catchUpBatch bounds the commits resent to a lagging peer per row at once.
const catchUpBatch = 8

// helpCatchUp resends, to a peer whose execution of row q has not moved for
// 2*RetryTicks, the commits this replica holds just past that point. A
// commit broadcast can be lost and its command leader crash before
// retransmitting; when nothing the peer learns later depends on the
// instance, nothing else would ever tell the peer, and no replica could
// garbage-collect the instance.
func (r *Replica) helpCatchUp(p paxos.NodeID, q int, upTo uint64) {
	for s := upTo + 1; s <= upTo+catchUpBatch; s++ {
		in := r.inst[q][s]
		if in == nil || in.status != StatusCommitted {
			return
		}
		r.send(p, Commit{Inst: in.id, Cmds: in.cmds, Seq: in.seq, Deps: in.deps})
	}
}

// collect drops instances that every replica has executed.
func (r *Replica) collect() {
	for q := 0; q < r.n; q++ {
		low := r.execUpTo[q]
		for p := 0; p < r.n; p++ {
			if paxos.NodeID(p) != r.id {
				low = min(low, r.peerExec[p][q])
			}
		}
		for s := r.gcUpTo[q] + 1; s <= low; s++ {
			delete(r.inst[q], s)
		}
		if low > r.gcUpTo[q] {
			r.gcUpTo[q] = low
		}
	}
}
