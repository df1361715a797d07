package threads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// ErrAlreadyMember is returned when joining a thread this node holds.
var ErrAlreadyMember = errors.New("this node already holds the thread")

// ErrNoReadRole is returned when inviting a reader to a raw thread: there a
// reader could not be kept from writing, since any holder of the read key
// can make itself a log that the other members accept.
var ErrNoReadRole = errors.New("raw threads offer no read role: any holder of the read key can write a log the other members accept; create the thread with --variant acl, whose replicas enforce roles, or invite as writer or follower")

// InviteResult is a created invite.
type InviteResult struct {
	Invite    string // the sealed invite, to pass on out of band
	Delivered bool   // whether the invitee's node received it directly
}

// Invite creates an invite for a peer to a thread with a role, sealed to the
// peer's public key, and delivers it to the peer when it is reachable. The
// read role is offered by access-controlled threads only (ErrNoReadRole):
// a raw thread cannot keep a holder of its read key from writing. (Read
// invites made before this rule still join, and their holders can write.)
func (s *Service) Invite(ctx context.Context, tid ipel.ThreadID, to peer.ID, role codec.Role) (InviteResult, error) {
	th, err := s.thread(tid)
	if err != nil {
		return InviteResult{}, err
	}
	pk, err := to.ExtractPublicKey()
	if err != nil {
		return InviteResult{}, fmt.Errorf("invite %s: the peer ID does not embed its public key: %w", to, err)
	}
	// A member cannot hand out more than it holds. (In a raw thread this is
	// the inviter's own restraint: any holder of the read key could make
	// itself a log. Access-controlled threads enforce roles on every replica.)
	th.mu.Lock()
	writer := th.own != nil
	th.mu.Unlock()
	if role != codec.RoleFollow && th.read.Load() == nil {
		return InviteResult{}, fmt.Errorf("invite %s as %s: %w", to, role, ErrNoReadKey)
	}
	if role == codec.RoleRead && tid.Variant() != ipel.VariantAccessControlled {
		return InviteResult{}, fmt.Errorf("invite %s as reader: %w", to, ErrNoReadRole)
	}
	if role == codec.RoleWrite && !writer {
		return InviteResult{}, fmt.Errorf("invite %s as writer: %w", to, ErrNotWriter)
	}
	inv := &codec.Invite{Thread: tid.Bytes(), Role: role, Follow: th.follow.Bytes(), Created: s.deps.Now().Unix(), Invitee: []byte(to)}
	if role != codec.RoleFollow {
		inv.Read = th.read.Load().Bytes()
		th.keysMu.Lock()
		for _, k := range th.oldRead {
			inv.OldRead = append(inv.OldRead, k.Bytes())
		}
		th.keysMu.Unlock()
	}
	inv.Creator = []byte(th.creator)
	if s.net != nil {
		inv.Inviter = []byte(s.net.self())
		inv.Addrs = s.net.inviteAddrs(ctx, th)
	}
	text, err := codec.SealInvite(inv, pk)
	if err != nil {
		return InviteResult{}, fmt.Errorf("invite %s: %w", to, err)
	}
	res := InviteResult{Invite: text}
	if s.net != nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := s.net.request(dctx, to, &codec.Message{Type: codec.MsgInvite, Invite: text}); err == nil {
			res.Delivered = true
		} else {
			log.Debugf("deliver invite to %s: %s", to, err)
		}
	}
	return res, nil
}

// What an invite lists of where the thread is, whatever the thread's
// address book holds, so that an invite stays small.
const (
	// maxInviteAddrs bounds the log addresses an invite lists.
	maxInviteAddrs = 64
	// maxInvitePeers bounds the peers besides the inviter an invite names.
	maxInvitePeers = 8
	// invitePeerAddrs bounds the addresses listed for each of them.
	invitePeerAddrs = 4
)

// inviteAddrs lists where an invitee finds a thread, as log addresses
// (/.../p2p/<peer>/ipel/<log>), at most maxInviteAddrs: this node's
// addresses first, then a few other peers from the address book, those
// announced most recently first. One log per peer is enough: the invitee
// learns every log from the heads of the peers it syncs with.
func (n *network) inviteAddrs(ctx context.Context, th *thread) [][]byte {
	var out [][]byte
	add := func(p2p []byte, logID ipel.LogID) bool {
		if len(out) == maxInviteAddrs {
			return false
		}
		logPart, err := ipel.LogMultiaddr(logID)
		if err != nil {
			return false
		}
		addr, err := ma.NewMultiaddrBytes(p2p)
		if err != nil {
			return true
		}
		out = append(out, addr.Encapsulate(logPart).Bytes())
		return true
	}
	if logs := announcedLogs(th); len(logs) > 0 {
		for _, a := range n.selfAddrs() {
			add(a, logs[0])
		}
	}
	entries := n.book.Entries(ctx, th.id)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Expires.After(entries[j].Expires) })
	named := map[peer.ID]bool{n.self(): true}
	for _, e := range entries {
		if named[e.Peer] || len(named) > maxInvitePeers {
			continue
		}
		named[e.Peer] = true
		info := peer.AddrInfo{ID: e.Peer, Addrs: e.Addrs[:min(len(e.Addrs), invitePeerAddrs)]}
		p2p, err := peer.AddrInfoToP2pAddrs(&info)
		if err != nil {
			continue
		}
		for _, a := range p2p {
			if !add(a.Bytes(), e.Log) {
				return out
			}
		}
	}
	return out
}

// ReceivedInvite is an invite delivered to this node.
type ReceivedInvite struct {
	Invite   string
	Thread   ipel.ThreadID
	Role     codec.Role
	From     peer.ID
	Received time.Time
}

type storedInvite struct {
	Invite   string `cbor:"i"`
	From     []byte `cbor:"f"`
	Received int64  `cbor:"r"`
}

// receiveInvite stores an invite delivered by its inviter, within the
// quotas of the inbox (admit checked the sender's before the invite was
// read), and follows the thread at once when it is a follow invite and the
// node accepts them, within the automatic follows' quotas. Its work is one
// invite opened and one record written, whatever is stored already.
func (n *network) receiveInvite(ctx context.Context, from peer.ID, m *codec.Message) (*codec.Message, error) {
	inv, err := codec.OpenInvite(m.Invite, n.s.deps.Identity)
	if err != nil {
		n.stats.reject(from, "bad invite", err)
		return nil, err
	}
	if string(inv.Inviter) != string(from) {
		err := fmt.Errorf("%w: delivered by %s, made by another peer", codec.ErrBadInvite, from)
		n.stats.reject(from, "bad invite", err)
		return nil, err
	}
	tid, err := ipel.ThreadIDFromBytes(inv.Thread)
	if err != nil {
		n.stats.reject(from, "bad invite", err)
		return nil, err
	}
	if _, err := n.s.thread(tid); err == nil {
		return &codec.Message{Type: codec.MsgOK}, nil // already held: nothing to keep
	}
	slot := inviteSlot{tid, from}
	undo, err := n.s.invites.reserve(slot)
	if err != nil {
		n.stats.reject(from, "invite quota", err)
		return nil, err
	}
	if err := putCBOR(ctx, n.s.deps.Datastore, inviteKey(tid, from), &storedInvite{Invite: m.Invite, From: []byte(from), Received: n.s.deps.Now().UnixNano()}); err != nil {
		undo()
		return nil, err
	}
	if inv.Role == codec.RoleFollow && n.s.cfg.AcceptFollowInvites {
		n.autoFollow(tid, from, m.Invite)
	}
	return &codec.Message{Type: codec.MsgOK}, nil
}

// autoFollow joins a thread on a follow invite, in the background, within
// the quotas of automatic follows, and records whose invite it followed.
func (n *network) autoFollow(tid ipel.ThreadID, inviter peer.ID, text string) {
	ok, undo, err := n.s.invites.reserveFollow(tid, inviter)
	if err != nil {
		n.stats.reject(inviter, "follow quota", err)
		log.Infof("follow thread %s for %s: %s", tid, inviter, err)
		return
	}
	if !ok {
		return // being joined already
	}
	started := n.spawn(func() {
		if _, err := n.s.Join(n.ctx, text); err != nil {
			undo()
			if !errors.Is(err, ErrAlreadyMember) {
				log.Warnf("follow thread %s for %s: %s", tid, inviter, err)
			}
			return
		}
		if err := n.s.deps.Datastore.Put(n.ctx, autoFollowKey(tid, inviter), []byte{}); err != nil {
			log.Warnf("follow thread %s for %s: record the follow: %s (not counted after a restart)", tid, inviter, err)
		}
	})
	if !started {
		undo()
	}
}

// forgetInvites deletes the stored invites to a thread (once it is joined).
func (s *Service) forgetInvites(ctx context.Context, tid ipel.ThreadID) error {
	s.invites.dropInvites(tid)
	return deletePrefix(ctx, s.deps.Datastore, "/inv/"+tid.String()+"/")
}

// Invites lists the invites delivered to this node and not yet joined.
func (s *Service) Invites(ctx context.Context) ([]ReceivedInvite, error) {
	entries, err := queryAll(ctx, s.deps.Datastore, "/inv/")
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	out := make([]ReceivedInvite, 0, len(entries))
	for _, e := range entries {
		var si storedInvite
		if err := codec.Unmarshal(e.Value, &si); err != nil {
			continue
		}
		inv, err := codec.OpenInvite(si.Invite, s.deps.Identity)
		if err != nil {
			continue
		}
		tid, err := ipel.ThreadIDFromBytes(inv.Thread)
		if err != nil {
			continue
		}
		if _, err := s.thread(tid); err == nil {
			continue // joined since
		}
		out = append(out, ReceivedInvite{Invite: si.Invite, Thread: tid, Role: inv.Role, From: peer.ID(si.From), Received: time.Unix(0, si.Received)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Received.Before(out[j].Received) })
	return out, nil
}

// JoinOptions tune a join.
type JoinOptions struct {
	// FullReplay skips the snapshot: the whole history is pulled and the
	// views replay it (or, when every peer that serves a log compacted
	// events, the log reports a CatchUpError; it is never truncated). By
	// default a reader or writer of a raw thread first takes the inviter's
	// latest snapshot (if it has one, signed by the inviter), starts each
	// log after the snapshot's cursor and pulls only later events.
	FullReplay bool
}

// Join accepts an invite: it records the thread's keys, creates this node's
// log when the role is write, learns where the logs are, takes the
// inviter's latest snapshot (readers and writers of raw threads), announces
// itself to the members it can reach, and starts pulling the history after
// the snapshot.
func (s *Service) Join(ctx context.Context, text string) (ThreadInfo, error) {
	return s.JoinWith(ctx, text, JoinOptions{})
}

// JoinWith is Join with options. Joins of one thread do not overlap: while
// one is under way, another fails with ErrAlreadyMember, so a thread gets
// one record and at most one own log.
func (s *Service) JoinWith(ctx context.Context, text string, opts JoinOptions) (ThreadInfo, error) {
	if s.deps.Identity == nil {
		return ThreadInfo{}, errors.New("join: this node has no identity key to open invites")
	}
	inv, err := codec.OpenInvite(text, s.deps.Identity)
	if err != nil {
		return ThreadInfo{}, err
	}
	tid, err := ipel.ThreadIDFromBytes(inv.Thread)
	if err != nil {
		return ThreadInfo{}, fmt.Errorf("%w: %v", codec.ErrBadInvite, err)
	}
	release, err := s.claimJoin(tid)
	if err != nil {
		return ThreadInfo{}, err
	}
	defer release()
	follow, err := codec.KeyFromBytes(inv.Follow)
	if err != nil {
		return ThreadInfo{}, fmt.Errorf("%w: %v", codec.ErrBadInvite, err)
	}
	now := s.deps.Now()
	rec := &threadRecord{ID: tid.Bytes(), Created: now.UnixNano(), Follow: inv.Follow}
	th := newThread(tid, now)
	th.follow = follow
	if inv.Role != codec.RoleFollow {
		read, err := codec.KeyFromBytes(inv.Read)
		if err != nil {
			return ThreadInfo{}, fmt.Errorf("%w: %v", codec.ErrBadInvite, err)
		}
		th.read.Store(read)
		rec.Read = inv.Read
		for _, ok := range inv.OldRead {
			k, err := codec.KeyFromBytes(ok)
			if err != nil {
				return ThreadInfo{}, fmt.Errorf("%w: %v", codec.ErrBadInvite, err)
			}
			th.oldRead = append(th.oldRead, k)
			rec.OldRead = append(rec.OldRead, ok)
		}
	}
	if tid.Variant() == ipel.VariantAccessControlled {
		creator := peer.ID(inv.Creator)
		if !tid.CreatedBy(creator) {
			return ThreadInfo{}, fmt.Errorf("%w: the thread ID does not name %s as its creator", codec.ErrBadInvite, creator)
		}
		th.creator, rec.Creator = creator, inv.Creator
		// The ACL judges events by the history before them: a member
		// replays it from the start rather than take anyone's word for it.
		opts.FullReplay = true
	}
	b, err := s.deps.Datastore.Batch(ctx)
	if err != nil {
		return ThreadInfo{}, err
	}
	if err := putCBOR(ctx, b, threadKey(tid), rec); err != nil {
		return ThreadInfo{}, err
	}
	if inv.Role == codec.RoleWrite {
		sk, logID, identity, err := s.newOwnLog(tid)
		if err != nil {
			return ThreadInfo{}, err
		}
		th.own = &logState{id: logID, sk: sk, identity: identity}
		th.logs[logID] = th.own
		lr, err := th.own.record()
		if err != nil {
			return ThreadInfo{}, err
		}
		if err := putCBOR(ctx, b, logKey(tid, logID), lr); err != nil {
			return ThreadInfo{}, err
		}
	}
	var peers []peer.ID
	for _, raw := range inv.Addrs {
		addr, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			continue
		}
		info, logID, err := ipel.SplitLogAddr(addr)
		if err != nil {
			continue
		}
		if _, ok := th.logs[logID]; !ok {
			st := &logState{id: logID}
			th.logs[logID] = st
			lr, _ := st.record()
			if err := putCBOR(ctx, b, logKey(tid, logID), lr); err != nil {
				return ThreadInfo{}, err
			}
		}
		if s.net != nil && info.ID != s.net.self() {
			_ = s.net.book.Add(ctx, tid, logID, info, s.cfg.AddrTTL)
			// The inviter's own addresses are kept as long as announced
			// ones; those it gives for other peers only for the first
			// syncs, after which those peers announce their own.
			ttl := peerstore.TempAddrTTL
			if string(info.ID) == string(inv.Inviter) {
				ttl = s.cfg.AddrTTL
			}
			s.net.host.Peerstore().AddAddrs(info.ID, info.Addrs, ttl)
			peers = append(peers, info.ID)
		}
	}
	if err := s.commit(ctx, b); err != nil {
		return ThreadInfo{}, fmt.Errorf("join %s: %w", tid, err)
	}
	if err := s.forgetInvites(ctx, tid); err != nil {
		log.Warnf("join %s: forget its invites: %s", tid, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ThreadInfo{}, ErrClosed
	}
	s.threads[tid] = th
	s.mu.Unlock()
	if s.net != nil {
		if inviter := peer.ID(inv.Inviter); !opts.FullReplay && th.read.Load() != nil && inviter != "" && inviter != s.net.self() {
			s.net.joinFromSnapshot(ctx, th, inviter)
		}
		s.net.subscribe(th)
		seen := map[peer.ID]bool{}
		for _, p := range peers {
			if !seen[p] {
				seen[p] = true
				s.net.syncSoon(th, p)
			}
		}
	}
	return th.info(), nil
}

// claimJoin makes this call the only join of a thread under way; release
// ends the claim (the thread is then registered, or the join failed).
func (s *Service) claimJoin(tid ipel.ThreadID) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ErrClosed
	case s.threads[tid] != nil:
		return nil, fmt.Errorf("join %s: %w", tid, ErrAlreadyMember)
	case s.joining[tid]:
		return nil, fmt.Errorf("join %s: another join of the thread is under way: %w", tid, ErrAlreadyMember)
	}
	s.joining[tid] = true
	return func() {
		s.mu.Lock()
		delete(s.joining, tid)
		s.mu.Unlock()
	}, nil
}

// AddFollower hands the peer at addr the thread's follow key (a follow
// invite, delivered directly) and starts pushing the thread's events to it.
// The peer replicates and serves the logs and reads nothing.
func (s *Service) AddFollower(ctx context.Context, tid ipel.ThreadID, addr ma.Multiaddr) (InviteResult, error) {
	if s.net == nil {
		return InviteResult{}, errNoNetwork
	}
	th, err := s.thread(tid)
	if err != nil {
		return InviteResult{}, err
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return InviteResult{}, fmt.Errorf("follower address %s: %w (want /.../p2p/<peer-id>)", addr, err)
	}
	if info.ID == s.net.self() {
		return InviteResult{}, errors.New("a node cannot follow its own thread")
	}
	if len(info.Addrs) > 0 {
		s.net.host.Peerstore().AddAddrs(info.ID, info.Addrs, s.cfg.AddrTTL)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.net.host.Connect(cctx, *info); err != nil {
		return InviteResult{}, fmt.Errorf("connect to follower %s: %w", info.ID, err)
	}
	res, err := s.Invite(ctx, tid, info.ID, codec.RoleFollow)
	if err != nil {
		return res, err
	}
	for _, l := range th.info().Logs {
		if err := s.net.book.Add(ctx, tid, l.ID, *info, s.cfg.AddrTTL); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Addrs lists the thread's address book: which peers serve which logs,
// until when.
func (s *Service) Addrs(ctx context.Context, tid ipel.ThreadID) ([]ipel.AddrEntry, error) {
	if _, err := s.thread(tid); err != nil {
		return nil, err
	}
	if s.net == nil {
		return nil, nil
	}
	return s.net.book.Entries(ctx, tid), nil
}

// joinFromSnapshot takes the inviter's latest snapshot (see
// joinSnapshot). Without one, or when it is refused, the join replays the
// whole history instead.
func (n *network) joinFromSnapshot(ctx context.Context, th *thread, inviter peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	si, err := n.joinSnapshot(ctx, th, inviter)
	switch {
	case err == nil:
		log.Infof("thread %s: joined from snapshot %s of %s (%d events)", th.id, si.Root, inviter, si.Events)
	case errors.Is(err, ErrSnapshotRefused) || errors.Is(err, codec.ErrBadSnapshot):
		log.Warnf("thread %s: snapshot from %s refused, replaying the whole history: %s", th.id, inviter, err)
	default:
		log.Infof("thread %s: no snapshot from %s, replaying the whole history: %s", th.id, inviter, err)
	}
}
