package ipel

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// AddrEntry is where a log was last announced to be: a peer, its transport
// addresses, and when the announcement expires.
type AddrEntry struct {
	Log     LogID
	Peer    peer.ID
	Addrs   []ma.Multiaddr
	Expires time.Time
}

// AddrBook remembers, per thread, which peers serve which logs, for a time
// to live (paper, Example 2). Entries past their expiry are not returned and
// are dropped when next written. It persists in a datastore.
type AddrBook struct {
	store ds.Datastore
	now   func() time.Time

	mu      sync.Mutex
	threads map[ThreadID]map[LogID]map[peer.ID]AddrEntry
}

type storedEntry struct {
	Addrs   [][]byte `json:"a"`
	Expires int64    `json:"e"`
}

// NewAddrBook loads an address book kept in store (give it a namespace of its
// own). now reads the clock.
func NewAddrBook(ctx context.Context, store ds.Datastore, now func() time.Time) (*AddrBook, error) {
	ab := &AddrBook{store: store, now: now, threads: map[ThreadID]map[LogID]map[peer.ID]AddrEntry{}}
	res, err := store.Query(ctx, dsq.Query{})
	if err != nil {
		return nil, fmt.Errorf("load address book: %w", err)
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return nil, fmt.Errorf("load address book: %w", e.Error)
		}
		parts := ds.NewKey(e.Key).Namespaces() // thread, log, peer
		if len(parts) != 3 {
			continue
		}
		tid, err1 := ParseThreadID(parts[0])
		logID, err2 := ParseLogID(parts[1])
		pid, err3 := peer.Decode(parts[2])
		var se storedEntry
		err4 := json.Unmarshal(e.Value, &se)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue // an unreadable entry is only a lost hint
		}
		entry := AddrEntry{Log: logID, Peer: pid, Expires: time.Unix(0, se.Expires)}
		for _, b := range se.Addrs {
			if a, err := ma.NewMultiaddrBytes(b); err == nil {
				entry.Addrs = append(entry.Addrs, a)
			}
		}
		ab.put(tid, entry)
	}
	return ab, nil
}

func entryKey(tid ThreadID, log LogID, p peer.ID) ds.Key {
	return ds.KeyWithNamespaces([]string{tid.String(), log.String(), p.String()})
}

func (ab *AddrBook) put(tid ThreadID, e AddrEntry) {
	logs := ab.threads[tid]
	if logs == nil {
		logs = map[LogID]map[peer.ID]AddrEntry{}
		ab.threads[tid] = logs
	}
	peers := logs[e.Log]
	if peers == nil {
		peers = map[peer.ID]AddrEntry{}
		logs[e.Log] = peers
	}
	peers[e.Peer] = e
}

// Add records that peer p serves log in thread tid, at addrs, for ttl. A
// later announcement replaces an earlier one.
func (ab *AddrBook) Add(ctx context.Context, tid ThreadID, log LogID, p peer.AddrInfo, ttl time.Duration) error {
	e := AddrEntry{Log: log, Peer: p.ID, Addrs: p.Addrs, Expires: ab.now().Add(ttl)}
	se := storedEntry{Expires: e.Expires.UnixNano()}
	for _, a := range p.Addrs {
		se.Addrs = append(se.Addrs, a.Bytes())
	}
	b, err := json.Marshal(se)
	if err != nil {
		return err
	}
	if err := ab.store.Put(ctx, entryKey(tid, log, p.ID), b); err != nil {
		return fmt.Errorf("address book: %w", err)
	}
	ab.mu.Lock()
	ab.put(tid, e)
	ab.mu.Unlock()
	return nil
}

// Entries returns the live entries of a thread, by log then peer.
func (ab *AddrBook) Entries(ctx context.Context, tid ThreadID) []AddrEntry {
	now := ab.now()
	ab.mu.Lock()
	var out, expired []AddrEntry
	for _, peers := range ab.threads[tid] {
		for _, e := range peers {
			if now.After(e.Expires) {
				expired = append(expired, e)
				continue
			}
			out = append(out, e)
		}
	}
	for _, e := range expired {
		delete(ab.threads[tid][e.Log], e.Peer)
	}
	ab.mu.Unlock()
	for _, e := range expired {
		_ = ab.store.Delete(ctx, entryKey(tid, e.Log, e.Peer))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Log != out[j].Log {
			return out[i].Log < out[j].Log
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// Peers returns every live peer of a thread, with the addresses it announced.
func (ab *AddrBook) Peers(ctx context.Context, tid ThreadID) []peer.AddrInfo {
	byPeer := map[peer.ID]*peer.AddrInfo{}
	var order []peer.ID
	for _, e := range ab.Entries(ctx, tid) {
		info, ok := byPeer[e.Peer]
		if !ok {
			info = &peer.AddrInfo{ID: e.Peer}
			byPeer[e.Peer] = info
			order = append(order, e.Peer)
		}
		for _, a := range e.Addrs {
			if !containsAddr(info.Addrs, a) {
				info.Addrs = append(info.Addrs, a)
			}
		}
	}
	out := make([]peer.AddrInfo, 0, len(order))
	for _, p := range order {
		out = append(out, *byPeer[p])
	}
	return out
}

func containsAddr(as []ma.Multiaddr, a ma.Multiaddr) bool {
	for _, x := range as {
		if x.Equal(a) {
			return true
		}
	}
	return false
}

// RemoveThread forgets every entry of a thread.
func (ab *AddrBook) RemoveThread(ctx context.Context, tid ThreadID) error {
	ab.mu.Lock()
	logs := ab.threads[tid]
	delete(ab.threads, tid)
	ab.mu.Unlock()
	for log, peers := range logs {
		for p := range peers {
			if err := ab.store.Delete(ctx, entryKey(tid, log, p)); err != nil {
				return fmt.Errorf("address book: %w", err)
			}
		}
	}
	return nil
}
