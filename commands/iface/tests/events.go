package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/ipel"
	"github.com/kubo-threads/kubo-threads/threads"
)

// newThread creates a raw thread and returns its ID.
func newThread(t *testing.T, api iface.API, opts ...options.ThreadCreateOption) ipel.ThreadID {
	t.Helper()
	th, err := api.Threads().Create(testContext(t), opts...)
	must(t, err, "create")
	return th.ID
}

// add appends body and returns the event.
func add(t *testing.T, api iface.API, tid ipel.ThreadID, body string) iface.EventRef {
	t.Helper()
	ref, err := api.Events().Add(testContext(t), tid, strings.NewReader(body))
	must(t, err, "add "+body)
	return ref
}

// newPeer makes a peer ID of a fresh key of the type.
func newPeer(t *testing.T, typ int) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateKeyPairWithReader(typ, 256, rand.Reader)
	must(t, err, "key")
	id, err := peer.IDFromPublicKey(pub)
	must(t, err, "peer ID")
	return id
}

func testEvents(t *testing.T, n Node) {
	ctx := testContext(t)
	api := n.API
	tid := newThread(t, api)

	first := add(t, api, tid, "one")
	if first.Seq != 1 || !first.Cid.Defined() || first.Log == "" {
		t.Fatalf("add: %+v", first)
	}
	second := add(t, api, tid, "two")
	if second.Seq != 2 || second.Log != first.Log {
		t.Fatalf("second add: %+v", second)
	}

	_, err := api.Events().Add(ctx, tid, strings.NewReader(""))
	wantErr(t, err, iface.ErrBadInput, threads.ErrEmptyBody, "add an empty body")
	_, err = api.Events().Add(ctx, tid, bytes.NewReader(make([]byte, 1<<20+1)))
	wantErr(t, err, iface.ErrBadInput, threads.ErrBodyTooLarge, "add a body over MaxBodySize")
	_, err = api.Events().Add(ctx, unknownThread(t), strings.NewReader("x"))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "add to an unknown thread")

	// A private event to another peer: every member sees it, not its body.
	other := newPeer(t, crypto.Ed25519)
	private, err := api.Events().Add(ctx, tid, strings.NewReader("secret"), options.Event.To(other))
	must(t, err, "add --to")
	_, err = api.Events().Add(ctx, tid, strings.NewReader("x"), options.Event.To(newPeer(t, crypto.Secp256k1)))
	wantErr(t, err, iface.ErrBadInput, threads.ErrBadRecipient, "add --to a peer without an Ed25519 key")

	evs, err := api.Events().Log(ctx, tid)
	must(t, err, "log")
	if len(evs) != 3 || string(evs[0].Body) != "one" || string(evs[1].Body) != "two" || evs[0].Cid != first.Cid || evs[1].Seq != 2 {
		t.Fatalf("log: %+v", evs)
	}
	if p := evs[2]; p.Cid != private.Cid || !p.Private || p.To != other || p.Body != nil {
		t.Errorf("log: private event %+v", p)
	}
	if evs[0].Time.IsZero() || evs[0].Log != first.Log {
		t.Errorf("log: event %+v", evs[0])
	}
	evs, err = api.Events().Log(ctx, tid, options.Log.Since(1), options.Log.Limit(1))
	must(t, err, "log --since 1 --limit 1")
	if len(evs) != 1 || evs[0].Seq != 2 {
		t.Errorf("log --since 1 --limit 1: %+v", evs)
	}
	evs, err = api.Events().Log(ctx, tid, options.Log.Of(first.Log), options.Log.Since(3))
	must(t, err, "log --log --since 3")
	if len(evs) != 0 {
		t.Errorf("log --since 3: %+v", evs)
	}
	_, err = api.Events().Log(ctx, tid, options.Log.Of(other))
	wantErr(t, err, iface.ErrNotFound, threads.ErrLogNotFound, "log of an unknown log")
	_, err = api.Events().Log(ctx, tid, options.Log.Limit(-1))
	wantErr(t, err, iface.ErrBadInput, nil, "log --limit -1")
	_, err = api.Events().Log(ctx, unknownThread(t))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "log of an unknown thread")

	body, err := api.Events().Cat(ctx, tid, second.Cid)
	must(t, err, "cat")
	if string(body) != "two" {
		t.Errorf("cat: %q", body)
	}
	_, err = api.Events().Cat(ctx, tid, private.Cid)
	wantErr(t, err, iface.ErrNotAllowed, iface.ErrPrivateEvent, "cat a private event to another peer")
	elsewhere := add(t, api, newThread(t, api), "elsewhere")
	_, err = api.Events().Cat(ctx, tid, elsewhere.Cid)
	wantErr(t, err, iface.ErrNotFound, threads.ErrEventNotFound, "cat an event of another thread")
}

func testListen(t *testing.T, n Node) {
	ctx := testContext(t)
	api := n.API
	tid := newThread(t, api)
	add(t, api, tid, "one")
	add(t, api, tid, "two")

	// From the start: the events held, then new ones; Close stops it.
	s, err := api.Events().Listen(ctx, tid)
	must(t, err, "listen")
	for i, want := range []string{"one", "two"} {
		if ev := mustNext(t, s); string(ev.Body) != want || ev.Seq != uint64(i+1) {
			t.Fatalf("listen: event %d is %+v, want %q", i+1, ev, want)
		}
	}
	third := add(t, api, tid, "three")
	if ev := mustNext(t, s); ev.Cid != third.Cid || string(ev.Body) != "three" {
		t.Fatalf("listen: new event %+v, want %+v", ev, third)
	}
	must(t, s.Close(), "close")
	if _, err := next(t, s); !errors.Is(err, io.EOF) {
		t.Errorf("next after close: %v, want io.EOF", err)
	}
	must(t, s.Close(), "close twice")

	// Since: after that seq; Close while Next waits ends that Next.
	s, err = api.Events().Listen(ctx, tid, options.Listen.Since(2))
	must(t, err, "listen --since 2")
	if ev := mustNext(t, s); ev.Seq != 3 {
		t.Fatalf("listen --since 2: %+v", ev)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next()
		done <- err
	}()
	must(t, s.Close(), "close while waiting")
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Errorf("a Next waiting when the stream closed: %v, want io.EOF", err)
	}

	// The context ends a stream.
	cctx, cancel := context.WithCancel(ctx)
	s, err = api.Events().Listen(cctx, tid, options.Listen.Since(3))
	must(t, err, "listen with a context")
	cancel()
	if _, err := next(t, s); !errors.Is(err, context.Canceled) {
		t.Errorf("next after the context ended: %v, want context.Canceled", err)
	}
	must(t, s.Close(), "close after the context ended")

	// Ranging over a stream.
	s, err = api.Events().Listen(ctx, tid)
	must(t, err, "listen to range")
	seen := 0
	for ev, err := range iface.All(s) {
		must(t, err, "range")
		if seen++; ev.Seq == 3 {
			break
		}
	}
	must(t, s.Close(), "close after range")
	if seen != 3 {
		t.Errorf("range: %d events, want 3", seen)
	}

	_, err = api.Events().Listen(ctx, unknownThread(t))
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "listen to an unknown thread")

	// Removing the thread ends its streams with "not found".
	s, err = api.Events().Listen(ctx, tid, options.Listen.Since(3))
	must(t, err, "listen before rm")
	t.Cleanup(func() { _ = s.Close() })
	must(t, api.Threads().Remove(ctx, tid), "rm")
	_, err = next(t, s)
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "a stream of a removed thread")
}
