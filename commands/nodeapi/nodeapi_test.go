package nodeapi

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/ipld/go-ipld-prime/multicodec"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/commands/iface/tests"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

func init() {
	// The daemon registers the codec through Kubo's plugin loader; tests
	// register it the same way, so the pinner can walk logs.
	codec.RegisterIPLD(multicodec.DefaultRegistry)
}

// stores are a node's stores, kept across restarts of its engine.
type stores struct {
	root   ds.Batching
	blocks bstore.Blockstore
	pinner pin.Pinner
}

func newStores(t testing.TB) *stores {
	t.Helper()
	root := dssync.MutexWrap(ds.NewMapDatastore())
	bs := bstore.NewBlockstore(root)
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	p, err := dspinner.New(context.Background(), root, dag)
	if err != nil {
		t.Fatal(err)
	}
	return &stores{root: root, blocks: bs, pinner: p}
}

// node is a running engine, its views and its API on a node's stores.
type node struct {
	svc   *threads.Service
	views *views.Manager
	api   *API
}

// The namespaces the plugin gives the engine, the views and the API.
func (s *stores) engineStore() ds.Batching { return namespace.Wrap(s.root, ds.NewKey("/threads")) }
func (s *stores) viewStore() ds.Batching {
	return namespace.Wrap(s.engineStore(), ds.NewKey("/views"))
}
func (s *stores) apiStore() ds.Batching { return namespace.Wrap(s.engineStore(), ds.NewKey("/api")) }

// open starts an engine (online with h, when set), its views and the API.
func (s *stores) open(t testing.TB, h host.Host) *node {
	t.Helper()
	ctx := context.Background()
	deps := threads.Deps{Datastore: s.engineStore(), Blockstore: s.blocks, Pinner: s.pinner}
	if h != nil {
		deps.Host, deps.Identity = h, h.Peerstore().PrivKey(h.ID())
	}
	svc, err := threads.New(ctx, deps, threads.Config{AntiEntropyInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mgr := views.NewManager(svc, s.viewStore(), nil)
	api, err := Open(ctx, Deps{Threads: svc, Views: mgr, Host: h, Datastore: s.apiStore()})
	if err != nil {
		_ = mgr.Close()
		_ = svc.Close()
		t.Fatal(err)
	}
	n := &node{svc: svc, views: mgr, api: api}
	t.Cleanup(n.close)
	return n
}

func (n *node) close() {
	_ = n.views.Close()
	_ = n.svc.Close()
}

// provider makes in-process nodes: libp2p hosts on 127.0.0.1 (no pubsub:
// events travel by direct push and anti-entropy) on in-memory stores.
type provider struct{}

func (provider) MakeNodes(t *testing.T, n int) []tests.Node {
	t.Helper()
	var hosts []host.Host
	var out []tests.Node
	for range n {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		nd := newStores(t).open(t, h)
		addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
		out = append(out, tests.Node{API: nd.api, ID: h.ID(), Addrs: addrs})
	}
	for i, a := range hosts {
		for _, b := range hosts[i+1:] {
			if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestConformance runs the API's conformance suite on in-process nodes.
func TestConformance(t *testing.T) {
	tests.TestAPI(t, provider{})
}
