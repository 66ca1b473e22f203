package paxos

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// The codec turns message bodies and durable records into bytes and back.
// Each protocol package registers its message and record types by a unique
// name in init, so any transport or storage can carry any protocol.

var (
	codecMu sync.RWMutex
	byName  = map[string]reflect.Type{}
	byType  = map[reflect.Type]string{}
)

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

// envelope is the wire shape of a registered value.
type envelope struct {
	//lint:ignore U1000 msgpack reads the tag: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	Type     string
	Body     msgpack.RawMessage
}

// wireMessage is the wire shape of a Message.
type wireMessage struct {
	//lint:ignore U1000 msgpack reads the tag: encode as an array
	_msgpack struct{} `msgpack:",as_array"`
	From     NodeID
	To       NodeID
	Type     string
	Body     msgpack.RawMessage
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

func decodeBody(name string, raw []byte) (any, error) {
	codecMu.RLock()
	t, ok := byName[name]
	codecMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("decode %q: %w", name, ErrUnknownType)
	}
	p := reflect.New(t)
	if err := msgpack.Unmarshal(raw, p.Interface()); err != nil {
		return nil, fmt.Errorf("decode %q body: %w", name, err)
	}
	return p.Elem().Interface(), nil
}

// Encode serializes a registered value (a message body or a record).
func Encode(v any) ([]byte, error) {
	name, err := typeName(v)
	if err != nil {
		return nil, err
	}
	body, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return msgpack.Marshal(&envelope{Type: name, Body: body})
}

// Decode is the inverse of Encode. Malformed input yields an error, never a
// panic.
func Decode(data []byte) (any, error) {
	var e envelope
	if err := msgpack.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	return decodeBody(e.Type, e.Body)
}

// EncodeMessage serializes a Message whose Body is registered.
func EncodeMessage(m Message) ([]byte, error) {
	name, err := typeName(m.Body)
	if err != nil {
		return nil, err
	}
	body, err := msgpack.Marshal(m.Body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return msgpack.Marshal(&wireMessage{From: m.From, To: m.To, Type: name, Body: body})
}

// DecodeMessage is the inverse of EncodeMessage. Malformed input yields an
// error, never a panic.
func DecodeMessage(data []byte) (Message, error) {
	var w wireMessage
	if err := msgpack.Unmarshal(data, &w); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	body, err := decodeBody(w.Type, w.Body)
	if err != nil {
		return Message{}, err
	}
	return Message{From: w.From, To: w.To, Body: body}, nil
}
