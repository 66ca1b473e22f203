package epaxos

import (
	"fmt"

	"github.com/paxos-lab/paxos"
)

func (nw *tnet) dump(ids ...paxos.Instance) {
	for i := 0; i < nw.n; i++ {
		for _, id := range ids {
			in := nw.reps[i].inst[id.Replica][id.Slot]
			if in == nil {
				fmt.Println("rep", i, id, "nil up", nw.up[i])
				continue
			}
			fmt.Println("rep", i, id, in.status, "bal", in.bal, "vbal", in.vbal, "orig", in.orig, "seq", in.seq, in.deps, "co", in.co != nil, "exec", in.executed, "next", in.nextTry, "now", nw.reps[i].now)
			if in.co != nil {
				fmt.Printf("   co %+v\n", *in.co)
			}
		}
	}
}

func (r *Replica) DebugString() string {
	return fmt.Sprintf("exec %v gc %v peer %v live %d pending %d uncommitted %d", r.execUpTo, r.gcUpTo, r.peerExec, r.Stats().Live, len(r.pendingExec), len(r.uncommitted))
}
