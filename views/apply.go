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

// applyEnv is what applying events needs beside the events and the state;
// one serves a batch.
type applyEnv struct {
	schemas *schemaCache // caches compiled schemas
	// acl, in an access-controlled thread, decides which operations count;
	// nil in a raw thread.
	acl *ACL
	// added collects the ACL operations kept, removed those kept before
	// and no longer (access-controlled threads; see keepACLOp).
	added, removed []aclRecord
	// hides tracks the puts that did not count as they would have hidden
	// a document (access-controlled threads; see docReducer.counts).
	hides *hideTracker
	// colls caches the collections the batch read; reset when an event is
	// dropped.
	colls map[string]*collState
	// report is what the current event skipped or refused.
	report applyReport
	// rechecks is set when an event of the batch marked a collection to
	// re-check, schemaMarked when one marked a schema change.
	rechecks, schemaMarked bool
}

// applyRecord folds one event into the views: it reads current state from r
// (through writes already made to w in this batch), writes new state and the
// log's cursor to w, and returns the visible document changes. It is the
// only place events meet state; it depends on nothing but its arguments.
func applyRecord(ctx context.Context, r ds.Read, w ds.Write, env *applyEnv, rec threads.Record) ([]DocChange, error) {
	ov := newOverlay(r)
	changes, err := applyRecordOverlay(ctx, ov, env, rec)
	if err != nil {
		return nil, err
	}
	ov.endEvent(true)
	return changes, ov.flush(ctx, w)
}

// applyRecordOverlay applies one event to the overlay's current event. An
// event that carries the view operations' marker but does not decode, or
// over the budget (see budget.go), is skipped whole: only its cursor moves.
func applyRecordOverlay(ctx context.Context, ov *overlay, env *applyEnv, rec threads.Record) ([]DocChange, error) {
	env.report = applyReport{}
	dr := &docReducer{env: env, tid: rec.Thread, ov: ov, by: rec.EventRef}
	// Private events (rec.To set) are never view operations, not even for
	// their recipient: every replica must compute the same views.
	ops, err := DecodeOps(rec.Body)
	switch {
	case rec.To != "" || errors.Is(err, ErrNotOps):
	case err != nil:
		env.report.skipped, env.report.detail = SkipMalformed, err.Error()
	default:
		if reason := costOf(ops).overBudget(); reason != "" {
			env.report.skipped = reason
			break
		}
		if err := applyOps(ctx, ov, env, dr, rec, ops); err != nil {
			return nil, err
		}
	}
	return dr.changes, putCursor(ctx, ov, rec)
}

// applyOps applies an event's operations: its ACL operations are kept or
// not (access-controlled threads), and its content operations applied, but
// those the ACL or the limits refuse.
func applyOps(ctx context.Context, ov *overlay, env *applyEnv, dr *docReducer, rec threads.Record, ops Ops) error {
	if env.acl != nil {
		allowed, err := env.enforce(ctx, ov, rec, ops)
		if err != nil {
			return err
		}
		for i := range ops.KV {
			if ops.KV[i].Key != "" && allowed.KV[i].Key == "" {
				env.report.refuse(RefuseACL)
			}
		}
		for i := range ops.Docs {
			if ops.Docs[i].Kind != 0 && allowed.Docs[i].Kind == 0 {
				env.report.refuse(RefuseACL)
			}
		}
		ops = allowed
	}
	for i, op := range ops.KV {
		if op.Key == "" {
			continue // refused by the ACL
		}
		if err := applyKV(ctx, ov, env, rec, op, i); err != nil {
			return err
		}
	}
	for i, op := range ops.Docs {
		if op.Kind == 0 {
			continue // refused by the ACL
		}
		if err := dr.apply(ctx, op, opVersion(rec, len(ops.KV)+i)); err != nil {
			return fmt.Errorf("documents: %w", err)
		}
	}
	return nil
}

// applyKV folds one key/value operation.
func applyKV(ctx context.Context, ov *overlay, env *applyEnv, rec threads.Record, op KVOp, i int) error {
	switch {
	case len(op.Key) > MaxKeySize:
		env.report.refuse(RefuseKeySize)
		return nil
	case len(op.Value) > MaxDocSize:
		env.report.refuse(RefuseValueSize)
		return nil
	}
	k := kvKey(rec.Thread, ds.NewKey(op.Key))
	var cur *KVEntry
	b, err := ov.get(ctx, k)
	switch {
	case err == nil:
		var e KVEntry
		if err := codec.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("view entry %s: %w", k, err)
		}
		cur = &e
	case errors.Is(err, ds.ErrNotFound):
	default:
		return err
	}
	next, changed := ResolveKV(cur, op, opVersion(rec, i))
	if !changed {
		return nil
	}
	nb, err := codec.Marshal(&next)
	if err != nil {
		return err
	}
	return ov.Put(ctx, k, nb)
}

func putCursor(ctx context.Context, ov *overlay, rec threads.Record) error {
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], rec.Seq)
	return ov.Put(ctx, cursorKey(rec.Thread, rec.Log), seq[:])
}
