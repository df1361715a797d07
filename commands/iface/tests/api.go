// Package tests is the conformance suite of the threads API
// (commands/iface): one set of tests that every implementation passes, the
// in-process node (commands/nodeapi) and the RPC client talking to real
// daemons (commands/client), as Kubo's coreiface/tests does for its
// CoreAPI. It checks every method, its errors (by kind and by sentinel),
// the listen streams (stopping them), and sharing between two nodes.
package tests

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// Node is a node the provider made: its API, and its peer ID and
// addresses (each ending in /p2p/<ID>) for others to invite and dial it.
type Node struct {
	API   iface.API
	ID    peer.ID
	Addrs []ma.Multiaddr
}

// Provider makes nodes for the suite.
type Provider interface {
	// MakeNodes returns n fresh nodes, connected to each other, that live
	// until the test ends. It fails the test when it cannot.
	MakeNodes(t *testing.T, n int) []Node
}

// TestAPI runs the whole suite. Single-node tests share one node (each
// makes threads of its own); sharing tests share a connected pair.
func TestAPI(t *testing.T, p Provider) {
	one := p.MakeNodes(t, 1)[0]
	t.Run("Threads", func(t *testing.T) { testThreads(t, one) })
	t.Run("Events", func(t *testing.T) { testEvents(t, one) })
	t.Run("Listen", func(t *testing.T) { testListen(t, one) })
	t.Run("KV", func(t *testing.T) { testKV(t, one) })
	t.Run("Docs", func(t *testing.T) { testDocs(t, one) })
	t.Run("DocsListen", func(t *testing.T) { testDocsListen(t, one) })
	t.Run("ACL", func(t *testing.T) { testACL(t, one) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, one) })
	pair := p.MakeNodes(t, 2)
	t.Run("Sharing", func(t *testing.T) { testSharing(t, pair[0], pair[1]) })
	t.Run("Followers", func(t *testing.T) { testFollowers(t, pair[0], pair[1]) })
	t.Run("ACLSharing", func(t *testing.T) { testACLSharing(t, pair[0], pair[1]) })
}

// timeout bounds every call of the suite.
const timeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// must fails the test on err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr checks that err is of the kind and, when sentinel is set, wraps
// it.
func wantErr(t *testing.T, err error, kind, sentinel error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, kind)
	}
	if !errors.Is(err, kind) {
		t.Errorf("%s: %q is not %v", what, err, kind)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("%s: %q does not wrap %q", what, err, sentinel)
	}
}

// eventually polls cond until it returns nil, failing the test after the
// deadline.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// next reads a stream's next item, failing the test if none comes within
// the timeout (the stream is closed then, so the read ends).
func next[T any](t *testing.T, s iface.Stream[T]) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := s.Next()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(timeout):
		_ = s.Close()
		<-ch
		t.Fatalf("stream: nothing after %s", timeout)
		var zero T
		return zero, nil
	}
}

// mustNext is next that fails the test on an error.
func mustNext[T any](t *testing.T, s iface.Stream[T]) T {
	t.Helper()
	v, err := next(t, s)
	if err != nil {
		t.Fatalf("stream ended: %v", err)
	}
	return v
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
