package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// A member in bad faith: a libp2p host with a stable identity (a key file,
// so that a daemon can invite it before it runs), the keys of the invite it
// was sent, and the sync protocol spoken by hand. Attacks build on it.

func init() {
	register("id", "print the peer ID of a key file (created if missing): attacker id -key FILE", runID)
}

func runID(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("id", flag.ContinueOnError)
	keyFile := fs.String("key", "", "the identity key file (created if missing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sk, err := loadKey(*keyFile)
	if err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return err
	}
	fmt.Println(id)
	return nil
}

// loadKey reads an Ed25519 libp2p private key from path, creating it when
// the file does not exist.
func loadKey(path string) (crypto.PrivKey, error) {
	if path == "" {
		return nil, errors.New("-key is required")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		sk, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		raw, err := crypto.MarshalPrivateKey(sk)
		if err != nil {
			return nil, err
		}
		return sk, os.WriteFile(path, raw, 0o600)
	}
	if err != nil {
		return nil, err
	}
	return crypto.UnmarshalPrivateKey(b)
}

// member is the attacker as a member of one thread.
type member struct {
	sk     crypto.PrivKey
	host   host.Host
	inv    *codec.Invite
	thread ipel.ThreadID
	follow *codec.Key
	read   *codec.Key // nil for a follow invite

	out sync.Mutex // serialises report lines
}

// newMember starts a host with the key, listening on listen, and opens the
// invite (its text, as 'ipfs threads invite' printed it).
func newMember(sk crypto.PrivKey, listen, invite string) (*member, error) {
	inv, err := codec.OpenInvite(strings.TrimSpace(invite), sk)
	if err != nil {
		return nil, fmt.Errorf("open the invite: %w", err)
	}
	m := &member{sk: sk, inv: inv}
	if m.thread, err = ipel.ThreadIDFromBytes(inv.Thread); err != nil {
		return nil, err
	}
	if m.follow, err = codec.KeyFromBytes(inv.Follow); err != nil {
		return nil, err
	}
	if len(inv.Read) > 0 {
		if m.read, err = codec.KeyFromBytes(inv.Read); err != nil {
			return nil, err
		}
	}
	if m.host, err = libp2p.New(libp2p.Identity(sk), libp2p.ListenAddrStrings(listen), libp2p.DisableRelay()); err != nil {
		return nil, fmt.Errorf("start host: %w", err)
	}
	return m, nil
}

func (m *member) close() { _ = m.host.Close() }

// report prints one line of what the attacker did or saw.
func (m *member) report(format string, args ...any) {
	m.out.Lock()
	defer m.out.Unlock()
	fmt.Printf(format+"\n", args...)
}

// announceSelf prints the attacker's peer ID and addresses.
func (m *member) announceSelf() {
	m.report("peer %s", m.host.ID())
	for _, a := range m.host.Addrs() {
		m.report("addr %s/p2p/%s", a, m.host.ID())
	}
}

// connect dials a peer at a /p2p address.
func (m *member) connect(ctx context.Context, addr string) (peer.ID, error) {
	a, err := ma.NewMultiaddr(addr)
	if err != nil {
		return "", fmt.Errorf("target %q: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return "", fmt.Errorf("target %q: %w", addr, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := m.host.Connect(cctx, *info); err != nil {
		return "", fmt.Errorf("connect to %s: %w", info.ID, err)
	}
	return info.ID, nil
}

// request sends a thread message to p, with the thread proof, and reads
// the answer.
func (m *member) request(ctx context.Context, p peer.ID, msg *codec.Message) (*codec.Message, error) {
	msg.Thread = m.thread.Bytes()
	msg.Auth = codec.ThreadAuth(m.follow, m.thread.Bytes(), []byte(m.host.ID()), []byte(p))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := m.host.NewStream(ctx, p, threads.ProtocolID)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if err := codec.WriteMessage(st, msg); err != nil {
		return nil, err
	}
	if err := st.CloseWrite(); err != nil {
		return nil, err
	}
	resp, err := codec.ReadMessage(bufio.NewReader(st))
	if err != nil {
		return nil, err
	}
	if resp.Type == codec.MsgError {
		return nil, fmt.Errorf("%s refused: %s", p, resp.Error)
	}
	return resp, nil
}

// serve answers every sync request with answer's message (an error
// message when it returns nil), reporting each request as
// "asked <type> by <peer>".
func (m *member) serve(answer func(from peer.ID, msg *codec.Message) *codec.Message) {
	m.host.SetStreamHandler(threads.ProtocolID, func(st p2pnet.Stream) {
		defer st.Close()
		_ = st.SetDeadline(time.Now().Add(30 * time.Second))
		from := st.Conn().RemotePeer()
		msg, err := codec.ReadMessage(bufio.NewReader(st))
		if err != nil {
			_ = st.Reset()
			return
		}
		m.report("asked %s by %s", msgName(msg.Type), from)
		resp := answer(from, msg)
		if resp == nil {
			resp = &codec.Message{Type: codec.MsgError, Error: "no"}
		}
		if resp.Type != codec.MsgOK && resp.Type != codec.MsgError {
			// An answer that carries data carries the answerer's proof.
			resp.Auth = codec.ThreadAuth(m.follow, m.thread.Bytes(), []byte(m.host.ID()), []byte(from))
		}
		if err := codec.WriteMessage(st, resp); err != nil {
			_ = st.Reset()
		}
	})
}

// inviteLogs lists the logs an invite's addresses name, in order.
func (m *member) inviteLogs() []ipel.LogID {
	var out []ipel.LogID
	seen := map[ipel.LogID]bool{}
	for _, raw := range m.inv.Addrs {
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			continue
		}
		if _, id, err := ipel.SplitLogAddr(a); err == nil && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// inviteFor seals an invite of the attacker's own to a peer: the keys of
// its invite, this host as the inviter and first address of every log,
// then the addresses its own invite listed.
func (m *member) inviteFor(to peer.ID) (string, error) {
	pk, err := to.ExtractPublicKey()
	if err != nil {
		return "", fmt.Errorf("invitee %s: %w", to, err)
	}
	inv := *m.inv
	inv.Inviter, inv.Invitee, inv.Created = []byte(m.host.ID()), []byte(to), time.Now().Unix()
	inv.Addrs = nil
	for _, id := range m.inviteLogs() {
		addrs, err := ipel.LogAddr{Peer: peer.AddrInfo{ID: m.host.ID(), Addrs: m.host.Addrs()}, Log: id}.Multiaddrs()
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			inv.Addrs = append(inv.Addrs, a.Bytes())
		}
	}
	inv.Addrs = append(inv.Addrs, m.inv.Addrs...)
	return codec.SealInvite(&inv, pk)
}

func msgName(t codec.MsgType) string {
	names := map[codec.MsgType]string{
		codec.MsgPush: "push", codec.MsgHeads: "heads", codec.MsgPull: "pull", codec.MsgEvents: "events",
		codec.MsgAnnounce: "announce", codec.MsgInvite: "invite", codec.MsgOK: "ok", codec.MsgError: "error",
		codec.MsgSnapshot: "snapshot", codec.MsgBlocks: "blocks", codec.MsgCompacted: "compacted",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("type-%d", t)
}
