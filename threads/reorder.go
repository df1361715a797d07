package threads

import (
	"container/list"
	"context"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// Held-back events: events that arrive ahead of their log's head (pubsub
// does not keep order) wait in memory until the gap is filled. What a peer
// can make the node hold this way is bounded in bytes, for the node and per
// sender, and in time.
const (
	// heldBackBudget bounds the held-back events of the whole node, in
	// bytes (blocks and bookkeeping).
	heldBackBudget = 32 << 20
	// heldBackShare bounds the held-back events one peer sent.
	heldBackShare = 8 << 20
	// heldBackTTL is how long an event is held back at most.
	heldBackTTL = time.Minute
	// heldBackWindow is how far ahead of its log's head an event may be
	// to be held back.
	heldBackWindow = 4096
	// heldEventOverhead is what an entry costs beyond its blocks: the
	// maps, the lists and the key.
	heldEventOverhead = 256
)

type pendingKey struct {
	thread ipel.ThreadID
	log    ipel.LogID
}

// heldEvent is one held-back event, on two lists: every event's, oldest
// first, and its sender's.
type heldEvent struct {
	key   pendingKey
	seq   uint64
	from  peer.ID
	size  int
	at    time.Time
	event blocks.Block
	body  blocks.Block // nil when inline

	all, own *list.Element
}

// senderHeld is what one peer made the node hold back.
type senderHeld struct {
	order list.List // its *heldEvent, oldest first
	bytes int
}

// heldBack holds events ahead of their log's head within heldBackBudget
// bytes for the node and heldBackShare per sender, each for heldBackTTL at
// most. A sender over its share loses its own oldest events first; a full
// node loses its oldest events, whoever sent them.
type heldBack struct {
	now func() time.Time

	mu     sync.Mutex
	byLog  map[pendingKey]map[uint64]*heldEvent
	order  list.List // every *heldEvent, oldest first
	byPeer map[peer.ID]*senderHeld
	bytes  int
}

func newHeldBack(now func() time.Time) *heldBack {
	return &heldBack{now: now, byLog: map[pendingKey]map[uint64]*heldEvent{}, byPeer: map[peer.ID]*senderHeld{}}
}

// add holds an event back, making room within the bounds; an event larger
// than a sender's share is not held.
func (h *heldBack) add(from peer.ID, key pendingKey, seq uint64, event, body blocks.Block) {
	size := len(event.RawData()) + heldEventOverhead
	if body != nil {
		size += len(body.RawData())
	}
	if size > heldBackShare {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.expireLocked(now)
	if old := h.byLog[key][seq]; old != nil {
		h.removeLocked(old)
	}
	sh := h.byPeer[from]
	if sh == nil {
		sh = &senderHeld{}
		h.byPeer[from] = sh
	}
	for sh.bytes+size > heldBackShare {
		h.removeLocked(sh.order.Front().Value.(*heldEvent))
	}
	for h.bytes+size > heldBackBudget {
		h.removeLocked(h.order.Front().Value.(*heldEvent))
	}
	if h.byPeer[from] == nil { // emptied by the evictions above
		h.byPeer[from] = sh
	}
	he := &heldEvent{key: key, seq: seq, from: from, size: size, at: now, event: event, body: body}
	he.all = h.order.PushBack(he)
	he.own = sh.order.PushBack(he)
	sh.bytes += size
	h.bytes += size
	m := h.byLog[key]
	if m == nil {
		m = map[uint64]*heldEvent{}
		h.byLog[key] = m
	}
	m[seq] = he
}

// removeLocked forgets one event.
func (h *heldBack) removeLocked(he *heldEvent) {
	h.order.Remove(he.all)
	sh := h.byPeer[he.from]
	sh.order.Remove(he.own)
	sh.bytes -= he.size
	if sh.order.Len() == 0 {
		delete(h.byPeer, he.from)
	}
	h.bytes -= he.size
	m := h.byLog[he.key]
	delete(m, he.seq)
	if len(m) == 0 {
		delete(h.byLog, he.key)
	}
}

// expireLocked forgets the events held longer than heldBackTTL.
func (h *heldBack) expireLocked(now time.Time) {
	for e := h.order.Front(); e != nil; e = h.order.Front() {
		he := e.Value.(*heldEvent)
		if now.Sub(he.at) < heldBackTTL {
			return
		}
		h.removeLocked(he)
	}
}

// expire forgets the events held longer than heldBackTTL.
func (h *heldBack) expire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked(h.now())
}

// take removes and returns the held-back run that continues a log whose
// head is at seq head, and forgets the log's events at or below head.
func (h *heldBack) take(key pendingKey, head uint64) []*heldEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked(h.now())
	m := h.byLog[key]
	if len(m) == 0 {
		return nil
	}
	var run []*heldEvent
	for s := head + 1; ; s++ {
		he, ok := m[s]
		if !ok {
			break
		}
		run = append(run, he)
	}
	for s, he := range m {
		if s <= head {
			h.removeLocked(he)
		}
	}
	for _, he := range run {
		h.removeLocked(he)
	}
	return run
}

// dropThread forgets the held-back events of a thread.
func (h *heldBack) dropThread(tid ipel.ThreadID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, m := range h.byLog {
		if k.thread != tid {
			continue
		}
		for _, he := range m {
			h.removeLocked(he)
		}
	}
}

// usage returns how many events and bytes are held back, in all and for
// one sender.
func (h *heldBack) usage(from peer.ID) (events, bytes, fromBytes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sh := h.byPeer[from]; sh != nil {
		fromBytes = sh.bytes
	}
	return h.order.Len(), h.bytes, fromBytes
}

// holdBack keeps verified events that arrived from a peer ahead of their
// log's head, to be stored once the gap is filled (see release).
func (n *network) holdBack(th *thread, from peer.ID, evBlocks []blocks.Block, bodies map[cid.Cid]blocks.Block) {
	for _, blk := range evBlocks {
		ev, err := openReceived(th, blk)
		if err != nil {
			return
		}
		logID, _ := ev.LogID()
		th.mu.Lock()
		st := th.logs[logID]
		ahead := st != nil && ev.Seq > st.seq && ev.Seq <= st.seq+heldBackWindow
		th.mu.Unlock()
		if !ahead {
			continue // only known logs, and not too far ahead
		}
		var body blocks.Block
		if ev.BodyLink.Defined() {
			body = bodies[ev.BodyLink.Cid]
		}
		n.held.add(from, pendingKey{th.id, logID}, ev.Seq, blk, body)
	}
}

// dropPending forgets the held-back events of a thread.
func (n *network) dropPending(tid ipel.ThreadID) { n.held.dropThread(tid) }

// release stores held-back events that now continue their logs' heads.
func (n *network) release(ctx context.Context, th *thread) {
	for {
		progressed := false
		th.mu.Lock()
		heads := make(map[ipel.LogID]uint64, len(th.logs))
		for id, st := range th.logs {
			heads[id] = st.seq
		}
		th.mu.Unlock()
		for id, seq := range heads {
			run := n.held.take(pendingKey{th.id, id}, seq)
			if len(run) == 0 {
				continue
			}
			evs := make([]blocks.Block, 0, len(run))
			bodies := map[cid.Cid]blocks.Block{}
			for _, he := range run {
				evs = append(evs, he.event)
				if he.body != nil {
					bodies[he.body.Cid()] = he.body
				}
			}
			res, err := n.s.Ingest(ctx, th.id, evs, bodies)
			n.stats.stored(res.Stored)
			if err != nil {
				log.Debugf("thread %s: held-back events of %s: %s", th.id, id, err)
			}
			if res.Stored > 0 {
				progressed = true
			}
		}
		if !progressed {
			return
		}
	}
}
