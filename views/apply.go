package views

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

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
	pending map[ds.Key][]byte // nil: deleted
}

func newOverlay(r ds.Read) *overlay { return &overlay{r: r, pending: map[ds.Key][]byte{}} }

func (o *overlay) get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := o.pending[k]; ok {
		if v == nil {
			return nil, ds.ErrNotFound
		}
		return v, nil
	}
	return o.r.Get(ctx, k)
}

func (o *overlay) put(ctx context.Context, w ds.Write, k ds.Key, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	o.pending[k] = v
	return w.Put(ctx, k, v)
}

func (o *overlay) del(ctx context.Context, w ds.Write, k ds.Key) error {
	o.pending[k] = nil
	return w.Delete(ctx, k)
}

// scan lists the entries under a key prefix, in key order.
func (o *overlay) scan(ctx context.Context, prefix string) ([]dsq.Entry, error) {
	res, err := o.r.Query(ctx, dsq.Query{Prefix: prefix})
	if err != nil {
		return nil, err
	}
	found := map[string][]byte{}
	for e := range res.Next() {
		if e.Error != nil {
			res.Close()
			return nil, e.Error
		}
		found[e.Key] = e.Value
	}
	under := prefix + "/"
	for k, v := range o.pending {
		if ks := k.String(); strings.HasPrefix(ks, under) {
			if v == nil {
				delete(found, ks)
			} else {
				found[ks] = v
			}
		}
	}
	out := make([]dsq.Entry, 0, len(found))
	for _, k := range sortedKeys(found) {
		out = append(out, dsq.Entry{Key: k, Value: found[k]})
	}
	return out, nil
}

// scanFirst lists the first n entries under a key prefix, in key order.
func (o *overlay) scanFirst(ctx context.Context, prefix string, n int) ([]dsq.Entry, error) {
	under := prefix + "/"
	pending := map[string][]byte{}
	deleted := 0
	for k, v := range o.pending {
		if ks := k.String(); strings.HasPrefix(ks, under) {
			pending[ks] = v
			if v == nil {
				deleted++
			}
		}
	}
	// Of the stored entries, past the first n+deleted none can be in the
	// first n once the pending writes are merged.
	res, err := o.r.Query(ctx, dsq.Query{Prefix: prefix, Orders: []dsq.Order{dsq.OrderByKey{}}, Limit: n + deleted})
	if err != nil {
		return nil, err
	}
	found := map[string][]byte{}
	for e := range res.Next() {
		if e.Error != nil {
			res.Close()
			return nil, e.Error
		}
		found[e.Key] = e.Value
	}
	for k, v := range pending {
		if v == nil {
			delete(found, k)
		} else {
			found[k] = v
		}
	}
	keys := sortedKeys(found)
	out := make([]dsq.Entry, 0, min(n, len(keys)))
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, dsq.Entry{Key: k, Value: found[k]})
	}
	return out, nil
}

// applyEnv is what applying events needs beside the events and the state.
type applyEnv struct {
	schemas *schemaCache // caches compiled schemas
	// acl, in an access-controlled thread, decides which operations count;
	// nil in a raw thread.
	acl *ACL
	// added collects the ACL operations kept, removed those a replay no
	// longer keeps (access-controlled threads).
	added, removed []aclRecord
	// hides tracks the collections where puts that would have hidden a
	// document did not count (access-controlled threads; see
	// docReducer.counts); rejudge asks for the thread's events to be
	// applied again, because a schema change judges such puts differently.
	hides   *hideTracker
	rejudge bool
}

// applyRecord folds one event into the views: it reads current state from r
// (through writes already made to w in this batch), writes new state and the
// log's cursor to w, and returns the visible document changes. It is the
// only place events meet state; it depends on nothing but its arguments.
func applyRecord(ctx context.Context, r ds.Read, w ds.Write, env *applyEnv, rec threads.Record) ([]DocChange, error) {
	return applyRecordOverlay(ctx, newOverlay(r), w, env, rec)
}

func applyRecordOverlay(ctx context.Context, ov *overlay, w ds.Write, env *applyEnv, rec threads.Record) ([]DocChange, error) {
	dr := &docReducer{schemas: env.schemas, tid: rec.Thread, ov: ov, w: w, env: env}
	// Private events (rec.To set) are never view operations, not even for
	// their recipient: every replica must compute the same views.
	ops, derr := DecodeOps(rec.Body)
	if rec.To != "" {
		derr = ErrNotOps
	}
	if errors.Is(derr, ErrMalformedOps) {
		log.Warnf("views of %s: event %s skipped: %s", rec.Thread, rec.Cid, derr)
		if err := countSkipped(ctx, ov, w, rec.Thread, SkipMalformed); err != nil {
			return nil, err
		}
	}
	if derr == nil {
		if env.acl != nil {
			var err error
			if ops, err = env.enforce(ctx, ov, w, rec, ops, dr); err != nil {
				return nil, err
			}
		}
		for i, op := range ops.KV {
			if op.Key == "" {
				continue // refused by the ACL
			}
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
			if err := ov.put(ctx, w, k, nb); err != nil {
				return nil, err
			}
		}
		for i, op := range ops.Docs {
			if op.Kind == 0 {
				continue // refused by the ACL
			}
			v := Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: len(ops.KV) + i}
			if err := dr.apply(ctx, op, v); err != nil {
				return nil, fmt.Errorf("documents: %w", err)
			}
		}
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], rec.Seq)
	if err := ov.put(ctx, w, cursorKey(rec.Thread, rec.Log), seq[:]); err != nil {
		return nil, err
	}
	return dr.changes, nil
}
