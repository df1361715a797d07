package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

func threadPrefix(tid ipel.ThreadID) string { return "/" + tid.String() }

func cursorKey(tid ipel.ThreadID, log ipel.LogID) ds.Key {
	return ds.KeyWithNamespaces([]string{tid.String(), "cursor", log.String()})
}

// kvKey is where a key/value entry lives; user keys are go-datastore keys.
func kvKey(tid ipel.ThreadID, key ds.Key) ds.Key {
	return ds.NewKey(threadPrefix(tid) + "/kv" + key.String())
}

func kvPrefix(tid ipel.ThreadID) string { return threadPrefix(tid) + "/kv" }

// overlay reads through pending writes of a batch.
type overlay struct {
	r       ds.Read
	pending map[ds.Key][]byte
}

func (o *overlay) get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := o.pending[k]; ok {
		return v, nil
	}
	return o.r.Get(ctx, k)
}

func (o *overlay) put(w ds.Write, ctx context.Context, k ds.Key, v []byte) error {
	o.pending[k] = v
	return w.Put(ctx, k, v)
}

// change is one effect of an event on a view, for change streams.
type change struct {
	Key     string
	Entry   KVEntry
	Version Version
}

// applyRecord folds one event into the views: it reads current state from r
// (through writes already made to w in this batch), writes new state and the
// log's cursor to w, and returns what changed. It is the only place events
// meet state; it depends on nothing but its arguments.
func applyRecord(ctx context.Context, r ds.Read, w ds.Write, rec threads.Record) ([]change, error) {
	ov := &overlay{r: r, pending: map[ds.Key][]byte{}}
	return applyRecordOverlay(ctx, ov, w, rec)
}

func applyRecordOverlay(ctx context.Context, ov *overlay, w ds.Write, rec threads.Record) ([]change, error) {
	var changes []change
	if ops, ok := DecodeOps(rec.Body); ok {
		for i, op := range ops.KV {
			key := ds.NewKey(op.Key)
			k := kvKey(rec.Thread, key)
			var cur *KVEntry
			b, err := ov.get(ctx, k)
			switch {
			case err == nil:
				var e KVEntry
				if err := codec.Unmarshal(b, &e); err != nil {
					return nil, fmt.Errorf("view entry %s: %w", k, err)
				}
				cur = &e
			case errors.Is(err, ds.ErrNotFound):
			default:
				return nil, err
			}
			v := Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: i}
			next, changed := ResolveKV(cur, op, v)
			if !changed {
				continue
			}
			nb, err := codec.Marshal(&next)
			if err != nil {
				return nil, err
			}
			if err := ov.put(w, ctx, k, nb); err != nil {
				return nil, err
			}
			changes = append(changes, change{Key: key.String(), Entry: next, Version: v})
		}
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], rec.Seq)
	if err := ov.put(w, ctx, cursorKey(rec.Thread, rec.Log), seq[:]); err != nil {
		return nil, err
	}
	return changes, nil
}
