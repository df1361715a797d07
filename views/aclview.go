package views

import (
	"context"
	"encoding/hex"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// The ACL's operations are kept, as they arrive, under the thread's view
// prefix (so snapshots carry them), and a view rebuild keeps them: the ACL
// must be whole before content is judged against it.

func aclPrefix(tid ipel.ThreadID) string { return threadPrefix(tid) + "/acl" }

func aclRecordKey(tid ipel.ThreadID, v Version) ds.Key {
	return ds.RawKey(fmt.Sprintf("%s/%016x%08x%s%016x%08x", aclPrefix(tid), uint64(v.Clock.Wall), v.Clock.Counter, hex.EncodeToString(v.Log), v.Seq, v.Index))
}

// enforce stores an event's ACL operations and blanks the operations its
// writer may not make at its seq (see ACL.allowed).
func (env *applyEnv) enforce(ctx context.Context, ov *overlay, rec threads.Record, ops Ops) (Ops, error) {
	author := rec.Log.String()
	base := len(ops.KV) + len(ops.Docs)
	for i, op := range ops.ACL {
		r := aclRecord{Op: op, Author: author, Seq: rec.Seq, Version: Version{Clock: rec.Clock, Log: []byte(rec.Log), Seq: rec.Seq, Index: base + i}}
		b, err := codec.Marshal(&r)
		if err != nil {
			return ops, err
		}
		if err := ov.Put(ctx, aclRecordKey(rec.Thread, r.Version), b); err != nil {
			return ops, err
		}
		env.added = append(env.added, r)
	}
	return env.acl.allowed(author, rec.Seq, ops), nil
}

// allowed blanks the content operations a writer may not make at its seq:
// puts and index declarations need the write role, deletes the delete role
// (on the document, for documents), and collection declarations the delete
// role too (a schema can hide documents). It is a function of the ACL and
// the event alone, which re-judging relies on (see rejudge.go).
func (a *ACL) allowed(author string, seq uint64, ops Ops) Ops {
	role := a.Role(author, seq)
	kv := append([]KVOp(nil), ops.KV...)
	for i, op := range kv {
		if role < RoleWrite || (op.Delete && role < RoleDelete) {
			kv[i] = KVOp{}
		}
	}
	docs := append([]DocOp(nil), ops.Docs...)
	for i, op := range docs {
		need := RoleWrite
		if op.Kind == DocDelete || op.Kind == DocCollection {
			need = RoleDelete
		}
		got := role
		if op.Kind == DocPut || op.Kind == DocDelete {
			got = a.DocRole(op.Coll, op.ID, author, seq)
		}
		if got < need {
			docs[i] = DocOp{}
		}
	}
	ops.KV, ops.Docs = kv, docs
	return ops
}

// loadACLRecords reads a thread's stored ACL operations.
func (m *Manager) loadACLRecords(ctx context.Context, tid ipel.ThreadID) ([]aclRecord, error) {
	res, err := m.store.Query(ctx, dsq.Query{Prefix: aclPrefix(tid)})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := make([]aclRecord, 0, len(entries))
	for _, e := range entries {
		var r aclRecord
		if err := codec.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("ACL entry %s: %w", e.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// loadRunnerACL resolves an access-controlled thread's ACL from its stored
// operations; raw threads have none.
func (m *Manager) loadRunnerACL(ctx context.Context, r *runner) error {
	if r.tid.Variant() != ipel.VariantAccessControlled {
		return nil
	}
	ti, err := m.s.Info(r.tid)
	if err != nil {
		return err
	}
	recs, err := m.loadACLRecords(ctx, r.tid)
	if err != nil {
		return err
	}
	r.creator, r.aclRecs, r.installed = ti.Creator.String(), nil, map[string]*codec.Key{}
	r.addACLRecords(recs)
	r.acl = ResolveACL(r.creator, r.aclRecs)
	m.installKeys(ctx, r)
	return nil
}

// replayKey marks a thread whose views must be applied again under a
// changed ACL; the replay deletes it with the views.
func replayKey(tid ipel.ThreadID) ds.Key { return ds.RawKey(threadPrefix(tid) + "/replay") }

// addACLRecords remembers ACL operations, once each (a replay applies them
// again).
func (r *runner) addACLRecords(recs []aclRecord) {
	seen := make(map[string]bool, len(r.aclRecs))
	for _, rec := range r.aclRecs {
		seen[aclRecordKey(r.tid, rec.Version).String()] = true
	}
	for _, rec := range recs {
		if k := aclRecordKey(r.tid, rec.Version).String(); !seen[k] {
			seen[k] = true
			r.aclRecs = append(r.aclRecs, rec)
		}
	}
}

// installKeys hands the engine every rotated read key sealed to this node,
// and makes the key of the last valid rotation (in version order) the one
// new events are sealed with, whatever order the rotations arrived in.
func (m *Manager) installKeys(ctx context.Context, r *runner) {
	self := m.s.Self().String()
	var last *codec.Key
	for _, rot := range r.acl.Rotations {
		sealed, ok := rot.Keys[self]
		if !ok {
			continue
		}
		id := hex.EncodeToString(sealed)
		key, known := r.installed[id]
		if !known {
			raw, err := m.s.OpenSealed(sealed)
			if err == nil {
				key, err = codec.KeyFromBytes(raw)
			}
			if err != nil {
				log.Warnf("views of %s: rotated read key %d: %s", r.tid, rot.Epoch, err)
			}
			r.installed[id] = key // nil: does not open, do not try again
		}
		if key == nil {
			continue
		}
		if err := m.s.SetCurrentReadKey(ctx, r.tid, key); err != nil {
			log.Warnf("views of %s: rotated read key %d: %s", r.tid, rot.Epoch, err)
			continue
		}
		last = key
	}
	if last != nil {
		if err := m.s.SetCurrentReadKey(ctx, r.tid, last); err != nil {
			log.Warnf("views of %s: current read key: %s", r.tid, err)
		}
	}
}

// replay drops a thread's views (not its ACL operations) and starts
// applying its events again from the start, without feeding changes
// already fed.
func (m *Manager) replay(ctx context.Context, r *runner) (map[ipel.LogID]uint64, error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if err := m.dropViews(ctx, r.tid); err != nil {
		return nil, err
	}
	r.mu.Lock()
	quiet := copyCursors(r.feed.quiet)
	for l, s := range r.applied {
		quiet[l] = max(quiet[l], s)
	}
	r.feed.quiet = quiet
	r.applied = map[ipel.LogID]uint64{}
	close(r.moved)
	r.moved = make(chan struct{})
	r.mu.Unlock()
	return map[ipel.LogID]uint64{}, nil
}
