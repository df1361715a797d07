package views

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// KV is a thread's key/value view as a go-datastore Batching datastore. A
// put or delete appends an event (a delete is a tombstone) and returns once
// the event is durable and this node's view includes it; reads come from the
// view, which converges on every replica.
type KV struct {
	m   *Manager
	tid ipel.ThreadID
}

var _ ds.Batching = (*KV)(nil)

// KV returns the key/value view of a thread.
func (m *Manager) KV(tid ipel.ThreadID) (*KV, error) {
	if err := m.Ensure(tid); err != nil {
		return nil, err
	}
	return &KV{m: m, tid: tid}, nil
}

func (kv *KV) entry(ctx context.Context, key ds.Key) (*KVEntry, error) {
	b, err := kv.m.store.Get(ctx, kvKey(kv.tid, key))
	if err != nil {
		return nil, err
	}
	var e KVEntry
	if err := codec.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("view entry %s: %w", key, err)
	}
	if e.Deleted {
		return nil, ds.ErrNotFound
	}
	return &e, nil
}

// Get returns a key's value.
func (kv *KV) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	e, err := kv.entry(ctx, key)
	if err != nil {
		return nil, err
	}
	if e.Value == nil {
		return []byte{}, nil
	}
	return e.Value, nil
}

// Has reports whether a key holds a value.
func (kv *KV) Has(ctx context.Context, key ds.Key) (bool, error) {
	_, err := kv.entry(ctx, key)
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetSize returns the size of a key's value.
func (kv *KV) GetSize(ctx context.Context, key ds.Key) (int, error) {
	e, err := kv.entry(ctx, key)
	if err != nil {
		return -1, err
	}
	return len(e.Value), nil
}

// Put sets a key.
func (kv *KV) Put(ctx context.Context, key ds.Key, value []byte) error {
	_, err := kv.m.Write(ctx, kv.tid, Ops{KV: []KVOp{{Key: key.String(), Value: value}}})
	return err
}

// Delete deletes a key (a tombstone event). Deleting a missing key is not an
// error and writes nothing.
func (kv *KV) Delete(ctx context.Context, key ds.Key) error {
	if has, err := kv.Has(ctx, key); err != nil || !has {
		return err
	}
	_, err := kv.m.Write(ctx, kv.tid, Ops{KV: []KVOp{{Key: key.String(), Delete: true}}})
	return err
}

// Query lists entries, with go-datastore's query semantics.
func (kv *KV) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	base := kvPrefix(kv.tid)
	prefix := ds.NewKey(q.Prefix).String()
	if prefix == "/" {
		prefix = ""
	}
	res, err := kv.m.store.Query(ctx, dsq.Query{Prefix: base + prefix})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := make([]dsq.Entry, 0, len(entries))
	for _, e := range entries {
		var entry KVEntry
		if err := codec.Unmarshal(e.Value, &entry); err != nil {
			return nil, fmt.Errorf("view entry %s: %w", e.Key, err)
		}
		if entry.Deleted {
			continue
		}
		qe := dsq.Entry{Key: e.Key[len(base):], Size: len(entry.Value)}
		if !q.KeysOnly {
			qe.Value = entry.Value
			if qe.Value == nil {
				qe.Value = []byte{}
			}
		}
		out = append(out, qe)
	}
	// Filters, orders, offset and limit apply to live entries only.
	naive := q
	naive.Prefix = ""
	return dsq.NaiveQueryApply(naive, dsq.ResultsWithEntries(q, out)), nil
}

// Sync does nothing: every write is durable when it returns.
func (kv *KV) Sync(context.Context, ds.Key) error { return nil }

// Close does nothing; the manager owns the view.
func (kv *KV) Close() error { return nil }

// Batch collects writes into one event, applied atomically.
func (kv *KV) Batch(context.Context) (ds.Batch, error) {
	return &kvBatch{kv: kv}, nil
}

type kvBatch struct {
	kv  *KV
	ops []KVOp
}

func (b *kvBatch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.ops = append(b.ops, KVOp{Key: key.String(), Value: append([]byte(nil), value...)})
	return nil
}

func (b *kvBatch) Delete(_ context.Context, key ds.Key) error {
	b.ops = append(b.ops, KVOp{Key: key.String(), Delete: true})
	return nil
}

// Commit writes the batch as one event, or as several when it does not fit
// one (MaxEventOps operations, the body size limit).
func (b *kvBatch) Commit(ctx context.Context) error {
	ops := b.ops
	b.ops = nil
	limit := b.kv.m.s.Config().MaxBodySize - 1024
	for len(ops) > 0 {
		n := fitOps(len(ops), limit, func(i int) int { return kvOpSize(ops[i]) }, nil)
		if _, err := b.kv.m.Write(ctx, b.kv.tid, Ops{KV: ops[:n]}); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}
