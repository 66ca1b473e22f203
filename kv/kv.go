// Package kv is the built-in replicated key-value store, the state machine
// every protocol runs when paxos.Config.StateMachine is nil, and the
// Executor through which protocols apply committed commands to whichever
// state machine they run.
//
// A Store is a paxos.StateMachine (and paxos.KeyValue) that applies Get and
// Put. Like an application's state machine it knows nothing of clients:
// the Executor wraps it in the library's exactly-once sessions
// (paxos.Sessions), so a command whose (client, seq) already executed takes
// no effect again and returns the output of its first execution (kept for
// the client's last RetainOutputs seqs; see there).
package kv

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"sort"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/paxos-lab/paxos"
)

// Interferes reports whether the order of a and b matters: they touch the
// same key and at least one of them writes. Nops interfere with nothing.
// It is paxos.Interferes, which also covers application commands.
func Interferes(a, b *paxos.Command) bool { return paxos.Interferes(a, b) }

// RetainOutputs is how many of a client's seqs below the newest it
// executed keep their outputs for retries (paxos.RetainOutputs: the
// store's exactly-once sessions are the library's, paxos.Sessions). A
// client may have at most this many commands outstanding: a retry of a
// command more than RetainOutputs seqs older than the client's newest
// executed one is still recognized as a duplicate, but its output is
// reported as "".
const RetainOutputs = paxos.RetainOutputs

// Store is a deterministic key-value state machine. The zero value is not
// usable; call New.
//
// The data is split by a hash of the key into shardCount shards (hash
// tables, see shard). Snapshot gives the snapshot a view of each shard
// that shares its data, so it copies no key or value; the store copies a
// chunk of its data only when it next writes where the snapshot reads
// (copy on write), which appending new keys and values never does. A
// snapshot therefore never changes once taken, and may be read, encoded
// and written on another goroutine while the store goes on.
//
// The keys and values are kept as bytes in pointer-free chunks, which the
// garbage collector does not scan (see shard); a put copies its key and
// value in, and a Get returns a copy of the value (one allocation when it
// is not empty).
type Store struct {
	shards  shards
	keys    int
	applied uint64
	// hashed is the keys the latest prefetch hashed, in order, and next
	// the first of them no put or lookup has used since: the puts and
	// gets that follow a prefetch take their hashes from it (hash)
	// instead of hashing each key a second time. It keeps the latest
	// batch's key strings alive until the next prefetch.
	hashed []hashedKey
	next   int
}

// hashedKey is a key and its hash (hashKey).
type hashedKey struct {
	key string
	h   uint64
}

// shardCount is the number of shards; a power of two.
const shardCount = 256

// shards holds the data; a nil shard is empty.
type shards [shardCount]*shard

// shardOf picks a key's shard from its hash.
func shardOf(h uint64) int { return int(h % shardCount) }

// presize gives each shard of an empty store room for its share of n keys
// (the mean and a margin of about three standard deviations), so that
// filling it from a snapshot does not grow the maps step by step.
func (s *Store) presize(n int) {
	per := n / shardCount
	if per < 64 {
		return // small maps: growing them costs little (and every shard gets keys)
	}
	hint := per + 3*int(math.Sqrt(float64(per)))
	for i := range s.shards {
		s.shards[i] = newShard(hint)
	}
}

// New returns an empty store.
func New() *Store {
	return &Store{}
}

// get returns the value stored under key ("" if none).
func (s *Store) get(key string) string {
	v, _ := s.lookup(key, hashKey(key))
	return v
}

// prefetch reads the first table slot each Get or Put of cmds probes
// (Executor.Prefetch), and where its shard appends a new entry and new
// bytes, and returns the sum of what it read, which means nothing. A shard
// without a table (thaw) is left so. It reads in two rounds, the shards
// and then their slots and tails, so that the reads of each round do not
// wait for one another. It keeps the keys' hashes for the puts and gets
// that apply cmds next (hash).
func (s *Store) prefetch(cmds []paxos.Command) uint64 {
	var sum uint64
	hs := s.hashed[:0]
	for i := range cmds {
		c := &cmds[i]
		if c.Op != paxos.OpPut && c.Op != paxos.OpGet {
			continue
		}
		h := hashKey(c.Key)
		hs = append(hs, hashedKey{c.Key, h})
		if sh := s.shards[shardOf(h)]; sh != nil && len(sh.slots) > 0 {
			sum += uint64(sh.tail)
		}
	}
	s.hashed, s.next = hs, 0
	for i := range hs {
		sh := s.shards[shardOf(hs[i].h)]
		if sh == nil || len(sh.slots) == 0 {
			continue
		}
		sum += sh.slots[sh.home(hs[i].h)]
		if n := len(sh.ents); n > 0 {
			sum += uint64(len(sh.ents[n-1]))
		}
		if sh.tail >= 0 {
			sum += uint64(len(sh.data[sh.tail]))
		}
	}
	return sum
}

// hash returns hashKey(key), taken from what the latest prefetch hashed
// when key is among the keys it has not yet handed out: the commands
// applied after a prefetch are its commands in order, some perhaps left
// out (duplicates, no-ops), so the key is the next one or a little after
// it, and the keys it passes over are not looked at again. The key is
// compared, not assumed: when it is the prefetched string itself the
// comparison stops at the pointer. The common case is the next key;
// hashAfter handles the rest.
func (s *Store) hash(key string) uint64 {
	if s.next < len(s.hashed) {
		if k := &s.hashed[s.next]; k.key == key {
			s.next++
			return k.h
		}
	}
	return s.hashAfter(key)
}

// hashAfter is hash when key is not the next prefetched key: it looks
// further down the list, and a key not found there means the prefetched
// commands are done, so the rest of the list is dropped.
func (s *Store) hashAfter(key string) uint64 {
	for i := s.next + 1; i < len(s.hashed); i++ {
		if k := &s.hashed[i]; k.key == key {
			s.next = i + 1
			return k.h
		}
	}
	s.next = len(s.hashed)
	return hashKey(key)
}

// put stores value under key.
func (s *Store) put(key, value string) {
	h := s.hash(key)
	if put(s.writable(h), key, value, h) {
		s.keys++
	}
}

// writable returns the shard of the key of hash h, made if there is none.
func (s *Store) writable(h uint64) *shard {
	if sh := s.shards[shardOf(h)]; sh != nil {
		return sh
	}
	sh := newShard(1)
	s.shards[shardOf(h)] = sh
	return sh
}

// Apply implements paxos.StateMachine for Get and Put: a Get returns the
// key's value, a Put stores its value and returns "". Anything else is
// refused with an error. Sessions calls ApplyKV instead, which also says
// whether a Get found nothing.
func (s *Store) Apply(cmd paxos.Command) (string, error) {
	if cmd.Op != paxos.OpGet && cmd.Op != paxos.OpPut {
		return "", fmt.Errorf("%w: %v on the key-value store", paxos.ErrBadCommand, cmd.Op)
	}
	out, _ := s.ApplyKV(cmd.Op, cmd.Key, cmd.Value)
	return out, nil
}

// ApplyKV implements paxos.KeyValue: it executes a Get or Put (anything
// else is taken as a Put) and reports whether a Get found no value.
func (s *Store) ApplyKV(op paxos.Op, key, value string) (output string, missing bool) {
	s.applied++
	if op == paxos.OpGet {
		return s.lookup(key, s.hash(key))
	}
	s.put(key, value)
	return "", false
}

// Read answers a Get from current state without recording it: for reads
// served locally under a lease, which change nothing.
func (s *Store) Read(key string) string { return s.get(key) }

// Lookup is Read that also says whether the key holds no value. Like
// Read it changes nothing, not even which prefetched hashes are left
// (hash).
func (s *Store) Lookup(key string) (value string, missing bool) { return s.lookup(key, hashKey(key)) }

// lookup is Lookup for a key of hash h.
func (s *Store) lookup(key string, h uint64) (value string, missing bool) {
	if sh := s.shards[shardOf(h)]; sh != nil {
		v, ok := sh.get(key, h)
		return v, !ok
	}
	return "", true
}

// Applied returns the number of commands that took effect (duplicates and
// Nops excluded).
func (s *Store) Applied() uint64 { return s.applied }

// Len returns the number of keys stored.
func (s *Store) Len() int { return s.keys }

// Snapshot is a serializable copy of a Store. A snapshot taken from a store
// shares the store's data (copy on write; see Store); read it with Get,
// Len, Range and Map. It never changes once taken. On the wire it is a
// msgpack map: "d" the data, "s" the sessions, "a" the applied count, and
// "x" an application's snapshot when there is one.
type Snapshot struct {
	// Sessions are the exactly-once sessions of the store's clients
	// (paxos.Sessions.SnapshotSessions); empty when none executed.
	Sessions []byte `msgpack:"s"`
	Applied  uint64 `msgpack:"a"`
	// App, when set, is an application state machine's snapshot with its
	// sessions (paxos.Sessions), and the store's fields are empty.
	App []byte `msgpack:"x,omitempty"`

	shared *shards // the data; nil when there is none
	keys   int
}

// wireSnapshot is Snapshot's encoding, which EncodeMsgpack and
// DecodeMsgpack write and read by hand (TestSnapshotWireShape). Sessions is
// read raw: builds before 2026-11-29 wrote a map of legacySession there
// (see legacySessions).
type wireSnapshot struct {
	Data     map[string]string  `msgpack:"d"`
	Sessions msgpack.RawMessage `msgpack:"s"`
	Applied  uint64             `msgpack:"a"`
	// App, when set, is an application state machine's snapshot with its
	// sessions (paxos.Sessions), and the fields above are empty.
	App []byte `msgpack:"x,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder, writing the data
// straight from the shared shards, without copying it into a map first.
func (snap Snapshot) EncodeMsgpack(enc *msgpack.Encoder) error {
	fields := 3
	if len(snap.App) > 0 {
		fields++
	}
	if err := enc.EncodeMapLen(fields); err != nil {
		return err
	}
	if err := enc.EncodeString("d"); err != nil {
		return err
	}
	if err := enc.EncodeMapLen(snap.keys); err != nil {
		return err
	}
	if err := snap.writePairs(enc); err != nil {
		return err
	}
	if err := enc.EncodeString("s"); err != nil {
		return err
	}
	if err := enc.EncodeBytes(snap.Sessions); err != nil {
		return err
	}
	if err := enc.EncodeString("a"); err != nil {
		return err
	}
	if err := enc.EncodeUint(snap.Applied); err != nil || len(snap.App) == 0 {
		return err
	}
	if err := enc.EncodeString("x"); err != nil {
		return err
	}
	return enc.EncodeBytes(snap.App)
}

// DecodeMsgpack implements msgpack.CustomDecoder. The result holds its data
// like a snapshot taken from a store, so the two compare equal. It reads
// the fields of wireSnapshot (any order; others are skipped), each key and
// value of "d" into a buffer it reuses, copied from there into the store's
// arena, so a decoded snapshot allocates no string per key.
func (snap *Snapshot) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return err
	}
	*snap = Snapshot{}
	var sessions msgpack.RawMessage
	for i := 0; i < n; i++ {
		name, err := dec.DecodeString()
		if err != nil {
			return err
		}
		switch name {
		case "d":
			err = snap.decodeData(dec)
		case "s":
			sessions, err = dec.DecodeRaw()
		case "a":
			snap.Applied, err = dec.DecodeUint64()
		case "x":
			snap.App, err = dec.DecodeBytes()
		default:
			err = dec.Skip()
		}
		if err != nil {
			return fmt.Errorf("kv: decode snapshot field %q: %w", name, err)
		}
	}
	snap.Sessions, err = decodeSessions(sessions)
	return err
}

// decodeData reads a snapshot's "d" field, a map of strings (nil for none)
// into a new store whose data the snapshot then holds.
func (snap *Snapshot) decodeData(dec *msgpack.Decoder) error {
	n, err := dec.DecodeMapLen()
	if err != nil || n <= 0 {
		return err
	}
	st := New()
	st.presize(n)
	var key, value []byte
	for i := 0; i < n; i++ {
		if key, err = readText(dec, key); err != nil {
			return err
		}
		if value, err = readText(dec, value); err != nil {
			return err
		}
		if h := maphash.Bytes(seed, key); put(st.writable(h), key, value, h) {
			st.keys++
		}
	}
	v := st.share()
	snap.shared, snap.keys = v.shared, v.keys
	return nil
}

// readLimit is the most readText makes room for before it has read what
// fills it: a corrupt length fails at the end of the input instead of
// allocating what it claims.
const readLimit = 1 << 20

// readText reads a msgpack string (or binary, or nil for empty) into buf,
// reused, and returns it.
func readText(dec *msgpack.Decoder, buf []byte) ([]byte, error) {
	n, err := dec.DecodeBytesLen()
	if err != nil {
		return buf, err
	}
	buf = buf[:0]
	for len(buf) < n {
		step := min(n-len(buf), readLimit)
		buf = slices.Grow(buf, step)
		if err := dec.ReadFull(buf[len(buf) : len(buf)+step]); err != nil {
			return buf, err
		}
		buf = buf[:len(buf)+step]
	}
	return buf, nil
}

// legacySession is a client's deduplication state as the store kept it
// itself before the library's paxos.Sessions took that over (builds before
// 2026-11-29): every seq <= Low executed, with output LowOut; Done holds the
// outputs of executed seqs above Low, Old the non-empty outputs of seqs in
// (Low-RetainOutputs, Low).
type legacySession struct {
	Low    uint64            `msgpack:"l"`
	LowOut string            `msgpack:"o"`
	Done   map[uint64]string `msgpack:"d,omitempty"`
	Old    map[uint64]string `msgpack:"p,omitempty"`
}

// decodeSessions reads a snapshot's "s" field: the encoded paxos.Sessions
// (bytes), nothing, or the map of legacySession that earlier builds wrote,
// which it converts, so their snapshots still restore.
func decodeSessions(raw msgpack.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var b []byte
	err := msgpack.Unmarshal(raw, &b)
	if err == nil {
		return b, nil
	}
	var old map[uint64]legacySession
	if msgpack.Unmarshal(raw, &old) != nil {
		return nil, fmt.Errorf("kv: decode snapshot sessions: %w", err)
	}
	clients := make(map[uint64]paxos.ClientResults, len(old))
	for id, se := range old {
		recent := maps.Clone(se.Old)
		if se.LowOut != "" && se.Low > 0 {
			if recent == nil {
				recent = map[uint64]string{}
			}
			recent[se.Low] = se.LowOut
		}
		clients[id] = paxos.ClientResults{Low: se.Low, Above: se.Done, Recent: recent}
	}
	return paxos.EncodeSessions(clients), nil
}

// Get returns the value stored under key in the snapshot. It reads the
// keys of the key's shard in turn (a snapshot keeps no table to find them:
// see shard); for tests and inspection.
func (snap Snapshot) Get(key string) (string, bool) {
	if snap.shared == nil {
		return "", false
	}
	if sh := snap.shared[shardOf(hashKey(key))]; sh != nil {
		return sh.scan(key)
	}
	return "", false
}

// Len returns the number of keys in the snapshot.
func (snap Snapshot) Len() int { return snap.keys }

// Range calls fn for every key and value of the snapshot, in no particular
// order, until fn returns false.
func (snap Snapshot) Range(fn func(key, value string) bool) {
	if snap.shared == nil {
		return
	}
	for _, sh := range snap.shared {
		if sh == nil {
			continue
		}
		if !sh.each(func(k, v []byte) bool { return fn(string(k), string(v)) }) {
			return
		}
	}
}

// Map returns a copy of the snapshot's data (for tests and debugging).
func (snap Snapshot) Map() map[string]string {
	m := make(map[string]string, snap.Len())
	snap.Range(func(k, v string) bool {
		m[k] = v
		return true
	})
	return m
}

// share returns the store's data and applied count as a Snapshot (without
// sessions, which the Executor adds), sharing the data: no key or value is
// copied now (see Store).
func (s *Store) share() Snapshot {
	snap := Snapshot{Applied: s.applied}
	if s.keys > 0 {
		snap.shared, snap.keys = freezeAll(&s.shards), s.keys
	}
	return snap
}

// FromSnapshot rebuilds a store's data from a snapshot (its sessions are
// the Executor's: see ExecutorFromSnapshot). The store shares the
// snapshot's data, copying a chunk before it writes where the snapshot
// reads, and builds a shard's table when it first reads or writes the
// shard.
func FromSnapshot(snap Snapshot) *Store {
	s := New()
	s.applied = snap.Applied
	if snap.shared != nil {
		for i, v := range snap.shared {
			if v != nil {
				s.shards[i] = v.thaw()
			}
		}
		s.keys = snap.keys
	}
	return s
}

// Snapshot implements paxos.StateMachine: the data and applied count,
// encoded as a Snapshot without sessions. Protocols do not use it: the
// Executor shares the data copy-on-write in a Snapshot instead.
func (s *Store) Snapshot() []byte {
	b, err := msgpack.Marshal(s.share())
	if err != nil {
		panic(fmt.Sprintf("kv: encode snapshot: %v", err)) // strings and integers always encode
	}
	return b
}

// Restore implements paxos.StateMachine: it replaces the store's data with
// what Snapshot returned.
func (s *Store) Restore(data []byte) error {
	var snap Snapshot
	if err := msgpack.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("kv: decode snapshot: %w", err)
	}
	*s = *FromSnapshot(snap)
	return nil
}

// Keys returns the stored keys, sorted (for tests and debugging).
func (s *Store) Keys() []string {
	keys := make([]string, 0, s.keys)
	for _, sh := range s.shards {
		if sh != nil {
			sh.each(func(k, _ []byte) bool {
				keys = append(keys, string(k))
				return true
			})
		}
	}
	sort.Strings(keys)
	return keys
}
