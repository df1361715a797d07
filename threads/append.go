package threads

import (
	"context"
	"errors"
	"fmt"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// EventRef names an event in a thread.
type EventRef struct {
	Thread ipel.ThreadID
	Log    ipel.LogID
	Seq    uint64
	Cid    cid.Cid
}

type appendReq struct {
	content codec.Content
	done    chan appendResult
}

type appendResult struct {
	ref EventRef
	err error
}

// Append adds an event with the given body to this node's log of a thread.
// When it returns without error the event is durable: its blocks, its index
// entry and the new head are on disk.
//
// Concurrent appends to a thread are group-committed: one appender at a
// time signs and writes every appender's event in one blockstore write and
// one datastore batch.
func (s *Service) Append(ctx context.Context, tid ipel.ThreadID, body []byte) (EventRef, error) {
	return s.AppendTo(ctx, tid, "", body)
}

// ErrBadRecipient is returned when a private event's recipient has no
// usable key: its peer ID must embed an Ed25519 public key.
var ErrBadRecipient = errors.New("invalid private event recipient")

// AppendTo is Append for a private event when to is not empty: the body is
// sealed to that peer (paper §3.1.3, case 2). Every member sees the event,
// its time and its recipient; only the recipient, with its node identity
// key, reads the body; the sender does not either. The recipient's key is
// taken from its peer ID, which must be an Ed25519 one (they embed it).
func (s *Service) AppendTo(ctx context.Context, tid ipel.ThreadID, to peer.ID, body []byte) (EventRef, error) {
	var toKey crypto.PubKey
	if to != "" {
		pk, err := to.ExtractPublicKey()
		if err != nil {
			return EventRef{}, fmt.Errorf("%w: %s: its peer ID does not embed a public key (only Ed25519 peer IDs can receive private events): %v", ErrBadRecipient, to, err)
		}
		if pk.Type() != crypto.Ed25519 {
			return EventRef{}, fmt.Errorf("%w: %s has a %s key; private events need an Ed25519 peer ID", ErrBadRecipient, to, pk.Type())
		}
		toKey = pk
	}
	if len(body) == 0 {
		return EventRef{}, ErrEmptyBody
	}
	if len(body) > s.cfg.MaxBodySize {
		return EventRef{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrBodyTooLarge, len(body), s.cfg.MaxBodySize)
	}
	th, err := s.thread(tid)
	if err != nil {
		return EventRef{}, err
	}
	th.mu.Lock()
	own, read := th.own, th.read.Load()
	th.mu.Unlock()
	if own == nil {
		return EventRef{}, fmt.Errorf("append to %s: %w", tid, ErrNotWriter)
	}
	if read == nil {
		return EventRef{}, fmt.Errorf("append to %s: %w", tid, ErrNoReadKey)
	}
	// Sealing the content does not depend on the position in the log, so it
	// runs here, in parallel across appenders.
	content, err := codec.SealContentTo(read, body, s.deps.Now(), s.cfg.InlineBodySize, toKey)
	if err != nil {
		return EventRef{}, fmt.Errorf("append to %s: %w", tid, err)
	}
	req := &appendReq{content: content, done: make(chan appendResult, 1)}

	th.mu.Lock()
	if th.removed {
		th.mu.Unlock()
		return EventRef{}, fmt.Errorf("%w: %s", ErrThreadNotFound, tid)
	}
	th.queue = append(th.queue, req)
	if th.committing {
		th.mu.Unlock()
		select {
		case r := <-req.done:
			return r.ref, r.err
		case <-ctx.Done():
			return EventRef{}, fmt.Errorf("append to %s: %w (the event may still be committed)", tid, ctx.Err())
		}
	}
	// Lead: commit everything queued, including what arrives meanwhile. The
	// commit does not stop halfway when this caller gives up.
	th.committing = true
	commitCtx := context.WithoutCancel(ctx)
	for len(th.queue) > 0 {
		batch := th.queue
		th.queue = nil
		th.mu.Unlock()
		s.commitBatch(commitCtx, th, batch)
		th.mu.Lock()
	}
	th.committing = false
	th.idle.Broadcast()
	th.mu.Unlock()
	r := <-req.done
	return r.ref, r.err
}

// commitBatch places a batch of sealed contents at the end of the node's own
// log and makes them durable, then answers every request.
func (s *Service) commitBatch(ctx context.Context, th *thread, batch []*appendReq) {
	fail := func(err error) {
		for _, r := range batch {
			r.done <- appendResult{err: fmt.Errorf("append to %s: %w", th.id, err)}
		}
	}
	own := th.own // only the committing appender moves its head
	seq, prev := own.seq, own.head
	events := make([]*codec.Event, 0, len(batch))
	blks := make([]blocks.Block, 0, len(batch))
	for _, r := range batch {
		seq++
		ev, err := codec.Seal(own.sk, th.follow, codec.Position{
			Thread: th.id, Log: own.id, Seq: seq, Clock: s.clock.Next(), Prev: prev,
		}, r.content)
		if err != nil {
			fail(err)
			return
		}
		prev = ev.Cid()
		events = append(events, ev)
		blks = append(blks, ev.Block)
		if r.content.BodyBlock != nil {
			blks = append(blks, r.content.BodyBlock)
		}
	}
	if err := s.storeEvents(ctx, th, own, events, blks); err != nil {
		fail(err)
		return
	}
	s.met.appended.Add(float64(len(batch)))
	for i, r := range batch {
		r.done <- appendResult{ref: EventRef{Thread: th.id, Log: own.id, Seq: events[i].Seq, Cid: events[i].Cid()}}
	}
	if s.net != nil {
		var bodies []blocks.Block
		for _, r := range batch {
			if r.content.BodyBlock != nil {
				bodies = append(bodies, r.content.BodyBlock)
			}
		}
		s.net.announceEvents(th, events, bodies)
	}
}

// storeEvents writes verified, contiguous events of a log: blocks first,
// then the index entries and the new head in one synced batch, with copies
// of the blocks when the blockstore does not make them durable by itself
// (see blockJournal); then it wakes listeners. The log's pin follows within pinInterval (see pinKeeper); the
// record written here names the pin as it was, and a start after a crash
// moves a lagging pin.
func (s *Service) storeEvents(ctx context.Context, th *thread, st *logState, events []*codec.Event, blks []blocks.Block) error {
	th.mu.Lock()
	removed := th.removed
	th.mu.Unlock()
	if removed {
		return fmt.Errorf("%w: %s", ErrThreadNotFound, th.id)
	}
	s.pins.begin(ctx)
	moved := false
	defer func() {
		if moved {
			s.pins.end(th, st)
		} else {
			s.pins.end(nil, nil)
		}
	}()
	if err := s.deps.Blockstore.PutMany(ctx, blks); err != nil {
		return fmt.Errorf("store blocks: %w", err)
	}
	last := events[len(events)-1]
	next := *st
	next.head, next.seq, next.headClock = last.Cid(), last.Seq, last.Clock
	// The first event may take the place of the stored head (a copy of it
	// under the CID the chain names, see Ingest): the retention DAG, which
	// lists the head, is then rebuilt from the index.
	replaced := events[0].Seq <= st.seq
	rec, err := next.record()
	if err != nil {
		return err
	}
	b, err := s.deps.Datastore.Batch(ctx)
	if err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	for _, ev := range events {
		if err := b.Put(ctx, eventKey(th.id, st.id, ev.Seq), ev.Cid().Bytes()); err != nil {
			return fmt.Errorf("store events: %w", err)
		}
	}
	if err := putCBOR(ctx, b, logKey(th.id, st.id), rec); err != nil {
		return err
	}
	var journaled []ds.Key
	if s.journal != nil {
		if journaled, err = s.journal.add(ctx, b, blks); err != nil {
			return fmt.Errorf("store events: %w", err)
		}
	}
	if err := s.commit(ctx, b); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	if s.journal != nil {
		s.journal.committed(journaled)
	}
	moved = true
	th.mu.Lock()
	st.head, st.seq, st.headClock = next.head, next.seq, next.headClock
	if replaced {
		st.ret = &retention{base: st.base}
	}
	if !th.removed {
		close(th.changed) // wake listeners
		th.changed = make(chan struct{})
	}
	th.mu.Unlock()
	return nil
}
