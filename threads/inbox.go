package threads

import (
	"context"
	"errors"
	"fmt"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// What strangers can make a node keep through invites is bounded: the
// invites stored until joined, and the threads followed automatically under
// AcceptFollowInvites.
const (
	// maxInvites bounds the invites kept as received.
	maxInvites = 256
	// maxInvitesPerSender bounds the invites kept from one peer.
	maxInvitesPerSender = 8
	// maxAutoFollows bounds the threads followed automatically.
	maxAutoFollows = 1024
	// maxAutoFollowsPerSender bounds the threads followed automatically on
	// one peer's invites.
	maxAutoFollowsPerSender = 16
)

var (
	// errInviteQuota refuses an invite over the sender's or the node's quota.
	errInviteQuota = errors.New("too many pending invites")
	// errFollowQuota refuses an automatic follow over the inviter's or the
	// node's quota.
	errFollowQuota = errors.New("too many threads followed automatically")
)

// inviteSlot is a stored invite: one per thread and sender.
type inviteSlot struct {
	thread ipel.ThreadID
	from   peer.ID
}

// inviteInbox counts, in memory, the invites stored and the threads
// followed automatically, by sender, so that a delivery costs a lookup
// rather than a scan of the stored invites. It is loaded from the datastore
// at start.
type inviteInbox struct {
	mu         sync.Mutex
	stored     map[inviteSlot]bool
	bySender   map[peer.ID]int
	follows    map[ipel.ThreadID]peer.ID // followed, or being joined, by inviter
	followedBy map[peer.ID]int
}

// autoFollowKey records that a thread was followed on an inviter's invite.
func autoFollowKey(tid ipel.ThreadID, inviter peer.ID) ds.Key {
	return ds.KeyWithNamespaces([]string{"af", tid.String(), inviter.String()})
}

// loadInbox counts the stored invites and automatic follows.
func loadInbox(ctx context.Context, store ds.Datastore) (*inviteInbox, error) {
	ib := &inviteInbox{stored: map[inviteSlot]bool{}, bySender: map[peer.ID]int{}, follows: map[ipel.ThreadID]peer.ID{}, followedBy: map[peer.ID]int{}}
	for _, prefix := range []string{"/inv/", "/af/"} {
		res, err := store.Query(ctx, dsq.Query{Prefix: prefix, KeysOnly: true})
		if err != nil {
			return nil, fmt.Errorf("load invites: %w", err)
		}
		entries, err := res.Rest()
		if err != nil {
			return nil, fmt.Errorf("load invites: %w", err)
		}
		for _, e := range entries {
			parts := ds.NewKey(e.Key).Namespaces() // inv|af, thread, peer
			if len(parts) != 3 {
				continue
			}
			tid, err1 := ipel.ParseThreadID(parts[1])
			from, err2 := peer.Decode(parts[2])
			if err1 != nil || err2 != nil {
				continue
			}
			if prefix == "/inv/" {
				ib.addLocked(inviteSlot{tid, from})
			} else {
				ib.follows[tid] = from
				ib.followedBy[from]++
			}
		}
	}
	return ib, nil
}

// admit tells whether a peer may deliver one more invite, before the
// invite is read.
func (ib *inviteInbox) admit(from peer.ID) error {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if len(ib.stored) >= maxInvites || ib.bySender[from] >= maxInvitesPerSender {
		return errInviteQuota
	}
	return nil
}

// reserve takes a slot for an invite about to be stored: a new one within
// the quotas, or the sender's earlier invite to the same thread, which it
// replaces. undo gives a new slot back when the invite could not be stored.
func (ib *inviteInbox) reserve(slot inviteSlot) (undo func(), err error) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if ib.stored[slot] {
		return func() {}, nil
	}
	if len(ib.stored) >= maxInvites || ib.bySender[slot.from] >= maxInvitesPerSender {
		return nil, errInviteQuota
	}
	ib.addLocked(slot)
	return func() { ib.forget(slot) }, nil
}

func (ib *inviteInbox) addLocked(slot inviteSlot) {
	if !ib.stored[slot] {
		ib.stored[slot] = true
		ib.bySender[slot.from]++
	}
}

// forget drops an invite's slot.
func (ib *inviteInbox) forget(slot inviteSlot) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.forgetLocked(slot)
}

func (ib *inviteInbox) forgetLocked(slot inviteSlot) {
	if !ib.stored[slot] {
		return
	}
	delete(ib.stored, slot)
	if ib.bySender[slot.from]--; ib.bySender[slot.from] <= 0 {
		delete(ib.bySender, slot.from)
	}
}

// dropInvites drops a thread's invites.
func (ib *inviteInbox) dropInvites(tid ipel.ThreadID) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	for slot := range ib.stored {
		if slot.thread == tid {
			ib.forgetLocked(slot)
		}
	}
}

// unfollow drops a thread's automatic follow.
func (ib *inviteInbox) unfollow(tid ipel.ThreadID) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.unfollowLocked(tid)
}

// reserveFollow takes one of an inviter's automatic follows for a thread
// about to be joined; false when the thread is already followed or being
// joined. undo gives it back when the join fails.
func (ib *inviteInbox) reserveFollow(tid ipel.ThreadID, inviter peer.ID) (ok bool, undo func(), err error) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if _, ok := ib.follows[tid]; ok {
		return false, nil, nil
	}
	if len(ib.follows) >= maxAutoFollows || ib.followedBy[inviter] >= maxAutoFollowsPerSender {
		return false, nil, errFollowQuota
	}
	ib.follows[tid] = inviter
	ib.followedBy[inviter]++
	return true, func() { ib.unfollow(tid) }, nil
}

func (ib *inviteInbox) unfollowLocked(tid ipel.ThreadID) {
	inviter, ok := ib.follows[tid]
	if !ok {
		return
	}
	delete(ib.follows, tid)
	if ib.followedBy[inviter]--; ib.followedBy[inviter] <= 0 {
		delete(ib.followedBy, inviter)
	}
}

// counts returns the invites stored and the threads followed
// automatically, in all and for one peer.
func (ib *inviteInbox) counts(p peer.ID) (invites, fromPeer, follows, followsOfPeer int) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return len(ib.stored), ib.bySender[p], len(ib.follows), ib.followedBy[p]
}
