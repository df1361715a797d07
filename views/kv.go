package views

import (
	"bytes"

	"github.com/kubo-threads/kubo-threads/codec"
)

// Version orders writes to the same key across replicas: hybrid logical
// clock, then log ID, then seq in the log, then the operation's index in its
// event. No two writes share a version, whatever clocks writers claim.
type Version struct {
	Clock codec.Clock `cbor:"c"`
	Log   []byte      `cbor:"l"`
	Seq   uint64      `cbor:"s"`
	Index int         `cbor:"i"`
}

// Compare orders two versions: -1, 0 or +1.
func (v Version) Compare(o Version) int {
	if c := v.Clock.Compare(o.Clock); c != 0 {
		return c
	}
	if c := bytes.Compare(v.Log, o.Log); c != 0 {
		return c
	}
	switch {
	case v.Seq < o.Seq:
		return -1
	case v.Seq > o.Seq:
		return 1
	}
	switch {
	case v.Index < o.Index:
		return -1
	case v.Index > o.Index:
		return 1
	}
	return 0
}

// KVEntry is what a key holds: a value or a tombstone, and the version of
// the write that put it there.
type KVEntry struct {
	Value   []byte  `cbor:"v,omitempty"`
	Deleted bool    `cbor:"d,omitempty"`
	Version Version `cbor:"w"`
}

// ResolveKV is the key/value reducer: given what a key holds (nil for
// nothing) and a write, it returns what the key holds after it, and whether
// that changed. The later version wins, whatever the order writes arrive in.
func ResolveKV(cur *KVEntry, op KVOp, v Version) (KVEntry, bool) {
	if cur != nil && cur.Version.Compare(v) >= 0 {
		return *cur, false
	}
	e := KVEntry{Version: v}
	if op.Delete {
		e.Deleted = true
	} else {
		e.Value = op.Value
	}
	return e, true
}
