package threads

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// threadRecord is what the key book keeps of a thread.
type threadRecord struct {
	ID      []byte `cbor:"id"`
	Created int64  `cbor:"created"`
	Follow  []byte `cbor:"follow"`
	Read    []byte `cbor:"read,omitempty"` // absent on followers
	// OldRead are the read keys before the current one, oldest first.
	OldRead [][]byte `cbor:"oldread,omitempty"`
	// Creator is an access-controlled thread's creator.
	Creator []byte `cbor:"creator,omitempty"`
}

// logRecord is a log's identity and head.
type logRecord struct {
	ID      []byte `cbor:"id"`
	PrivKey []byte `cbor:"sk,omitempty"` // only for logs this node writes
	// Identity marks a log keyed by the node's identity (access-controlled
	// threads): its private key is the node's, not stored here.
	Identity bool   `cbor:"idk,omitempty"`
	Head     []byte `cbor:"head,omitempty"`
	Seq      uint64 `cbor:"seq"`
	Pinned   []byte `cbor:"pinned,omitempty"` // retention root as last pinned
	// HeadClock is the head's hybrid clock (after a compaction that left
	// the head at the base, the base's). Records written before it have
	// none: it is read from the head event when the thread opens.
	HeadClock *codec.Clock `cbor:"hc,omitempty"`
	// Compaction: the log holds events Base+1..Seq; BaseCid is the event at
	// Base; CEvents and CBytes count what was dropped.
	Base    uint64 `cbor:"base,omitempty"`
	BaseCid []byte `cbor:"bcid,omitempty"`
	CEvents uint64 `cbor:"ce,omitempty"`
	CBytes  uint64 `cbor:"cb,omitempty"`
}

func threadKey(tid ipel.ThreadID) ds.Key {
	return ds.KeyWithNamespaces([]string{"m", tid.String()})
}

func logKey(tid ipel.ThreadID, log ipel.LogID) ds.Key {
	return ds.KeyWithNamespaces([]string{"lg", tid.String(), log.String()})
}

func eventKey(tid ipel.ThreadID, log ipel.LogID, seq uint64) ds.Key {
	return ds.KeyWithNamespaces([]string{"ev", tid.String(), log.String(), seqString(seq)})
}

func evidenceKey(tid ipel.ThreadID, log ipel.LogID, seq uint64, c cid.Cid) ds.Key {
	return ds.KeyWithNamespaces([]string{"eq", tid.String(), log.String(), seqString(seq), c.String()})
}

func snapshotRecordKey(tid ipel.ThreadID) ds.Key {
	return ds.KeyWithNamespaces([]string{"sn", tid.String()})
}

func inviteKey(tid ipel.ThreadID, from peer.ID) ds.Key {
	return ds.KeyWithNamespaces([]string{"inv", tid.String(), from.String()})
}

// queryAll returns every entry under prefix.
func queryAll(ctx context.Context, store ds.Datastore, prefix string) ([]dsq.Entry, error) {
	res, err := store.Query(ctx, dsq.Query{Prefix: prefix})
	if err != nil {
		return nil, err
	}
	return res.Rest()
}

// threadPrefixes are every key prefix that holds a thread's state.
func threadPrefixes(tid ipel.ThreadID) []string {
	t := tid.String()
	return []string{"/lg/" + t + "/", "/ev/" + t + "/", "/eq/" + t + "/", "/inv/" + t + "/", "/af/" + t + "/"}
}

func seqString(seq uint64) string {
	s := strconv.FormatUint(seq, 16)
	return "0000000000000000"[len(s):] + s
}

func putCBOR(ctx context.Context, w ds.Write, k ds.Key, v any) error {
	b, err := codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return w.Put(ctx, k, b)
}

func getCBOR(ctx context.Context, r ds.Read, k ds.Key, v any) error {
	b, err := r.Get(ctx, k)
	if err != nil {
		return err
	}
	if err := codec.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", k, err)
	}
	return nil
}

func (r *logRecord) toState() (*logState, error) {
	id, err := ipel.LogIDFromBytes(r.ID)
	if err != nil {
		return nil, err
	}
	st := &logState{id: id, seq: r.Seq, base: r.Base, compactedEvents: r.CEvents, compactedBytes: r.CBytes}
	if r.HeadClock != nil {
		st.headClock = *r.HeadClock
	}
	if len(r.BaseCid) > 0 {
		if st.baseCid, err = cid.Cast(r.BaseCid); err != nil {
			return nil, fmt.Errorf("log %s: base: %w", id, err)
		}
	}
	if len(r.PrivKey) > 0 {
		if st.sk, err = crypto.UnmarshalPrivateKey(r.PrivKey); err != nil {
			return nil, fmt.Errorf("log %s: private key: %w", id, err)
		}
	}
	if len(r.Head) > 0 {
		if st.head, err = cid.Cast(r.Head); err != nil {
			return nil, fmt.Errorf("log %s: head: %w", id, err)
		}
	}
	if len(r.Pinned) > 0 {
		if st.pinned, err = cid.Cast(r.Pinned); err != nil {
			return nil, fmt.Errorf("log %s: pinned head: %w", id, err)
		}
	}
	return st, nil
}

func (st *logState) record() (*logRecord, error) {
	r := &logRecord{ID: []byte(st.id), Seq: st.seq, Base: st.base, CEvents: st.compactedEvents, CBytes: st.compactedBytes}
	if st.baseCid.Defined() {
		r.BaseCid = st.baseCid.Bytes()
	}
	if st.identity {
		r.Identity = true
	} else if st.sk != nil {
		b, err := crypto.MarshalPrivateKey(st.sk)
		if err != nil {
			return nil, fmt.Errorf("log %s: private key: %w", st.id, err)
		}
		r.PrivKey = b
	}
	if st.head.Defined() {
		r.Head = st.head.Bytes()
		hc := st.headClock
		r.HeadClock = &hc
	}
	if st.pinned.Defined() {
		r.Pinned = st.pinned.Bytes()
	}
	return r, nil
}

// deletePrefix deletes every key under prefix in batches.
func deletePrefix(ctx context.Context, store ds.Batching, prefix string) error {
	res, err := store.Query(ctx, dsq.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	defer res.Close()
	b, err := store.Batch(ctx)
	if err != nil {
		return err
	}
	n := 0
	for e := range res.Next() {
		if e.Error != nil {
			return fmt.Errorf("list %s: %w", prefix, e.Error)
		}
		if err := b.Delete(ctx, ds.NewKey(e.Key)); err != nil {
			return err
		}
		if n++; n%1024 == 0 {
			if err := b.Commit(ctx); err != nil {
				return err
			}
			if b, err = store.Batch(ctx); err != nil {
				return err
			}
		}
	}
	return b.Commit(ctx)
}

func isNotFound(err error) bool { return errors.Is(err, ds.ErrNotFound) }
