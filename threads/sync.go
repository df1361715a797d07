package threads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// quietRounds is how many anti-entropy rounds a thread and a peer may go
// without a sync when nothing changed on this node since their last one.
const quietRounds = 10

// syncedState is this node's heads after a successful sync with a peer.
type syncedState struct {
	heads string
	at    time.Time
}

// antiEntropy periodically syncs every thread with every peer the address
// book knows for it, repairing whatever pushes and pubsub missed. A sync
// pulls what the peer has, and tells the peer this node's heads, so that
// the peer pulls what it lacks: a thread whose heads did not move on this
// node since its last sync with a peer waits (up to quietRounds rounds),
// since a change on the peer's side makes the peer start the sync. An idle
// thread costs next to nothing.
func (n *network) antiEntropy() {
	t := time.NewTicker(n.s.cfg.AntiEntropyInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.held.expire()
		ths, err := n.s.allThreads()
		if err != nil {
			return
		}
		quietFor := quietRounds * n.s.cfg.AntiEntropyInterval
		for _, th := range ths {
			var digest string
			for _, p := range n.book.Peers(n.ctx, th.id) {
				if p.ID == n.self() || n.inBackoff(p.ID) {
					continue
				}
				if digest == "" {
					digest = headsDigest(th.heads())
				}
				n.mu.Lock()
				last, ok := n.synced[syncKey{th.id, p.ID}]
				n.mu.Unlock()
				if ok && last.heads == digest && time.Since(last.at) < quietFor {
					continue
				}
				n.syncSoon(th, p.ID)
			}
		}
	}
}

// syncSoon starts a sync of a thread with a peer unless one is running.
func (n *network) syncSoon(th *thread, p peer.ID) {
	key := syncKey{th.id, p}
	n.mu.Lock()
	if n.syncing[key] {
		n.mu.Unlock()
		return
	}
	n.syncing[key] = true
	n.mu.Unlock()
	started := n.spawn(func() {
		defer func() {
			n.mu.Lock()
			delete(n.syncing, key)
			n.mu.Unlock()
		}()
		n.stats.syncs.Add(1)
		if err := n.syncWith(n.ctx, th, p); err != nil {
			log.Debugf("sync %s with %s: %s", th.id, p, err)
			// A blocked catch-up, or events whose clock is ahead of this
			// node's (the writer's doing), are not the peer's failure.
			if !eachLogError(err, notPeersFault) {
				n.failed(p)
				return
			}
			if errors.Is(err, ErrClockAhead) {
				return // not synced: the next round pulls them again
			}
		}
		n.succeeded(p)
		digest := headsDigest(th.heads())
		n.mu.Lock()
		n.synced[key] = syncedState{heads: digest, at: time.Now()}
		n.mu.Unlock()
	})
	if !started {
		n.mu.Lock()
		delete(n.syncing, key)
		n.mu.Unlock()
	}
}

// syncWith tells a peer where this node's logs are, then pulls every log the
// peer holds further than this node. A log that cannot catch up, or whose
// events this node refuses, does not keep the others from being pulled: the
// per-log errors are returned joined.
func (n *network) syncWith(ctx context.Context, th *thread, p peer.ID) error {
	if _, err := n.request(ctx, p, &codec.Message{
		Type: codec.MsgAnnounce, Thread: th.id.Bytes(), Auth: n.auth(th, p), Addrs: n.ownAnnouncement(th),
	}); err != nil {
		return err
	}
	resp, err := n.request(ctx, p, &codec.Message{Type: codec.MsgHeads, Thread: th.id.Bytes(), Auth: n.auth(th, p), Heads: th.heads()})
	if err != nil {
		return err
	}
	lag := lagBehind(th, resp.Heads)
	n.s.met.lag.WithLabelValues(th.id.String()).Set(float64(lag))
	th.mu.Lock()
	th.lag = lag
	th.mu.Unlock()
	var logErrs []error
	for _, h := range resp.Heads {
		logID, err := ipel.LogIDFromBytes(h.Log)
		if err != nil {
			n.stats.reject(p, "bad log ID", err)
			continue
		}
		// A log that cannot catch up, or whose events this node refuses (a
		// writer's equivocation, clocks ahead or going backwards), does not
		// keep the others from syncing.
		err = n.pullLog(ctx, th, p, logID, h.Seq)
		switch {
		case err == nil:
		case errors.Is(err, ErrCannotCatchUp), errors.Is(err, errRefused):
			logErrs = append(logErrs, err)
		default:
			return err
		}
	}
	return errors.Join(logErrs...)
}

// errRefused marks a pull whose events this node refused.
var errRefused = errors.New("events refused")

// eachLogError reports whether pred holds for every per-log error that a
// sync joined (or for err itself when it is not such a join).
func eachLogError(err error, pred func(error) bool) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return pred(err)
	}
	for _, e := range j.Unwrap() {
		if !pred(e) {
			return false
		}
	}
	return true
}

// notPeersFault reports whether a log's sync error is none of the peer's
// doing: the log cannot catch up past a compaction, or its events' clock is
// ahead of this node's.
func notPeersFault(err error) bool {
	return errors.Is(err, ErrCannotCatchUp) || errors.Is(err, ErrClockAhead)
}

// headsDigest is a thread's heads as one comparable string.
func headsDigest(heads []codec.Head) string {
	parts := make([]string, len(heads))
	for i, h := range heads {
		parts[i] = fmt.Sprintf("%x:%d", h.Log, h.Seq)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// aheadOf reports whether heads hold an event this node lacks.
func aheadOf(th *thread, heads []codec.Head) bool {
	th.mu.Lock()
	defer th.mu.Unlock()
	for _, h := range heads {
		st := th.logs[ipel.LogID(h.Log)]
		if st == nil || h.Seq > st.seq {
			return true
		}
	}
	return false
}

// lagBehind counts the events a peer's heads hold that this node lacks.
func lagBehind(th *thread, heads []codec.Head) uint64 {
	th.mu.Lock()
	defer th.mu.Unlock()
	var lag uint64
	for _, h := range heads {
		var have uint64
		if st := th.logs[ipel.LogID(h.Log)]; st != nil {
			have = st.seq
		}
		if h.Seq > have {
			lag += h.Seq - have
		}
	}
	return lag
}

// Announces: a member tells where it serves logs. What one announce, and
// announces in all, can make a node keep is bounded.
const (
	// maxAnnounceLogs bounds the entries of one announce; the rest are
	// ignored.
	maxAnnounceLogs = 256
	// maxEmptyLogs bounds the logs of a thread that hold no event yet,
	// which peers can add (by announcing a log, or by sending events of a
	// log that do not start it): such a log counts until its first event
	// is stored.
	maxEmptyLogs = 256
	// maxPeerAddrs bounds the addresses taken from one announce.
	maxPeerAddrs = 16
)

// errTooManyEmptyLogs refuses a log learnt from a peer by a thread holding
// maxEmptyLogs logs without events.
var errTooManyEmptyLogs = fmt.Errorf("the thread holds %d logs without events: no more are learnt from peers", maxEmptyLogs)

// selfAddrs are this node's addresses, each ending in /p2p/<self>, at most
// maxPeerAddrs.
func (n *network) selfAddrs() [][]byte {
	self, err := ma.NewComponent("p2p", n.self().String())
	if err != nil {
		return nil
	}
	var out [][]byte
	for _, a := range n.host.Addrs() {
		if len(out) == maxPeerAddrs {
			break
		}
		out = append(out, a.Encapsulate(ma.Multiaddr{*self}).Bytes())
	}
	if len(out) == 0 {
		out = append(out, ma.Multiaddr{*self}.Bytes())
	}
	return out
}

// announcedLogs lists the thread's logs to announce, at most
// maxAnnounceLogs: this node's own log first, then the others, those with
// events before those without.
func announcedLogs(th *thread) []ipel.LogID {
	th.mu.Lock()
	defer th.mu.Unlock()
	out := make([]ipel.LogID, 0, min(len(th.logs), maxAnnounceLogs))
	if th.own != nil {
		out = append(out, th.own.id)
	}
	for _, withEvents := range []bool{true, false} {
		for id, st := range th.logs {
			if len(out) == maxAnnounceLogs {
				return out
			}
			if st != th.own && (st.seq > 0 || st.base > 0) == withEvents {
				out = append(out, id)
			}
		}
	}
	return out
}

// ownAnnouncement lists the logs this node serves (every member serves
// every log it holds: writers their own, readers and followers the copies
// they keep), at this node's addresses. It names no other peer: a node
// takes from an announce only the announcing peer's own addresses.
func (n *network) ownAnnouncement(th *thread) []codec.LogAddrs {
	addrs := n.selfAddrs()
	ttl := int64(n.s.cfg.AddrTTL / time.Second)
	logs := announcedLogs(th)
	out := make([]codec.LogAddrs, 0, len(logs))
	for _, id := range logs {
		out = append(out, codec.LogAddrs{Log: []byte(id), Addrs: addrs, TTL: ttl})
	}
	return out
}

// receiveAnnounce records that the announcing peer serves logs, at the
// addresses it gives for itself (at most maxPeerAddrs; addresses of other
// peers are ignored), and learns new logs within maxEmptyLogs. Only the
// first maxAnnounceLogs entries are read.
func (n *network) receiveAnnounce(ctx context.Context, th *thread, from peer.ID, entries []codec.LogAddrs) {
	if len(entries) > maxAnnounceLogs {
		n.stats.reject(from, "oversized announce", fmt.Errorf("%d entries, at most %d are read", len(entries), maxAnnounceLogs))
		entries = entries[:maxAnnounceLogs]
	}
	addrs, ttl := n.announcedAddrs(from, entries)
	if len(addrs) > 0 {
		n.host.Peerstore().AddAddrs(from, addrs, ttl)
	}
	for _, e := range entries {
		logID, err := ipel.LogIDFromBytes(e.Log)
		if err != nil {
			n.stats.reject(from, "bad log ID", err)
			continue
		}
		if err := n.s.addLearntLog(ctx, th, logID); err != nil {
			if errors.Is(err, errTooManyEmptyLogs) {
				n.stats.reject(from, "too many empty logs", err)
			}
			log.Debugf("announce from %s: %s", from, err)
			continue
		}
		_ = n.book.Add(ctx, th.id, logID, peer.AddrInfo{ID: from, Addrs: addrs}, ttl)
	}
}

// announcedAddrs collects the announcing peer's own addresses from an
// announce (those ending in /p2p/<from>, at most maxPeerAddrs, without
// duplicates) and the longest TTL given, within [1 min, AddrTTL].
func (n *network) announcedAddrs(from peer.ID, entries []codec.LogAddrs) ([]ma.Multiaddr, time.Duration) {
	var (
		addrs   []ma.Multiaddr
		ttl     int64
		foreign int
	)
	for _, e := range entries {
		ttl = max(ttl, e.TTL)
		for _, b := range e.Addrs {
			a, err := ma.NewMultiaddrBytes(b)
			if err != nil {
				continue
			}
			info, err := peer.AddrInfoFromP2pAddr(a)
			if err != nil || info.ID != from {
				foreign++
				continue
			}
			for _, t := range info.Addrs {
				if len(addrs) < maxPeerAddrs && !containsAddr(addrs, t) {
					addrs = append(addrs, t)
				}
			}
		}
	}
	if foreign > 0 {
		n.stats.reject(from, "foreign address", fmt.Errorf("%d addresses of other peers ignored", foreign))
	}
	return addrs, time.Duration(min(max(ttl, 60), int64(n.s.cfg.AddrTTL/time.Second))) * time.Second
}

func containsAddr(as []ma.Multiaddr, a ma.Multiaddr) bool {
	for _, x := range as {
		if x.Equal(a) {
			return true
		}
	}
	return false
}

// addLearntLog makes a log learnt from a peer known to a thread, unless the
// thread already holds maxEmptyLogs logs without events.
func (s *Service) addLearntLog(ctx context.Context, th *thread, logID ipel.LogID) error {
	th.mu.Lock()
	_, known := th.logs[logID]
	empty := 0
	for _, st := range th.logs {
		if st != th.own && st.seq == 0 && st.base == 0 {
			empty++
		}
	}
	th.mu.Unlock()
	if known {
		return nil
	}
	if empty >= maxEmptyLogs {
		return errTooManyEmptyLogs
	}
	return s.addLog(ctx, th, logID)
}

// addLog makes a log known to a thread (no-op if it is).
func (s *Service) addLog(ctx context.Context, th *thread, logID ipel.LogID) error {
	if _, err := ipel.LogPublicKey(logID); err != nil {
		return err
	}
	th.mu.Lock()
	if _, ok := th.logs[logID]; ok || th.removed {
		removed := th.removed
		th.mu.Unlock()
		if removed {
			return fmt.Errorf("%w: %s", ErrThreadNotFound, th.id)
		}
		return nil
	}
	th.mu.Unlock()
	st := &logState{id: logID}
	if err := s.saveLog(ctx, th.id, st); err != nil {
		return fmt.Errorf("add log %s: %w", logID, err)
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if _, ok := th.logs[logID]; !ok {
		th.logs[logID] = st
	}
	return nil
}

func (s *Service) allThreads() ([]*thread, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]*thread, 0, len(s.threads))
	for _, th := range s.threads {
		out = append(out, th)
	}
	return out, nil
}

// SyncNow syncs a thread with every peer it knows, now, and waits.
func (s *Service) SyncNow(ctx context.Context, tid ipel.ThreadID) error {
	if s.net == nil {
		return errNoNetwork
	}
	th, err := s.thread(tid)
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range s.net.book.Peers(ctx, tid) {
		if p.ID == s.net.self() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.net.syncWith(ctx, th, p.ID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

var errNoNetwork = errors.New("this node runs threads without a network")
