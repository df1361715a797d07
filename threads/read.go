package threads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// Record is a verified event as a reader sees it.
type Record struct {
	EventRef
	Clock codec.Clock
	// Time is the writer's wall clock at append; zero without the read key.
	Time time.Time
	// Body is the decrypted payload; nil without the read key, and nil for
	// a private event sealed to another peer.
	Body []byte
	// To is a private event's recipient; empty for an ordinary event (and
	// without the read key).
	To peer.ID
	// Private is set when the event is sealed to another peer than this
	// node: it exists, but its Body is not readable here.
	Private bool
	// NotAuthentic is set, with a nil Body, for a private event to this
	// node whose sealed content key was made for another event: its
	// writer copied someone else's private event into its own log.
	NotAuthentic bool
}

// Query selects events of a thread.
type Query struct {
	// Log restricts the result to one log; every log when empty.
	Log ipel.LogID
	// Since skips each log's events up to and including this seq.
	Since uint64
	// Limit caps the number of events; no cap when 0.
	Limit int
}

// Events lists verified, decrypted events. Each log's events come in log
// order; events of different logs are merged by their hybrid logical clock,
// then log ID, an order every replica agrees on.
func (s *Service) Events(ctx context.Context, tid ipel.ThreadID, q Query) ([]Record, error) {
	th, err := s.thread(tid)
	if err != nil {
		return nil, err
	}
	if th.read.Load() == nil {
		return nil, fmt.Errorf("read %s: %w", tid, ErrNoReadKey)
	}
	th.mu.Lock()
	var logs []logState
	for _, st := range th.logs {
		if q.Log == "" || st.id == q.Log {
			logs = append(logs, *st)
		}
	}
	th.mu.Unlock()
	if q.Log != "" && len(logs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrLogNotFound, q.Log)
	}
	var out []Record
	for _, st := range logs {
		// Compacted events are not listed: a log starts after its base.
		since := max(q.Since, st.base)
		to := st.seq
		if q.Limit > 0 && since+uint64(q.Limit) < to {
			to = since + uint64(q.Limit)
		}
		recs, err := s.readRange(ctx, th, st.id, since+1, to, true)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	if len(logs) > 1 {
		sort.SliceStable(out, func(i, j int) bool {
			if c := out[i].Clock.Compare(out[j].Clock); c != 0 {
				return c < 0
			}
			return out[i].Log < out[j].Log
		})
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// readRange reads and decrypts events from..to of a log, verifying their
// signatures when verify is set. Events below the log's base are compacted
// (a *CompactedError).
func (s *Service) readRange(ctx context.Context, th *thread, logID ipel.LogID, from, to uint64, verify bool) ([]Record, error) {
	if from > to {
		return nil, nil
	}
	compacted := func() error {
		th.mu.Lock()
		defer th.mu.Unlock()
		if st := th.logs[logID]; st != nil && from <= st.base {
			return &CompactedError{Log: logID, Base: st.base}
		}
		return nil
	}
	if err := compacted(); err != nil {
		return nil, err
	}
	out := make([]Record, 0, to-from+1)
	for seq := from; seq <= to; seq++ {
		b, err := s.deps.Datastore.Get(ctx, eventKey(th.id, logID, seq))
		if err != nil {
			if cerr := compacted(); cerr != nil {
				return nil, cerr // compacted while reading
			}
			return nil, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
		}
		c, err := cid.Cast(b)
		if err != nil {
			return nil, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
		}
		rec, err := s.readEvent(ctx, th, logID, c, verify)
		if err != nil {
			return nil, err
		}
		if rec.Seq != seq {
			return nil, fmt.Errorf("log %s: event %s claims seq %d, indexed at %d", logID, c, rec.Seq, seq)
		}
		out = append(out, rec)
	}
	return out, nil
}

// readEvent loads an event block, verifies it against the log (unless
// verify is false) and decrypts what the node's keys allow.
func (s *Service) readEvent(ctx context.Context, th *thread, logID ipel.LogID, c cid.Cid, verify bool) (Record, error) {
	blk, err := s.deps.Blockstore.Get(ctx, c)
	if err != nil {
		return Record{}, fmt.Errorf("event %s: %w", c, err)
	}
	ev, err := codec.OpenStored(blk, th.follow)
	if err != nil {
		return Record{}, err
	}
	if logID == "" {
		if logID, err = ev.LogID(); err != nil {
			return Record{}, fmt.Errorf("event %s: %w", c, err)
		}
	}
	if verify {
		if err := ev.Verify(th.id, logID); err != nil {
			return Record{}, err
		}
	} else if string(ev.Log) != string(logID) || string(ev.Thread) != string(th.id.Bytes()) {
		return Record{}, fmt.Errorf("event %s: %w", c, codec.ErrWrongLog)
	}
	rec := Record{EventRef: EventRef{Thread: th.id, Log: logID, Seq: ev.Seq, Cid: c}, Clock: ev.Clock}
	if th.read.Load() == nil {
		return rec, nil
	}
	h, err := th.openHeader(ev)
	if err != nil {
		return Record{}, err
	}
	rec.Time = h.WallTime()
	rec.To = h.Recipient()
	if h.Private() && !s.isSelf(rec.To) {
		rec.Private = true
		return rec, nil
	}
	sealed := ev.Body
	if ev.BodyLink.Defined() {
		bb, err := s.deps.Blockstore.Get(ctx, ev.BodyLink.Cid)
		if err != nil {
			return Record{}, fmt.Errorf("event %s: body block %s: %w", c, ev.BodyLink.Cid, err)
		}
		sealed = bb.RawData()
	}
	rec.Body, err = ev.OpenBodyAs(h, sealed, s.deps.Identity)
	if errors.Is(err, codec.ErrNotAuthentic) {
		rec.Body, rec.NotAuthentic = nil, true
		return rec, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("event %s: body: %w", c, err)
	}
	return rec, nil
}

// isSelf reports whether id is this node's identity (Deps.Identity).
func (s *Service) isSelf(id peer.ID) bool {
	if s.deps.Identity == nil || id == "" {
		return false
	}
	self, err := peer.IDFromPrivateKey(s.deps.Identity)
	return err == nil && self == id
}

// Event reads one event of a thread by CID. The event must be the one the
// thread's log holds at its seq: a stray or conflicting block with the
// thread's keys is not part of the thread.
func (s *Service) Event(ctx context.Context, tid ipel.ThreadID, c cid.Cid) (Record, error) {
	th, err := s.thread(tid)
	if err != nil {
		return Record{}, err
	}
	if th.read.Load() == nil {
		return Record{}, fmt.Errorf("read %s: %w", tid, ErrNoReadKey)
	}
	if c.Prefix().Codec != codec.EventCodec {
		return Record{}, fmt.Errorf("%w: %s is not an event CID (codec 0x%x)", ErrEventNotFound, c, c.Prefix().Codec)
	}
	if has, err := s.deps.Blockstore.Has(ctx, c); err != nil {
		return Record{}, err
	} else if !has {
		return Record{}, fmt.Errorf("%w: %s", ErrEventNotFound, c)
	}
	rec, err := s.readEvent(ctx, th, "", c, true)
	if errors.Is(err, codec.ErrDecrypt) {
		return Record{}, fmt.Errorf("%w: %s does not open with the thread's keys", ErrEventNotFound, c)
	}
	if err != nil {
		return Record{}, err
	}
	th.mu.Lock()
	_, known := th.logs[rec.Log]
	th.mu.Unlock()
	if !known {
		return Record{}, fmt.Errorf("%w: %s (log %s is not part of the thread)", ErrEventNotFound, c, rec.Log)
	}
	b, err := s.deps.Datastore.Get(ctx, eventKey(tid, rec.Log, rec.Seq))
	if isNotFound(err) {
		return Record{}, fmt.Errorf("%w: %s", ErrEventNotFound, c)
	}
	if err != nil {
		return Record{}, err
	}
	if indexed, err := cid.Cast(b); err != nil || !indexed.Equals(c) {
		return Record{}, fmt.Errorf("%w: %s conflicts with event %d of log %s", ErrEventNotFound, c, rec.Seq, rec.Log)
	}
	return rec, nil
}

// Listen calls fn with every event of the thread after seq since in each
// log, in log order, then with every event appended or received later, until
// ctx ends, fn fails, or the thread is removed. It reads from the store, so
// a slow fn misses nothing.
func (s *Service) Listen(ctx context.Context, tid ipel.ThreadID, since uint64, fn func(Record) error) error {
	return s.ListenFrom(ctx, tid, Cursor{Since: since}, fn)
}

// Cursor says where a listener starts: after seq Logs[log] in the logs it
// names, after Since in the others. A log compacted past where the cursor
// starts is listened to from its base, unless Strict is set: then
// ListenFrom fails with a *CompactedError (views must then start from the
// snapshot).
type Cursor struct {
	Since  uint64
	Logs   map[ipel.LogID]uint64
	Strict bool
}

// ListenFrom is Listen with a cursor per log.
func (s *Service) ListenFrom(ctx context.Context, tid ipel.ThreadID, from Cursor, fn func(Record) error) error {
	return s.listen(ctx, tid, from, true, 256, func(recs []Record) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListenBatches is ListenFrom for the views: it hands over events in
// batches of up to batch events of one log, and does not verify their
// signatures again. Events in the local index were verified when they were
// stored (Ingest) or signed here (Append), and are content-addressed: the
// block read is the block verified (its hash is checked by the blockstore's
// CID and by codec.OpenStored's AEAD under the follow key).
func (s *Service) ListenBatches(ctx context.Context, tid ipel.ThreadID, from Cursor, batch int, fn func([]Record) error) error {
	return s.listen(ctx, tid, from, false, max(batch, 1), fn)
}

func (s *Service) listen(ctx context.Context, tid ipel.ThreadID, from Cursor, verify bool, chunk int, fn func([]Record) error) error {
	th, err := s.thread(tid)
	if err != nil {
		return err
	}
	if th.read.Load() == nil {
		return fmt.Errorf("listen %s: %w", tid, ErrNoReadKey)
	}
	cursors := make(map[ipel.LogID]uint64, len(from.Logs))
	for id, seq := range from.Logs {
		cursors[id] = seq
	}
	for {
		th.mu.Lock()
		if th.removed {
			th.mu.Unlock()
			if _, err := s.thread(tid); errors.Is(err, ErrClosed) {
				return err
			}
			return fmt.Errorf("%w: %s (removed)", ErrThreadNotFound, tid)
		}
		changed := th.changed
		heads := make(map[ipel.LogID]uint64, len(th.logs))
		bases := make(map[ipel.LogID]uint64, len(th.logs))
		for id, st := range th.logs {
			heads[id] = st.seq
			bases[id] = st.base
		}
		th.mu.Unlock()

		ids := make([]ipel.LogID, 0, len(heads))
		for id := range heads {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			cur, ok := cursors[id]
			if !ok {
				cur = from.Since
			}
			if cur < bases[id] && !from.Strict {
				cur = bases[id]
			}
			for cur < heads[id] {
				to := min(heads[id], cur+uint64(chunk))
				recs, err := s.readRange(ctx, th, id, cur+1, to, verify)
				var cerr *CompactedError
				if errors.As(err, &cerr) && !from.Strict {
					cur = max(cur, cerr.Base)
					continue
				}
				if err != nil {
					return err
				}
				if err := fn(recs); err != nil {
					return err
				}
				cur = to
			}
			cursors[id] = cur
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
