package nodeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// keysNaming lists the keys of the views' store that name the thread.
func keysNaming(t *testing.T, s *stores, tid ipel.ThreadID) []string {
	t.Helper()
	res, err := s.viewStore().Query(context.Background(), dsq.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Key, tid.String()) {
			out = append(out, e.Key)
		}
	}
	return out
}

// removalsRecorded counts the removals under way.
func removalsRecorded(t *testing.T, s *stores) int {
	t.Helper()
	res, err := s.apiStore().Query(context.Background(), dsq.Query{Prefix: removePrefix, KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// withViews creates a thread whose views hold a key, a document and its
// change.
func withViews(t *testing.T, api *API) ipel.ThreadID {
	t.Helper()
	ctx := context.Background()
	th, err := api.Threads().Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.KV().Put(ctx, th.ID, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Docs().AddCollection(ctx, th.ID, "notes"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Docs().Put(ctx, th.ID, "notes", json.RawMessage(`{"_id":"n1"}`)); err != nil {
		t.Fatal(err)
	}
	return th.ID
}

// TestRemoveCrashSafe stops a removal after each of its steps (a crash:
// the engine and views stop, nothing more runs) and starts the node again:
// the thread is either whole, or gone with its views, and no record of the
// removal is left.
func TestRemoveCrashSafe(t *testing.T) {
	ctx := context.Background()
	for done := 0; done <= len(removeSteps); done++ {
		t.Run(fmt.Sprintf("after %d steps", done), func(t *testing.T) {
			s := newStores(t)
			n := s.open(t, nil)
			tid := withViews(t, n.api)
			if len(keysNaming(t, s, tid)) == 0 {
				t.Fatal("the thread's views hold nothing")
			}
			if err := n.api.runRemoval(ctx, tid, removeSteps[:done]); err != nil {
				t.Fatal(err)
			}
			n.close() // the crash

			n = s.open(t, nil)
			_, err := n.api.Threads().Info(ctx, tid)
			switch {
			case done == 0:
				if err != nil {
					t.Fatalf("no step ran, the thread is gone: %v", err)
				}
				if v, err := n.api.KV().Get(ctx, tid, "k"); err != nil || string(v) != "v" {
					t.Errorf("no step ran, the views lost a key: %q, %v", v, err)
				}
			case !errors.Is(err, iface.ErrNotFound):
				t.Fatalf("the removal was recorded, the thread is still there: %v", err)
			default:
				if left := keysNaming(t, s, tid); len(left) > 0 {
					t.Errorf("views left behind: %v", left)
				}
			}
			if r := removalsRecorded(t, s); r != 0 {
				t.Errorf("%d removals still recorded", r)
			}
		})
	}
}

// TestRemoveDropsViews: a removal that completes leaves no view data.
func TestRemoveDropsViews(t *testing.T) {
	s := newStores(t)
	n := s.open(t, nil)
	tid := withViews(t, n.api)
	if err := n.api.Threads().Remove(context.Background(), tid); err != nil {
		t.Fatal(err)
	}
	if left := keysNaming(t, s, tid); len(left) > 0 {
		t.Errorf("views left behind: %v", left)
	}
	if r := removalsRecorded(t, s); r != 0 {
		t.Errorf("%d removals still recorded", r)
	}
}

// TestCreateCrashSafe: a crash after the engine records a new thread and
// before its views start leaves a thread whose views Open starts (the
// thread's record is the intent), with nothing asked of them.
func TestCreateCrashSafe(t *testing.T) {
	ctx := context.Background()
	s := newStores(t)
	n := s.open(t, nil)
	ti, err := n.svc.CreateThread(ctx, ipel.VariantRaw) // the first step alone
	if err != nil {
		t.Fatal(err)
	}
	n.close() // the crash
	if len(keysNaming(t, s, ti.ID)) != 0 {
		t.Fatal("views before they started")
	}

	n = s.open(t, nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(keysNaming(t, s, ti.ID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the thread's views did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := n.api.KV().Put(ctx, ti.ID, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := n.api.KV().Get(ctx, ti.ID, "k"); err != nil || string(v) != "v" {
		t.Errorf("get: %q, %v", v, err)
	}
}

// online starts a node with a libp2p host on 127.0.0.1.
func online(t *testing.T, s *stores) (*node, host.Host) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return s.open(t, h), h
}

// TestJoinAfterFailedRemoval: a removal whose steps failed part way (no
// crash: the node runs on) does not take, at the next start, the thread
// joined again since.
func TestJoinAfterFailedRemoval(t *testing.T) {
	ctx := context.Background()
	a, ha := online(t, newStores(t))
	sb := newStores(t)
	b, hb := online(t, sb)
	if err := hb.Connect(ctx, peer.AddrInfo{ID: ha.ID(), Addrs: ha.Addrs()}); err != nil {
		t.Fatal(err)
	}
	tid := withViews(t, a.api)
	join := func() {
		t.Helper()
		inv, err := a.api.Sharing().Invite(ctx, tid, hb.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.api.Sharing().Join(ctx, inv.Invite); err != nil {
			t.Fatal(err)
		}
	}
	join()
	// The removal records itself and forgets the thread, then its next
	// step fails.
	if err := b.api.runRemoval(ctx, tid, removeSteps[:2]); err != nil {
		t.Fatal(err)
	}
	join()
	if r := removalsRecorded(t, sb); r != 0 {
		t.Errorf("the join left %d removals recorded", r)
	}
	b.close()
	_ = hb.Close()

	b, _ = online(t, sb)
	if _, err := b.api.Threads().Info(ctx, tid); err != nil {
		t.Fatalf("the thread joined again is gone after a restart: %v", err)
	}
}
