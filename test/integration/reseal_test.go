//go:build integration

package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/codec/codectest"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// follower is an in-process attacker: a libp2p host that a daemon adds as
// a follower (`ipfs threads follower add`). It takes the follow invite,
// and then uses the follow key in bad faith over the sync protocol.
type follower struct {
	t    *testing.T
	host host.Host

	mu     sync.Mutex
	invite *codec.Invite
}

func newFollower(t *testing.T) *follower {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	f := &follower{t: t, host: h}
	h.SetStreamHandler(threads.ProtocolID, f.serve)
	return f
}

// serve takes invites and acknowledges everything else without acting on
// it (pushes of the thread's events among them).
func (f *follower) serve(st p2pnet.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	m, err := codec.ReadMessage(bufio.NewReader(st))
	if err != nil {
		_ = st.Reset()
		return
	}
	if m.Type == codec.MsgInvite {
		inv, err := codec.OpenInvite(m.Invite, f.host.Peerstore().PrivKey(f.host.ID()))
		if err != nil {
			_ = codec.WriteMessage(st, &codec.Message{Type: codec.MsgError, Error: err.Error()})
			return
		}
		f.mu.Lock()
		f.invite = inv
		f.mu.Unlock()
	}
	_ = codec.WriteMessage(st, &codec.Message{Type: codec.MsgOK})
}

func (f *follower) addr() string {
	for _, a := range f.host.Addrs() {
		return a.Encapsulate(ma.StringCast("/p2p/" + f.host.ID().String())).String()
	}
	f.t.Fatal("follower has no address")
	return ""
}

// followKey waits for the follow invite and returns its key.
func (f *follower) followKey() *codec.Key {
	f.t.Helper()
	var k *codec.Key
	waitFor(f.t, 10*time.Second, "the follow invite", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.invite == nil {
			return errors.New("no invite yet")
		}
		var err error
		k, err = codec.KeyFromBytes(f.invite.Follow)
		return err
	})
	return k
}

// request sends one message to a daemon, with the thread proof the follow
// key makes.
func (f *follower) request(to peer.ID, follow *codec.Key, tid ipel.ThreadID, m *codec.Message) (*codec.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.Thread = tid.Bytes()
	m.Auth = codec.ThreadAuth(follow, tid.Bytes(), []byte(f.host.ID()), []byte(to))
	st, err := f.host.NewStream(ctx, to, threads.ProtocolID)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := codec.WriteMessage(st, m); err != nil {
		return nil, err
	}
	_ = st.CloseWrite()
	resp, err := codec.ReadMessage(bufio.NewReader(st))
	if err != nil {
		return nil, err
	}
	if resp.Type == codec.MsgError {
		return nil, errors.New(resp.Error)
	}
	return resp, nil
}

func (f *follower) connect(n *syncNode) peer.ID {
	f.t.Helper()
	info, err := peer.AddrInfoFromString(n.addr())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.host.Connect(context.Background(), *info); err != nil {
		f.t.Fatal(err)
	}
	return info.ID
}

// TestResealedEventAgainstDaemons: a follower pulls an event from A, seals
// it again, and pushes the copy to B before B has the genuine one. B
// refuses the copy (malformed), records no equivocation, and goes on
// syncing A's log: the genuine event and the next ones arrive.
func TestResealedEventAgainstDaemons(t *testing.T) {
	h := newCluster(t)
	// B's anti-entropy starts 2 s after it is back: the copy, pushed at
	// once, gets there first.
	a := newSyncNode(t, h, "A", syncOpts{antiEntropy: "1h"})
	b := newSyncNode(t, h, "B", syncOpts{antiEntropy: "2s"})
	startAll(a, b)
	connect(t, b, a)
	tid, logA, _, _, _ := shareWriter(t, a, b, 2, "A %02d")
	f := newFollower(t)
	var fo inviteOut
	a.mustJSON(&fo, "threads", "follower", "add", tid, f.addr())
	if !fo.Delivered {
		t.Fatalf("follower add: %+v", fo)
	}
	follow := f.followKey()
	threadID, err := ipel.ParseThreadID(tid)
	if err != nil {
		t.Fatal(err)
	}
	logID, err := ipel.ParseLogID(logA)
	if err != nil {
		t.Fatal(err)
	}

	// B is down while A writes its third event; the follower pulls it.
	b.stop()
	third := a.addEvent(tid, []byte("A 02"))
	aid := f.connect(a)
	resp, err := f.request(aid, follow, threadID, &codec.Message{Type: codec.MsgPull, Log: []byte(logID), From: 3, Max: 1})
	if err != nil || len(resp.Events) != 1 {
		t.Fatalf("pull from A: %v", err)
	}
	genuine, err := blocks.NewBlockWithCid(resp.Events[0], cid.MustParse(third.Cid))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := codec.Open(genuine, follow)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := codectest.Reseal(ev, follow, codec.EnvelopeVersion)
	if err != nil {
		t.Fatal(err)
	}

	// B comes back; the copy reaches it first.
	b.start()
	bid := f.connect(b)
	if _, err := f.request(bid, follow, threadID, &codec.Message{Type: codec.MsgPush, Events: [][]byte{copied.RawData()}}); err != nil {
		t.Fatalf("push to B: %v", err)
	}
	var st struct {
		Rejected      map[string]uint64
		Equivocations int
	}
	waitFor(t, 10*time.Second, "B refuses the copy", func() error {
		if err := b.tryJSON(&st, "threads", "stats", tid); err != nil {
			return err
		}
		if st.Rejected["malformed event"] == 0 {
			return fmt.Errorf("rejected %v", st.Rejected)
		}
		return nil
	})
	if got := heads(b.info(tid))[logA]; !strings.HasPrefix(got, "2 ") {
		t.Fatalf("B: A's log at %q after the copy, want seq 2", got)
	}
	if res := b.run("block", "stat", "--offline", copied.Cid().String()); !failed(res) {
		t.Fatal("B stored the copy")
	}

	// A writes on: B gets the genuine third event and the next ones.
	connect(t, b, a)
	fourth := a.addEvent(tid, []byte("A 03"))
	in := waitLogAt(t, b, tid, logA, 4)
	if len(in.Equivocations) != 0 {
		t.Fatalf("B records equivocations: %+v", in.Equivocations)
	}
	evs := b.events(tid)
	var seen []string
	for _, e := range evs {
		if e.Log == logA {
			seen = append(seen, e.Cid)
		}
	}
	if len(seen) != 4 || seen[2] != third.Cid || seen[3] != fourth.Cid {
		t.Fatalf("B holds %v of A's log, want the genuine %s and %s at 3 and 4", seen, third.Cid, fourth.Cid)
	}
	if err := b.tryJSON(&st, "threads", "stats", tid); err != nil || st.Equivocations != 0 {
		t.Fatalf("B stats: %+v %v", st, err)
	}
}
