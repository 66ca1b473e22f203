package epaxos

import (
	"fmt"
	"slices"

	"github.com/paxos-lab/paxos"
)

// floorBuckets is the number of key buckets of the index's floor; a power
// of two.
const floorBuckets = 1024

// indexFloor stands for the facts pruning dropped from the per-key index
// (gc.go; "Pruning the index" in recovery.go): for each bucket of keys
// (keyBucket), each replica q and each kind (writes, reads), the highest
// slot of q pruned from a key of that bucket. A command leader's (and a
// recovery's) fresh attributes depend on at least the floor of every key
// they touch, as they would on the facts themselves: a write on the
// pruned writes and reads, a read on the pruned writes. Keys share
// buckets, so a command may depend on a few more executed instances than
// the facts named, never on fewer. all holds, per kind, the highest of
// every bucket, for commands that touch every key.
type indexFloor struct {
	n    int
	f    []uint64 // bucket b, kind k (0 writes, 1 reads), replica q at (2b+k)n+q; nil until something is pruned
	all  [2][]uint64
	zero bool
}

func newIndexFloor(n int) indexFloor { return indexFloor{n: n, zero: true} }

// keyBucket picks a key's floor bucket.
func keyBucket(key string) int { return bucketOfHash(fnv1a(key)) }

// bucketOfHash is the floor bucket of a key whose hash (fnv1a) is h.
func bucketOfHash(h uint32) int { return int(h % floorBuckets) }

// allKeysBucket is allKeys's floor bucket.
var allKeysBucket = keyBucket(allKeys)

// raise records that the facts rows of the key whose hash is h were
// pruned.
func (x *indexFloor) raise(h uint32, rows []keyRow) {
	if x.f == nil {
		x.f = make([]uint64, 2*floorBuckets*x.n)
		x.all = [2][]uint64{make([]uint64, x.n), make([]uint64, x.n)}
	}
	x.zero = false
	b := bucketOfHash(h)
	for _, row := range rows {
		q := int(row.replica)
		for kind, s := range [2]uint64{max(row.write, row.execWrite), max(row.read, row.execRead)} {
			i := (2*b+kind)*x.n + q
			x.f[i] = max(x.f[i], s)
			x.all[kind][q] = max(x.all[kind][q], s)
		}
	}
}

// raiseWrite records that the facts of the key whose hash is h were
// pruned when they were one row, replica q's, whose only slot is s, a
// write (raise with that row, whose read kind adds nothing).
func (x *indexFloor) raiseWrite(h uint32, q int, s uint64) {
	if x.f == nil {
		x.f = make([]uint64, 2*floorBuckets*x.n)
		x.all = [2][]uint64{make([]uint64, x.n), make([]uint64, x.n)}
	}
	x.zero = false
	i := 2*bucketOfHash(h)*x.n + q
	x.f[i] = max(x.f[i], s)
	x.all[0][q] = max(x.all[0][q], s)
}

// apply raises deps to the floor of the keys command c touches, but for
// allKeys's bucket, which every command consults: the caller applies that
// once for all its commands (applyAll). found holds what lookup noted for
// c's keys, in order: their hashes pick the buckets, so no key is hashed
// again. It returns the kinds c consults (1: writes only, for a read; 2:
// writes and reads, for a write), 0 for a Nop or while nothing was pruned.
func (x *indexFloor) apply(c *paxos.Command, found []foundFacts, deps []uint64) int {
	if x.zero || c.Op == paxos.OpNop {
		return 0
	}
	kinds := 1 // a read depends on writes only
	if c.Writes() {
		kinds = 2
	}
	var one [1]string
	keys := touched(c, &one)
	if len(keys) == 1 && keys[0] == allKeys {
		for kind := 0; kind < kinds; kind++ {
			for q, s := range x.all[kind] {
				deps[q] = max(deps[q], s)
			}
		}
		return kinds
	}
	for i := range found {
		x.applyBucket(bucketOfHash(found[i].h), kinds, deps)
	}
	return kinds
}

// applyAll raises deps to the floor of allKeys's bucket for commands that
// consult kinds of it (apply's result; the highest of a batch's).
func (x *indexFloor) applyAll(kinds int, deps []uint64) {
	if kinds > 0 {
		x.applyBucket(allKeysBucket, kinds, deps)
	}
}

func (x *indexFloor) applyBucket(b, kinds int, deps []uint64) {
	for kind := 0; kind < kinds; kind++ {
		row := x.f[(2*b+kind)*x.n : (2*b+kind+1)*x.n]
		for q, s := range row {
			deps[q] = max(deps[q], s)
		}
	}
}

// persisted returns the floor as SnapshotRecord.Floor carries it: nil
// while nothing was pruned.
func (x *indexFloor) persisted() []uint64 {
	if x.zero {
		return nil
	}
	return slices.Clone(x.f)
}

// restore takes a snapshot's floor, which holds no slot above the
// snapshot's garbage-collection point gc (every slot pruned was executed
// everywhere).
func (x *indexFloor) restore(f, gc []uint64) error {
	if len(f) == 0 {
		return nil
	}
	if len(f) != 2*floorBuckets*x.n {
		return fmt.Errorf("snapshot index floor has %d slots, want %d for %d replicas", len(f), 2*floorBuckets*x.n, x.n)
	}
	for i, s := range f {
		if q := i % x.n; s > gc[q] {
			return fmt.Errorf("snapshot index floor %d of replica %d is above its garbage-collection point %d", s, q, gc[q])
		}
	}
	if x.f == nil {
		x.f = make([]uint64, len(f))
		x.all = [2][]uint64{make([]uint64, x.n), make([]uint64, x.n)}
	}
	for i, s := range f {
		x.f[i] = max(x.f[i], s)
		kind, q := i/x.n%2, i%x.n
		x.all[kind][q] = max(x.all[kind][q], s)
		x.zero = x.zero && s == 0
	}
	return nil
}
