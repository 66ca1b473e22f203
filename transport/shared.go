package transport

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/paxos-lab/paxos"
)

// sharedFrames lets the writers of a replica's peers share the encoding
// of a message body sent to several of them. A protocol that sends one
// value to several peers boxes its body once, and every peer's Message
// holds that box (EPaxos's PreAccept and Commit, Multi-Paxos's Accept):
// the first writer to send it encodes the whole message and leaves the
// bytes here, and the writers of the other peers copy them and write
// their peer's id over the envelope's To (paxos.Readdress), instead of
// encoding the same body again. At N = 5 an EPaxos command leader's
// PreAccept is then encoded once instead of four times.
//
// A body is named by its interface words (type and box): the entry keeps
// the body, so its box is not reused while the entry lasts, and only
// bodies that cannot change in their box are shared (structs larger than
// a word, which an interface holds as a copy of its own; see shareable).
// A protocol must not write a sent body's slices in place, shared or not
// (the writers read them after Send returns), so sharing adds no hazard.
type sharedFrames struct {
	mu   sync.Mutex
	ents [sharedFramesLen]sharedFrame
	next int
}

// sharedFramesLen is the number of encodings kept, the latest ones: a
// peer whose writer comes to a body after that many larger messages were
// sent encodes it again.
const sharedFramesLen = 16

// Encodings shorter than sharedMin are not kept (they cost less to encode
// again than to keep), nor longer than sharedMax (a catch-up or snapshot
// would stay pinned here).
const (
	sharedMin = 256
	sharedMax = 64 << 10
)

type sharedFrame struct {
	typ, data unsafe.Pointer // the body's interface words
	body      any            // keeps the box alive while typ, data name it
	from      paxos.NodeID
	msg       []byte // the message as encoded for one of the peers
}

// shareable reports whether body's box holds a value that cannot change:
// an interface holds a struct larger than a word as a pointer to a copy
// of its own, which nothing else can write.
func shareable(body any) bool {
	t := reflect.TypeOf(body)
	return t != nil && t.Kind() == reflect.Struct && t.Size() > unsafe.Sizeof(uintptr(0))
}

// ifaceWords returns the two words of an interface value.
func ifaceWords(body *any) (typ, data unsafe.Pointer) {
	w := (*[2]unsafe.Pointer)(unsafe.Pointer(body))
	return w[0], w[1]
}

// appendMessage appends m's encoding to dst, as paxos.AppendMessage does,
// copying it from an earlier encoding of the same body when one is kept.
func (s *sharedFrames) appendMessage(dst []byte, m paxos.Message) ([]byte, error) {
	if !shareable(m.Body) {
		return paxos.AppendMessage(dst, m)
	}
	typ, data := ifaceWords(&m.Body)
	s.mu.Lock()
	for i := range s.ents {
		e := &s.ents[i]
		if e.data == data && e.typ == typ && e.from == m.From {
			out := append(dst, e.msg...)
			s.mu.Unlock()
			if paxos.Readdress(out[len(dst):], m.To) {
				return out, nil
			}
			return paxos.AppendMessage(dst, m)
		}
	}
	s.mu.Unlock()
	out, err := paxos.AppendMessage(dst, m)
	if err != nil {
		return out, err
	}
	if n := len(out) - len(dst); n >= sharedMin && n <= sharedMax {
		s.mu.Lock()
		e := &s.ents[s.next]
		s.next = (s.next + 1) % sharedFramesLen
		e.typ, e.data, e.body, e.from = typ, data, m.Body, m.From
		e.msg = append(e.msg[:0], out[len(dst):]...)
		s.mu.Unlock()
	}
	return out, nil
}
