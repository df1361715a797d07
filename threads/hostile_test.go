package threads

import (
	"bufio"
	"context"
	"io"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// hostile is a peer that speaks the sync protocol as an attacker would. It
// is a full node (so it can hold whatever keys its role gives it, or none),
// but its answers to requests come from a handler the test sets, and it
// can write any bytes on a stream. Adversarial tests use it to play a
// stranger, a follower, a reader or a writer acting in bad faith.
type hostile struct {
	*testNode

	mu        sync.Mutex
	answer    func(from peer.ID, m *codec.Message) *codec.Message
	answerRaw func(from peer.ID, m *codec.Message) []byte
	asked     atomic.Int64 // requests received
}

// newHostile starts a hostile peer. Until answerWith is called it serves
// the sync protocol honestly.
func newHostile(t testing.TB, o nodeOpts) *hostile {
	t.Helper()
	h := &hostile{testNode: newTestNode(t, o)}
	h.host.SetStreamHandler(ProtocolID, h.handle)
	return h
}

// answerWith makes the peer answer every request with fn's message; fn
// returning nil resets the stream without an answer. An answer about a
// thread the peer holds gets its thread proof unless fn set Auth.
func (h *hostile) answerWith(fn func(from peer.ID, m *codec.Message) *codec.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answer = fn
}

// answerRawWith makes the peer answer every request with the bytes fn
// returns, written as they are (any framing, or none); nil resets the
// stream.
func (h *hostile) answerRawWith(fn func(from peer.ID, m *codec.Message) []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answerRaw = fn
}

func (h *hostile) handle(st p2pnet.Stream) {
	h.asked.Add(1)
	h.mu.Lock()
	fn, raw := h.answer, h.answerRaw
	h.mu.Unlock()
	if fn == nil && raw == nil {
		h.net.handleStream(st)
		return
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(streamTimeout))
	m, err := codec.ReadMessage(bufio.NewReader(st))
	if err != nil {
		_ = st.Reset()
		return
	}
	from := st.Conn().RemotePeer()
	if raw != nil {
		out := raw(from, m)
		if out == nil {
			_ = st.Reset()
			return
		}
		if _, err := st.Write(out); err != nil {
			_ = st.Reset()
		}
		return
	}
	resp := fn(from, m)
	if resp == nil {
		_ = st.Reset()
		return
	}
	if resp.Auth == nil && len(m.Thread) > 0 {
		if tid, err := ipel.ThreadIDFromBytes(m.Thread); err == nil {
			if th, err := h.thread(tid); err == nil {
				resp.Auth = h.net.auth(th, from)
			}
		}
	}
	if err := codec.WriteMessage(st, resp); err != nil {
		_ = st.Reset()
	}
}

// proof is the thread proof this peer sends to `to`; it needs the follow
// key, so it works once the peer holds the thread.
func (h *hostile) proof(t testing.TB, tid ipel.ThreadID, to peer.ID) []byte {
	t.Helper()
	th, err := h.thread(tid)
	if err != nil {
		t.Fatalf("hostile peer does not hold %s: %v", tid, err)
	}
	return h.net.auth(th, to)
}

// send sends a crafted message and returns the answer.
func (h *hostile) send(ctx context.Context, to peer.ID, m *codec.Message) (*codec.Message, error) {
	return h.net.request(ctx, to, m)
}

// sendRaw writes raw bytes on a new sync stream, closes its write side and
// returns whatever comes back (nil when the target resets the stream).
func (h *hostile) sendRaw(ctx context.Context, t testing.TB, to peer.ID, raw []byte) []byte {
	t.Helper()
	st, err := h.host.NewStream(ctx, to, ProtocolID)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(streamTimeout))
	_, _ = st.Write(raw)
	_ = st.CloseWrite()
	out, _ := io.ReadAll(st)
	return out
}

// heapPeak runs f and returns the most heap (live objects, bytes) seen
// above what was live before it started, sampled every millisecond.
func heapPeak(f func()) uint64 {
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		rtmetrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}
