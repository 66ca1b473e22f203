package paxos

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The codec turns message bodies and durable records into bytes and back.
// Each protocol package registers its message and record types by a unique
// name in init, so any transport or storage can carry any protocol.

var (
	codecMu sync.RWMutex
	byName  = map[string]reflect.Type{}
	byType  = map[reflect.Type]string{}
	// byNameDecoder holds the registered types that implement BodyDecoder.
	byNameDecoder = map[string]BodyDecoder{}
)

// BodyDecoder may be implemented by a registered value type that decodes
// a body of its own type: DecodeBody returns the decoded value in an
// interface, which costs one allocation where reflection costs two (a new
// value, then its copy into the interface). The receiver is a zero value
// and is not used. The bytes read must be those DecodeMsgpack (or
// reflection) reads.
type BodyDecoder interface {
	DecodeBody(d *msgpack.Decoder) (any, error)
}

// ErrUnknownType is wrapped by decode errors for unregistered type names and
// encode errors for unregistered Go types.
var ErrUnknownType = errors.New("type not registered with the codec")

// Register makes values of sample's type encodable under name. Register
// value types (not pointers); decoding yields values of the same type. It
// panics when the name or type is registered twice: that is a programming
// error caught at start-up.
func Register(name string, sample any) {
	t := reflect.TypeOf(sample)
	if t == nil || t.Kind() == reflect.Pointer {
		panic(fmt.Sprintf("paxos: Register(%q): register a non-nil value type, got %T", name, sample))
	}
	codecMu.Lock()
	defer codecMu.Unlock()
	if old, dup := byName[name]; dup {
		panic(fmt.Sprintf("paxos: codec name %q registered for %v and %v", name, old, t))
	}
	if old, dup := byType[t]; dup {
		panic(fmt.Sprintf("paxos: type %v registered as %q and %q", t, old, name))
	}
	byName[name] = t
	byType[t] = name
	if bd, ok := sample.(BodyDecoder); ok {
		byNameDecoder[name] = bd
	}
}

// RegisteredTypes returns a map from every registered name to a zero value
// of its type (a map: range over it in any order, or sort its keys).
// Tests use it to round-trip every type.
func RegisteredTypes() map[string]any {
	codecMu.RLock()
	defer codecMu.RUnlock()
	out := make(map[string]any, len(byName))
	for n, t := range byName {
		out[n] = reflect.Zero(t).Interface()
	}
	return out
}

// RegisteredNames returns the registered type names, sorted.
func RegisteredNames() []string {
	codecMu.RLock()
	defer codecMu.RUnlock()
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Wire shapes. A registered value (Encode) is the msgpack array
// [type name, body]; a Message (EncodeMessage) is [from, to, type name,
// body], with from and to as fixed-width int32 (0xd2) and the body encoded
// in place. These are the bytes msgpack's reflection wrote for the
// as_array envelope structs the codec used before; codec_test.go keeps them
// equal.

// coder is a reusable encoder and decoder with their buffers.
type coder struct {
	own  []byte // the coder's own buffer, for a caller that brings none
	app  appendWriter
	aenc *msgpack.Encoder // writes to app: straight onto the caller's slice
	rd   srcReader
	dec  *msgpack.Decoder
	nb   [33]byte // a type name being decoded
}

// appendWriter appends what is written to a slice, so that AppendEncode
// and AppendMessage encode into the caller's buffer (a transport's frame,
// the WAL's batch) without a copy from a buffer of their own, and without
// that buffer growing anew for every large value. Given no buffer (Encode,
// EncodeMessage), they encode into the pooled coder's, grown already, and
// return an exact copy: one allocation, where appending to nil would grow
// the result several times.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

func (a *appendWriter) WriteByte(c byte) error {
	a.b = append(a.b, c)
	return nil
}

var coders = sync.Pool{New: func() any {
	c := &coder{}
	c.aenc = msgpack.NewEncoder(&c.app)
	c.dec = msgpack.NewDecoder(&c.rd)
	return c
}}

func getCoder() *coder { return coders.Get().(*coder) }

// maxPooledBuf bounds the buffer a pooled coder keeps (a snapshot can be
// large; its buffer is dropped rather than kept for small messages).
const maxPooledBuf = 1 << 20

func putCoder(c *coder) {
	c.app.b = nil
	c.rd.reset(nil)
	coders.Put(c)
}

func typeName(v any) (string, error) {
	codecMu.RLock()
	name, ok := byType[reflect.TypeOf(v)]
	codecMu.RUnlock()
	if !ok {
		return "", fmt.Errorf("encode %T: %w; call paxos.Register in the protocol's init", v, ErrUnknownType)
	}
	return name, nil
}

// encodeBody writes v without reflection when its type encodes itself.
func encodeBody(e *msgpack.Encoder, name string, v any) error {
	var err error
	if ce, ok := v.(msgpack.CustomEncoder); ok {
		err = ce.EncodeMsgpack(e)
	} else {
		err = e.Encode(v)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return nil
}

// decodeBody decodes the body of a value registered under the name read
// from the decoder (at most 32 bytes long names are looked up without allocating).
func (cd *coder) decodeBody() (any, error) {
	d := cd.dec
	nb := &cd.nb
	var name []byte
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	if msgpcode.IsFixedString(c) {
		n := int(c&msgpcode.FixedStrMask) + 1
		if err := d.ReadFull(nb[:n]); err != nil {
			return nil, err
		}
		name = nb[1:n]
	} else {
		s, err := d.DecodeString()
		if err != nil {
			return nil, err
		}
		name = []byte(s)
	}
	codecMu.RLock()
	t, ok := byName[string(name)]
	bd := byNameDecoder[string(name)]
	codecMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", name, ErrUnknownType)
	}
	if bd != nil {
		v, err := bd.DecodeBody(d)
		if err != nil {
			return nil, fmt.Errorf("decode %q body: %w", name, err)
		}
		return v, nil
	}
	p := reflect.New(t)
	pi := p.Interface()
	if dec, ok := pi.(msgpack.CustomDecoder); ok {
		err = dec.DecodeMsgpack(d)
	} else {
		err = d.Decode(pi)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %q body: %w", name, err)
	}
	return p.Elem().Interface(), nil
}

// Encode serializes a registered value (a message body or a record).
func Encode(v any) ([]byte, error) {
	return AppendEncode(nil, v)
}

// AppendEncode appends the encoding of v (as Encode) to dst, so a caller
// can reuse one buffer for many values.
func AppendEncode(dst []byte, v any) ([]byte, error) {
	name, err := typeName(v)
	if err != nil {
		return dst, err
	}
	c := getCoder()
	defer putCoder(c)
	c.start(dst)
	_ = c.aenc.EncodeArrayLen(2)
	_ = c.aenc.EncodeString(name)
	if err := encodeBody(c.aenc, name, v); err != nil {
		return dst, err
	}
	return c.result(dst), nil
}

// start points the coder's appending encoder at dst, or at its own
// buffer when dst is nil.
func (c *coder) start(dst []byte) {
	if dst == nil {
		c.app.b = c.own[:0]
		return
	}
	c.app.b = dst
}

// result returns what the appending encoder wrote (see start): an exact
// copy when it wrote into the coder's own buffer, which the coder keeps.
func (c *coder) result(dst []byte) []byte {
	if dst != nil {
		return c.app.b
	}
	out := bytes.Clone(c.app.b)
	if cap(c.app.b) <= maxPooledBuf {
		c.own = c.app.b[:0]
	}
	return out
}

// EncodeTo writes what Encode returns to w, streaming it: a large value
// (a snapshot of the whole state) is never held in memory encoded.
func EncodeTo(w io.Writer, v any) error {
	name, err := typeName(v)
	if err != nil {
		return err
	}
	enc := msgpack.NewEncoder(w)
	_ = enc.EncodeArrayLen(2)
	if err := enc.EncodeString(name); err != nil {
		return err
	}
	return encodeBody(enc, name, v)
}

// Decode is the inverse of Encode. Malformed input yields an error, never a
// panic.
func Decode(data []byte) (any, error) {
	c := getCoder()
	defer putCoder(c)
	c.rd.reset(data)
	c.dec.Reset(&c.rd)
	if n, err := c.dec.DecodeArrayLen(); err != nil || n != 2 {
		return nil, fmt.Errorf("decode envelope: %w", shapeErr(n, 2, err))
	}
	return c.decodeBody()
}

// DecodeInto decodes data into v (a value with a hand-written decoder, such
// as a client's Request) with one of the codec's pooled decoders, whose
// whole input the hand-written fast paths (DecodeCommands,
// Command.DecodeMsgpack) read directly instead of field by field. The
// result is what v.DecodeMsgpack gives on any decoder of data. Malformed
// input yields an error, never a panic.
func DecodeInto(data []byte, v msgpack.CustomDecoder) error {
	c := getCoder()
	defer putCoder(c)
	c.rd.reset(data)
	c.dec.Reset(&c.rd)
	return v.DecodeMsgpack(c.dec)
}

// EncodeMessage serializes a Message whose Body is registered.
func EncodeMessage(m Message) ([]byte, error) {
	return AppendMessage(nil, m)
}

// AppendMessage appends the encoding of m (as EncodeMessage) to dst, so a
// caller can reuse its buffer.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	name, err := typeName(m.Body)
	if err != nil {
		return dst, err
	}
	c := getCoder()
	defer putCoder(c)
	c.start(dst)
	e := c.aenc
	_ = e.EncodeArrayLen(4)
	_ = e.EncodeInt32(int32(m.From))
	_ = e.EncodeInt32(int32(m.To))
	_ = e.EncodeString(name)
	if err := encodeBody(e, name, m.Body); err != nil {
		return dst, err
	}
	return c.result(dst), nil
}

// Readdress rewrites, in place, the recipient of msg, a Message as
// AppendMessage encodes it, to to: the envelope writes From and To as
// fixed-width int32s, so the encoding of one Message to several peers
// differs only in those four bytes. It reports false, leaving msg as it
// was, when msg does not start as AppendMessage writes a Message.
func Readdress(msg []byte, to NodeID) bool {
	if len(msg) < 11 || msg[0] != 0x94 || msg[1] != 0xd2 || msg[6] != 0xd2 {
		return false
	}
	binary.BigEndian.PutUint32(msg[7:11], uint32(int32(to)))
	return true
}

// DecodeMessage is the inverse of EncodeMessage. Malformed input yields an
// error, never a panic.
func DecodeMessage(data []byte) (Message, error) {
	c := getCoder()
	defer putCoder(c)
	c.rd.reset(data)
	c.dec.Reset(&c.rd)
	d := c.dec
	n, err := d.DecodeArrayLen()
	if err != nil || n != 4 {
		return Message{}, fmt.Errorf("decode message: %w", shapeErr(n, 4, err))
	}
	from, err := DecodeNodeID(d)
	if err != nil {
		return Message{}, fmt.Errorf("decode message: from: %w", err)
	}
	to, err := DecodeNodeID(d)
	if err != nil {
		return Message{}, fmt.Errorf("decode message: to: %w", err)
	}
	body, err := c.decodeBody()
	if err != nil {
		return Message{}, err
	}
	return Message{From: from, To: to, Body: body}, nil
}

func shapeErr(n, want int, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("an array of %d elements, want %d", n, want)
}
