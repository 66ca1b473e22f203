package multi

import (
	"bytes"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// recentValues remembers the commands of the Accepts decoded last, with the
// bytes they were decoded from, so that a Commit carrying the same bytes
// for the same slot (the leader's Commit to a follower whose Accepted came
// after the quorum's: at N = 5 two followers of four get one per slot) takes
// the decoded commands instead of decoding them again. Byte-equal input
// decodes to equal commands, so the Commit's value is what decoding would
// give whichever Accept filled the entry (in a process running several
// replicas, another replica's); entries are indexed by slot and checked
// byte for byte, never trusted. The commands are shared, not copied: the
// library treats decoded commands as immutable. Only the codec's pooled
// decoders (paxos.DecoderRest) take part; anything else decodes as before.
var recentValues struct {
	sync.Mutex
	ring [recentSlots]recentValue
}

// recentSlots is how many slots' values are kept: more than a leader keeps
// in flight between an Accept and its Commit under the default window.
const recentSlots = 256

// recentMax is the largest encoded value remembered (larger ones are
// rare and cost their copy).
const recentMax = 16 << 10

type recentValue struct {
	slot uint64
	raw  []byte // the encoded commands, owned
	cmds []paxos.Command
}

// decodeValue decodes the commands of slot's Accept (remember) or Commit
// (!remember) from d.
func decodeValue(d *msgpack.Decoder, slot uint64, remember bool) ([]paxos.Command, error) {
	rest, ok := paxos.DecoderRest(d)
	if !ok {
		return paxos.DecodeCommands(d)
	}
	e := &recentValues.ring[slot%recentSlots]
	if !remember {
		recentValues.Lock()
		if e.slot == slot && e.raw != nil && bytes.HasPrefix(rest, e.raw) {
			// e.raw is one whole msgpack value, so it is exactly the
			// next value of rest.
			cmds, n := e.cmds, len(e.raw)
			recentValues.Unlock()
			paxos.DecoderSkip(d, n)
			return cmds, nil
		}
		recentValues.Unlock()
		return paxos.DecodeCommands(d)
	}
	cmds, err := paxos.DecodeCommands(d)
	if err != nil || len(cmds) == 0 {
		return cmds, err
	}
	after, _ := paxos.DecoderRest(d)
	n := len(rest) - len(after)
	if n > recentMax {
		return cmds, nil
	}
	recentValues.Lock()
	e.slot, e.raw, e.cmds = slot, append(e.raw[:0], rest[:n]...), cmds
	recentValues.Unlock()
	return cmds, nil
}
