package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/threads"
)

// syncPeer is a libp2p host that speaks the sync protocol as a hostile
// party: it takes the invites delivered to it (a daemon's `ipfs threads
// invite` or `follower add`), acknowledges whatever else it is sent without
// acting on it, and sends requests with the thread proof of the keys it
// was given.
type syncPeer struct {
	host host.Host

	mu      sync.Mutex
	invites []*codec.Invite
	invited chan struct{} // closed at the first invite
}

func newSyncPeer(listen string) (*syncPeer, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings(listen), libp2p.DisableRelay())
	if err != nil {
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	p := &syncPeer{host: h, invited: make(chan struct{})}
	h.SetStreamHandler(threads.ProtocolID, p.serve)
	return p, nil
}

func (p *syncPeer) close() error { return p.host.Close() }

func (p *syncPeer) serve(st p2pnet.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	m, err := codec.ReadMessage(bufio.NewReader(st))
	if err != nil {
		_ = st.Reset()
		return
	}
	if m.Type == codec.MsgInvite {
		inv, err := codec.OpenInvite(m.Invite, p.host.Peerstore().PrivKey(p.host.ID()))
		if err != nil {
			_ = codec.WriteMessage(st, &codec.Message{Type: codec.MsgError, Error: err.Error()})
			return
		}
		p.mu.Lock()
		p.invites = append(p.invites, inv)
		if len(p.invites) == 1 {
			close(p.invited)
		}
		p.mu.Unlock()
	}
	_ = codec.WriteMessage(st, &codec.Message{Type: codec.MsgOK})
}

// addr is the peer's first listen address with /p2p/<id>.
func (p *syncPeer) addr() (ma.Multiaddr, error) {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: p.host.ID(), Addrs: p.host.Addrs()})
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("no listen address: %v", err)
	}
	return addrs[0], nil
}

// writeAddr writes the peer's address to a file, whole or not at all (a
// test polls for it).
func (p *syncPeer) writeAddr(path string) error {
	a, err := p.addr()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(a.String()+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// firstInvite waits for the first invite delivered to the peer.
func (p *syncPeer) firstInvite(ctx context.Context) (*codec.Invite, error) {
	select {
	case <-p.invited:
	case <-ctx.Done():
		return nil, fmt.Errorf("no invite delivered: %w", ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.invites[0], nil
}

// request connects to a peer and sends it one message of the invite's
// thread, with the thread proof the invite's follow key makes.
func (p *syncPeer) request(ctx context.Context, to peer.AddrInfo, inv *codec.Invite, m *codec.Message) (*codec.Message, error) {
	follow, err := codec.KeyFromBytes(inv.Follow)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.host.Connect(ctx, to); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", to.ID, err)
	}
	m.Thread = inv.Thread
	m.Auth = codec.ThreadAuth(follow, inv.Thread, []byte(p.host.ID()), []byte(to.ID))
	st, err := p.host.NewStream(ctx, to.ID, threads.ProtocolID)
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

// waitFile waits until a file exists and is not empty, and returns its
// first line.
func waitFile(ctx context.Context, path string) (string, error) {
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			line, _, _ := strings.Cut(string(b), "\n")
			return strings.TrimSpace(line), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
