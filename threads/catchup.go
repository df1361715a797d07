package threads

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// Catching up past a compaction. A peer that compacted a log answers a
// pull below its base with "compacted". That answer is never a reason to
// take the peer's snapshot (a snapshot is its maker's word, taken only at a
// join that asked for it): the node asks the other peers its address book
// knows for the log, and when none of them holds the missing events the
// log is blocked, with an error that says which peers compacted up to
// which seq and how to proceed. The block shows in ThreadInfo (LogInfo.
// CatchUp) until the log gets past it, and is logged when it starts.

// ErrCannotCatchUp is wrapped by a *CatchUpError.
var ErrCannotCatchUp = errors.New("cannot catch up: every peer that holds the log compacted the events this node lacks")

// CompactedPeer is a peer that answered a pull with "compacted": it holds
// the log from Base+1 on.
type CompactedPeer struct {
	Peer peer.ID
	Base uint64
}

// CatchUpError says that a log cannot catch up: this node holds it up to
// Have, and every peer asked for the events after Have compacted them.
type CatchUpError struct {
	Thread ipel.ThreadID
	Log    ipel.LogID
	Have   uint64
	Peers  []CompactedPeer // by peer ID
	// Follower: this node holds no read key, so it cannot start from a
	// snapshot either.
	Follower bool
	At       time.Time

	asked []peer.ID // every peer asked
}

func (e *CatchUpError) Error() string {
	ps := make([]string, len(e.Peers))
	for i, p := range e.Peers {
		ps[i] = fmt.Sprintf("%s up to seq %d", p.Peer, p.Base)
	}
	msg := fmt.Sprintf("thread %s: log %s: cannot catch up after seq %d: the peers that serve the log compacted the events this node lacks (%s), and no reachable member holds them",
		e.Thread, e.Log, e.Have, strings.Join(ps, ", "))
	if e.Follower {
		return msg + "; a follower cannot start from a snapshot: it needs a member that still holds the events"
	}
	return msg + fmt.Sprintf("; to proceed, remove the thread ('ipfs threads rm %s') and join it again with a snapshot (a new invite, joined without --snapshot=false), or wait for a member that holds the events", e.Thread)
}

// Unwrap makes errors.Is(err, ErrCannotCatchUp) hold.
func (e *CatchUpError) Unwrap() error { return ErrCannotCatchUp }

// blocker is the seq up to which the log cannot get: the lowest base of the
// peers that compacted it.
func (e *CatchUpError) blocker() uint64 {
	low := e.Peers[0].Base
	for _, p := range e.Peers[1:] {
		low = min(low, p.Base)
	}
	return low
}

// pullLog pulls a log from a peer up to seq `to`, in batches. When the peer
// compacted the events this node lacks, the other peers that serve the log
// are asked for them (catchUp).
func (n *network) pullLog(ctx context.Context, th *thread, p peer.ID, logID ipel.LogID, to uint64) error {
	base, err := n.pullFrom(ctx, th, p, logID, to)
	if err != nil {
		return err
	}
	if base == 0 {
		th.caughtUp(logID)
		return nil
	}
	return n.catchUp(ctx, th, logID, to, CompactedPeer{Peer: p, Base: base})
}

// pullFrom pulls a log from a peer up to seq `to`, in batches, until the
// peer has nothing more. When the peer answers that it compacted the next
// events, pullFrom returns the peer's base and pulls nothing more from it.
// When the peer's next event continues another copy of this node's head
// (see otherCopyError), it pulls once more from the head itself.
func (n *network) pullFrom(ctx context.Context, th *thread, p peer.ID, logID ipel.LogID, to uint64) (uint64, error) {
	var rewound bool
	from := uint64(0) // 0: after the head
	for {
		have := th.seqOf(logID)
		if have >= to {
			return 0, nil
		}
		if from == 0 {
			from = have + 1
		}
		start := time.Now()
		resp, err := n.request(ctx, p, &codec.Message{
			Type: codec.MsgPull, Thread: th.id.Bytes(), Auth: n.auth(th, p),
			Log: []byte(logID), From: from, Max: pullBatch,
		})
		from = 0
		n.s.met.pull.Observe(time.Since(start).Seconds())
		if err != nil {
			return 0, err
		}
		if resp.Type == codec.MsgCompacted {
			if resp.From <= have+1 {
				return 0, fmt.Errorf("pull %s from %s: answered compacted from %d, below the %d asked for", logID, p, resp.From, have+1)
			}
			return resp.From - 1, nil
		}
		if resp.Type != codec.MsgEvents || len(resp.Events) == 0 {
			return 0, fmt.Errorf("pull %s from %s: no events", logID, p)
		}
		evBlocks, bodies, err := decodeBlocks(resp)
		if err != nil {
			n.stats.reject(p, "malformed event", err)
			return 0, err
		}
		res, err := n.ingest(ctx, th, p, evBlocks, bodies)
		n.stats.pulled.Add(uint64(res.Stored))
		var other *otherCopyError
		if errors.As(err, &other) && !rewound {
			rewound, from = true, other.seq
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("pull %s from %s: %w: %w", logID, p, errRefused, err)
		}
		if res.Stored == 0 {
			return 0, nil
		}
	}
}

// catchUp gets the events of a log up to `to` from the peers that serve it
// after `first` answered that it compacted them. It asks every peer the
// address book knows for the log (but those in backoff), again while one
// of them makes progress; a peer that compacted above what this node holds
// is skipped until the node gets past its base. When the node still lacks
// events that every peer asked compacted, the log is blocked: the
// *CatchUpError is recorded for ThreadInfo, logged, and returned. A log
// blocked less than an anti-entropy interval ago, at the same seq and with
// no peer to ask that was not asked then, answers with its error at once.
func (n *network) catchUp(ctx context.Context, th *thread, logID ipel.LogID, to uint64, first CompactedPeer) error {
	peers := n.logPeers(ctx, th, logID, first.Peer)
	if err := th.recentBlock(logID, peers, n.s.deps.Now().Add(-n.s.cfg.AntiEntropyInterval)); err != nil {
		return err
	}
	compacted := map[peer.ID]uint64{first.Peer: first.Base}
	for progress := true; progress && th.seqOf(logID) < to; {
		progress = false
		for _, q := range peers {
			have := th.seqOf(logID)
			if have >= to {
				break
			}
			if b, ok := compacted[q]; ok && b > have {
				continue
			}
			base, err := n.pullFrom(ctx, th, q, logID, to)
			if err != nil {
				log.Debugf("thread %s: catch up log %s from %s: %s", th.id, logID, q, err)
			}
			if base > 0 {
				compacted[q] = base
			} else if err == nil {
				delete(compacted, q)
			}
			progress = progress || th.seqOf(logID) > have
		}
	}
	have := th.seqOf(logID)
	cerr := &CatchUpError{Thread: th.id, Log: logID, Have: have, Follower: th.read.Load() == nil, At: n.s.deps.Now(), asked: peers}
	for q, b := range compacted {
		if b > have {
			cerr.Peers = append(cerr.Peers, CompactedPeer{Peer: q, Base: b})
		}
	}
	if len(cerr.Peers) == 0 {
		th.caughtUp(logID)
		return nil
	}
	sort.Slice(cerr.Peers, func(i, j int) bool { return cerr.Peers[i].Peer < cerr.Peers[j].Peer })
	if th.block(cerr) {
		log.Error(cerr.Error())
	}
	return cerr
}

// logPeers lists the peers the address book knows to serve a log, first
// first, without this node and the peers in backoff.
func (n *network) logPeers(ctx context.Context, th *thread, logID ipel.LogID, first peer.ID) []peer.ID {
	out := []peer.ID{first}
	seen := map[peer.ID]bool{first: true, n.self(): true}
	for _, e := range n.book.Entries(ctx, th.id) {
		if e.Log != logID || seen[e.Peer] || n.inBackoff(e.Peer) {
			continue
		}
		seen[e.Peer] = true
		out = append(out, e.Peer)
	}
	return out
}

// seqOf is the seq a log is held up to (0 for an unknown log).
func (th *thread) seqOf(logID ipel.LogID) uint64 {
	th.mu.Lock()
	defer th.mu.Unlock()
	if st := th.logs[logID]; st != nil {
		return st.seq
	}
	return 0
}

// block records a blocked catch-up of a log the thread holds (one record
// per log, so peers cannot grow the set by naming made-up logs); it
// reports whether it is news (the log was not blocked, or at another seq
// or by other peers).
func (th *thread) block(e *CatchUpError) bool {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.logs[e.Log] == nil {
		return false
	}
	prev := th.blocked[e.Log]
	if th.blocked == nil {
		th.blocked = map[ipel.LogID]*CatchUpError{}
	}
	th.blocked[e.Log] = e
	return prev == nil || prev.Have != e.Have || fmt.Sprint(prev.Peers) != fmt.Sprint(e.Peers)
}

// recentBlock returns the log's blocked catch-up if it was recorded after
// `since`, the log has not moved since, and every peer in peers was asked
// then.
func (th *thread) recentBlock(logID ipel.LogID, peers []peer.ID, since time.Time) error {
	th.mu.Lock()
	defer th.mu.Unlock()
	e, st := th.blocked[logID], th.logs[logID]
	if e == nil || st == nil || st.seq != e.Have || !e.At.After(since) {
		return nil
	}
	for _, p := range peers {
		if !slices.Contains(e.asked, p) {
			return nil
		}
	}
	return e
}

// caughtUp drops a log's blocked catch-up once the log got past it.
func (th *thread) caughtUp(logID ipel.LogID) {
	th.mu.Lock()
	defer th.mu.Unlock()
	if e, st := th.blocked[logID], th.logs[logID]; e != nil && st != nil && st.seq >= e.blocker() {
		delete(th.blocked, logID)
	}
}

// catchUpOf is a log's blocked catch-up while the log has not got past it;
// the caller holds th.mu.
func (th *thread) catchUpOf(st *logState) *CatchUpError {
	if e := th.blocked[st.id]; e != nil && st.seq < e.blocker() {
		c := *e
		c.Peers = append([]CompactedPeer(nil), e.Peers...)
		return &c
	}
	return nil
}

// onlyCatchUp reports whether err is made of blocked catch-ups only: the
// peer answered well, and this node lacks what nobody serves.
func onlyCatchUp(err error) bool {
	if errs, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range errs.Unwrap() {
			if !onlyCatchUp(e) {
				return false
			}
		}
		return len(errs.Unwrap()) > 0
	}
	return errors.Is(err, ErrCannotCatchUp)
}
