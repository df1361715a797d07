package views

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/kubo-threads/kubo-threads/codec"
)

// opsMagic marks an event body as view operations; other bodies are raw
// events that views ignore.
const opsMagic = "kubo-threads/views/1"

// opsMarker is how every encoded Ops body starts after its map header: the
// canonical encoding puts the shortest key, "m", first. A body carries view
// operations exactly when it starts so; whether it then decodes is another
// matter (see DecodeOps).
var opsMarker = append([]byte{0x61, 'm', 0x60 + byte(len(opsMagic))}, opsMagic...)

// MaxEventOps is the most operations one event carries, all kinds
// together: the decoder refuses longer arrays, so writers split larger
// batches into several events.
const MaxEventOps = codec.MaxContainerLen

// MaxRotationReaders is the most readers one read-key rotation can be
// sealed to: the decoder refuses larger maps.
const MaxRotationReaders = codec.MaxContainerLen

// Ops is the body of an event that changes views.
type Ops struct {
	Magic string  `cbor:"m"`
	KV    []KVOp  `cbor:"kv,omitempty"`
	Docs  []DocOp `cbor:"dc,omitempty"`
	ACL   []ACLOp `cbor:"acl,omitempty"`
}

// KVOp sets or deletes one key.
type KVOp struct {
	Key    string `cbor:"k"`
	Value  []byte `cbor:"v,omitempty"`
	Delete bool   `cbor:"d,omitempty"`
}

var (
	// ErrNoOps is returned when encoding an empty set of operations.
	ErrNoOps = errors.New("no view operations")
	// ErrTooManyOps is returned when encoding more operations than one
	// event may carry.
	ErrTooManyOps = errors.New("too many operations for one event")
	// ErrNotOps is returned by DecodeOps for a body that is not view
	// operations: a raw event.
	ErrNotOps = errors.New("not view operations")
	// ErrMalformedOps is wrapped by DecodeOps's errors about bodies that
	// carry the view operations' marker but do not decode.
	ErrMalformedOps = errors.New("malformed view operations")
)

// checkEncodable refuses what the decoder would refuse, so that no writer
// appends operations every replica would drop.
func checkEncodable(ops Ops) error {
	if n := len(ops.KV) + len(ops.Docs) + len(ops.ACL); n > MaxEventOps {
		return fmt.Errorf("%w: %d, at most %d", ErrTooManyOps, n, MaxEventOps)
	}
	for _, op := range ops.ACL {
		if len(op.Keys) > MaxRotationReaders {
			return fmt.Errorf("%w: a read key sealed to %d readers, at most %d", ErrTooManyOps, len(op.Keys), MaxRotationReaders)
		}
	}
	return nil
}

// EncodeOps encodes operations as an event body. It refuses more
// operations than an event may carry (MaxEventOps, MaxRotationReaders).
func EncodeOps(ops Ops) ([]byte, error) {
	if len(ops.KV) == 0 && len(ops.Docs) == 0 && len(ops.ACL) == 0 {
		return nil, ErrNoOps
	}
	if err := checkEncodable(ops); err != nil {
		return nil, fmt.Errorf("encode view operations: %w", err)
	}
	ops.Magic = opsMagic
	b, err := codec.Marshal(&ops)
	if err != nil {
		return nil, fmt.Errorf("encode view operations: %w", err)
	}
	return b, nil
}

// carriesMarker says whether a body claims to be view operations: a CBOR
// map whose first entry is the marker.
func carriesMarker(body []byte) bool {
	return len(body) > len(opsMarker) && body[0] > 0xa0 && body[0] < 0xb8 && bytes.HasPrefix(body[1:], opsMarker)
}

// DecodeOps reads an event body: ErrNotOps for a raw event (no marker), an
// error wrapping ErrMalformedOps for a body with the marker that does not
// decode (every replica skips it the same way, and counts it).
func DecodeOps(body []byte) (Ops, error) {
	if !carriesMarker(body) {
		return Ops{}, ErrNotOps
	}
	var ops Ops
	if err := codec.Unmarshal(body, &ops); err != nil {
		return Ops{}, fmt.Errorf("%w: %v", ErrMalformedOps, err)
	}
	return ops, nil
}

// fitOps returns how many of n operations, from the first, fit one event:
// at most MaxEventOps, at most limit bytes by size (an upper bound of an
// operation's encoded size), and documents of at most MaxEventValues JSON
// values by values (nil: none), so that no replica skips the event (see
// budget.go; the byte budget is three times the largest body). It is at
// least one when n is.
func fitOps(n, limit int, size, values func(i int) int) int {
	k, total, vals := 0, 0, 0
	for k < n && k < MaxEventOps {
		sz, vs := size(k), 0
		if values != nil {
			vs = values(k)
		}
		if k > 0 && (total+sz > limit || vals+vs > MaxEventValues) {
			break
		}
		total, vals = total+sz, vals+vs
		k++
	}
	return k
}

// cborLen is the encoded size of a CBOR string of n bytes: its head, then
// the bytes.
func cborLen(n int) int {
	switch {
	case n < 24:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	case n < 1<<32:
		return 5 + n
	}
	return 9 + n
}

// kvOpSize is the encoded size of a KVOp, at most: its map head, the
// keys, the key, the value and the delete flag.
func kvOpSize(op KVOp) int {
	return 1 + 3*2 + cborLen(len(op.Key)) + cborLen(len(op.Value)) + 1
}

// docOpSize is the encoded size of a DocOp, at most.
func docOpSize(op DocOp) int {
	return 1 + 5*2 + 2 + cborLen(len(op.Coll)) + cborLen(len(op.ID)) + cborLen(len(op.JSON)) + cborLen(len(op.Field))
}
