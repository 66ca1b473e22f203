package epaxos

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
	"github.com/paxos-lab/paxos/internal/msgpackappend"
)

// IndexSnapshot is the per-key dependency index as a SnapshotRecord
// carries it: every key's facts in the index's own compact form (see
// keyFacts), shared with the replica's index copy on write (factsIndex),
// so that taking a snapshot copies none of the index.
//
// On the wire it is a msgpack map from key to an array of unsigned
// integers, each the smallest msgpack integer that holds it: the highest
// seq writing and reading the key, then five per replica with a fact about
// it (the replica, its latest slot writing and reading the key, its latest
// executed slots writing and reading it). About 30 bytes per key where
// IndexEntry's reflection encoding took over 200. The zero value is an
// empty index.
type IndexSnapshot struct {
	idx   *factsIndex // nil when empty; never written once in a snapshot
	marks execMarks   // the executed marks of idx's inline facts when taken (marks.go); zero once decoded
}

// Len returns the number of keys in the index.
func (s IndexSnapshot) Len() int {
	if s.idx == nil {
		return 0
	}
	return s.idx.len()
}

// IsZero reports whether the index is empty (msgpack's omitempty).
func (s IndexSnapshot) IsZero() bool { return s.Len() == 0 }

// each calls f with every key's facts (ki is reused between calls).
func (s IndexSnapshot) each(f func(key string, ki *keyIndex) error) error {
	if s.idx == nil {
		return nil
	}
	var ki keyIndex
	return s.idx.each(func(k string, kf keyFacts) error {
		if kf.kind() == factsFull {
			full := s.idx.full(kf.pos())
			ki.writeSeq, ki.readSeq, ki.rows = full.writeSeq, full.readSeq, append(ki.rows[:0], full.rows...)
		} else {
			expandMarked(kf, &ki, s.marks)
		}
		return f(k, &ki)
	})
}

// indexSnapshot shares the replica's index with a snapshot: no key or
// fact is copied now (see factsIndex).
func (r *Replica) indexSnapshot() IndexSnapshot {
	return IndexSnapshot{idx: r.index.share(), marks: r.marks().clone()}
}

// EncodeMsgpack implements msgpack.CustomEncoder. The keys are written in
// chunks appended by hand (appendIndexEntry), in the bytes the encoder's
// own methods write: a snapshot holds one entry per key ever written, and
// a method call per number cost more than the rest of the encoding.
func (s IndexSnapshot) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeMapLen(s.Len()); err != nil {
		return err
	}
	w := e.Writer()
	buf := make([]byte, 0, indexChunk+256)
	err := s.each(func(k string, ki *keyIndex) error {
		buf = appendIndexEntry(buf, k, ki)
		if len(buf) < indexChunk {
			return nil
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	})
	if err == nil && len(buf) > 0 {
		_, err = w.Write(buf)
	}
	return err
}

// indexChunk is how many bytes of entries IndexSnapshot.EncodeMsgpack
// gathers before it writes them.
const indexChunk = 32 << 10

// appendIndexEntry appends key k and its facts as msgpack: the key as a
// string, then an array of 2 + 5 per row unsigned integers, each in its
// smallest form (as msgpack.Encoder's EncodeString, EncodeArrayLen and
// EncodeUint write them).
func appendIndexEntry(b []byte, k string, ki *keyIndex) []byte {
	b = msgpackappend.String(b, k)
	switch n := 2 + 5*len(ki.rows); {
	case n < 16:
		b = append(b, 0x90|byte(n))
	case n <= 0xffff:
		b = append(b, 0xdc, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = msgpackappend.Uint(b, ki.writeSeq)
	b = msgpackappend.Uint(b, ki.readSeq)
	for _, f := range ki.rows {
		b = msgpackappend.Uint(b, uint64(f.replica))
		b = msgpackappend.Uint(b, f.write)
		b = msgpackappend.Uint(b, f.read)
		b = msgpackappend.Uint(b, f.execWrite)
		b = msgpackappend.Uint(b, f.execRead)
	}
	return b
}

// maxIndexRows bounds the replicas a decoded key may name (ids above
// those the inline form holds are kept in the slab).
const maxIndexRows = 1 << 16

// DecodeMsgpack implements msgpack.CustomDecoder. Replica ids are checked
// against the cluster when the snapshot is restored.
func (s *IndexSnapshot) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeMapLen()
	if err != nil {
		return err
	}
	x := newFactsIndex()
	*s = IndexSnapshot{idx: &x}
	var ki keyIndex
	for i := 0; i < n; i++ {
		k, err := d.DecodeString()
		if err != nil {
			return err
		}
		m, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		if m < 2 || (m-2)%5 != 0 || (m-2)/5 > maxIndexRows {
			return fmt.Errorf("%w: index entry of key %q has %d numbers, want 2 + 5 per replica", paxos.ErrMalformed, k, m)
		}
		var v [5]uint64
		if ki.writeSeq, err = d.DecodeUint64(); err != nil {
			return err
		}
		if ki.readSeq, err = d.DecodeUint64(); err != nil {
			return err
		}
		ki.rows = ki.rows[:0]
		for j := 0; j < (m-2)/5; j++ {
			for x := range v {
				if v[x], err = d.DecodeUint64(); err != nil {
					return err
				}
			}
			if v[0] >= maxIndexRows {
				return fmt.Errorf("%w: index entry of key %q names replica %d", paxos.ErrMalformed, k, v[0])
			}
			ki.rows = append(ki.rows, keyRow{replica: paxos.NodeID(v[0]), write: v[1], read: v[2], execWrite: v[3], execRead: v[4]})
		}
		if kf, ok := packInline(&ki); ok {
			x.set(k, kf)
			continue
		}
		pos := x.addFull()
		*x.fullMut(pos) = keyIndex{writeSeq: ki.writeSeq, readSeq: ki.readSeq, rows: append([]keyRow(nil), ki.rows...)}
		x.set(k, fullFacts(pos))
	}
	return nil
}
