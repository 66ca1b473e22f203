package epaxos

import (
	"github.com/paxos-lab/paxos"
)

// The per-key index and multi-key commands. paxos.Interferes defines what
// conflicts: two commands (not both read-only) that share a key, where an
// application command names its Keys or, naming none, touches everything.
// The index keeps one entry per key plus the entry allKeys for commands that
// touch everything: such a command is recorded under allKeys only, every
// command also consults allKeys, and a command that touches everything
// consults every entry. A key-value command whose Key happens to equal
// allKeys is treated as touching everything: more dependencies, never fewer.

// allKeys is the index entry of commands that name no keys.
const allKeys = "\x00epaxos:all-keys"

// touched returns the index entries cmd is recorded under; one is scratch
// space for the common single key, so that case does not allocate.
func touched(c *paxos.Command, one *[1]string) []string {
	switch {
	case c.Op != paxos.OpApp:
		one[0] = c.Key
	case len(c.Keys) == 0:
		one[0] = allKeys
	default:
		return c.Keys
	}
	return one[:]
}

// lookup returns the existing index entries that cmd must consult. The
// slice is r.lookupBuf, valid until the next call (callers only take maxima,
// so the order does not matter; it is kept deterministic anyway).
//
// With note set, the facts found for each key cmd touches (found or not)
// are also appended to r.found, for indexAddFound (index.go). With hashed
// set, h is the hash (fnv1a) of the key of cmd, a Get or Put.
func (r *Replica) lookup(c *paxos.Command, note bool, h uint32, hashed bool) []keyIndex {
	out := r.lookupBuf[:0]
	add := func(f keyFacts) {
		if len(out) < cap(out) {
			out = out[:len(out)+1] // reuse the rows slice left there
		} else {
			out = append(out, keyIndex{})
		}
		r.expand(f, &out[len(out)-1])
	}
	var one [1]string
	keys := touched(c, &one)
	if len(keys) == 1 && keys[0] == allKeys {
		for _, k := range r.index.sortedKeys() {
			f, _ := r.index.get(k)
			add(f)
		}
	} else {
		for _, k := range keys {
			var f keyFacts
			var ok bool
			if hashed && (c.Op == paxos.OpPut || c.Op == paxos.OpGet) {
				f, ok, h = r.index.findHashed(k, h)
			} else {
				f, ok, h = r.index.find(k)
			}
			if note {
				r.found = append(r.found, foundFacts{k: k, f: f, ok: ok, h: h})
			}
			if ok {
				add(f)
			}
		}
		if f, ok := r.index.getAll(); ok {
			add(f)
		}
	}
	r.lookupBuf = out
	return out
}
