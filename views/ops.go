package views

import (
	"errors"
	"fmt"

	"github.com/kubo-threads/kubo-threads/codec"
)

// opsMagic marks an event body as view operations; other bodies are raw
// events that views ignore.
const opsMagic = "kubo-threads/views/1"

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

// ErrNoOps is returned when encoding an empty set of operations.
var ErrNoOps = errors.New("no view operations")

// EncodeOps encodes operations as an event body.
func EncodeOps(ops Ops) ([]byte, error) {
	if len(ops.KV) == 0 && len(ops.Docs) == 0 && len(ops.ACL) == 0 {
		return nil, ErrNoOps
	}
	ops.Magic = opsMagic
	b, err := codec.Marshal(&ops)
	if err != nil {
		return nil, fmt.Errorf("encode view operations: %w", err)
	}
	return b, nil
}

// DecodeOps reads an event body; ok is false for bodies that are not view
// operations.
func DecodeOps(body []byte) (ops Ops, ok bool) {
	if len(body) == 0 || body[0]&0xe0 != 0xa0 { // not a CBOR map: a raw event
		return Ops{}, false
	}
	if err := codec.Unmarshal(body, &ops); err != nil || ops.Magic != opsMagic {
		return Ops{}, false
	}
	return ops, true
}
