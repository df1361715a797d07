//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type ack struct {
	Cid  string
	Body string
}

// TestKill9Durability: concurrent appenders hammer the RPC API and the
// daemon is SIGKILLed mid-burst, several times. After every restart each
// acknowledged event is there with its CID and seq, seqs are 1..N without
// gaps, every body is one that was sent (once), the head is the last event,
// and appends continue at N+1.
func TestKill9Durability(t *testing.T) {
	n := newNode(t, nil)
	n.start()
	tid, logID := n.createThread()

	const workers = 6
	// Acks to wait for in each burst before the kill: different points.
	rounds := []int{25, 60, 8, 120}

	sent := map[string]bool{} // every body ever sent (acknowledged or not)
	acked := map[uint64]ack{} // seq -> acknowledged event
	var prev []eventOut       // the log as verified after the last restart
	var mu sync.Mutex

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()

	for r, target := range rounds {
		api := n.APIURL()
		var (
			killed     atomic.Bool
			roundAcks  atomic.Int64
			wg         sync.WaitGroup
			errMu      sync.Mutex
			unexpected []string
		)
		ctx, cancel := context.WithCancel(context.Background())
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					body := fmt.Sprintf("round %d worker %d append %d", r, w, i)
					if i%7 == 3 {
						// Larger than InlineBodySize: the body is a block of its own.
						body += string(bytes.Repeat([]byte{byte('a' + w)}, 40<<10))
					}
					mu.Lock()
					sent[body] = true
					mu.Unlock()
					status, resp, err := rpcPost(ctx, client, api, "threads/add?arg="+tid, []byte(body))
					if err == nil && status == http.StatusOK {
						var a addOut
						if jerr := json.Unmarshal(resp, &a); jerr == nil && a.Cid != "" && a.Seq != 0 {
							mu.Lock()
							if old, dup := acked[a.Seq]; dup {
								errMu.Lock()
								unexpected = append(unexpected, fmt.Sprintf("seq %d acknowledged twice: %s and %s", a.Seq, old.Cid, a.Cid))
								errMu.Unlock()
							}
							acked[a.Seq] = ack{Cid: a.Cid, Body: body}
							mu.Unlock()
							if a.Log != logID {
								errMu.Lock()
								unexpected = append(unexpected, fmt.Sprintf("ack in log %s, want %s", a.Log, logID))
								errMu.Unlock()
							}
							roundAcks.Add(1)
							continue
						}
						// A 200 cut short by the kill is not an acknowledgement.
					}
					if killed.Load() {
						return // the daemon is gone: expected
					}
					errMu.Lock()
					unexpected = append(unexpected, fmt.Sprintf("worker %d append %d failed before the kill: status %d err %v body %.300s", w, i, status, err, resp))
					errMu.Unlock()
					return
				}
			}(w)
		}

		// Wait for the burst to reach the target, then kill mid-flight.
		deadline := time.Now().Add(60 * time.Second)
		for roundAcks.Load() < int64(target) {
			errMu.Lock()
			bad := len(unexpected) > 0
			errMu.Unlock()
			if bad || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		killed.Store(true)
		n.kill9()
		killedAt := roundAcks.Load()
		waitGroup(t, &wg, 30*time.Second, "appenders to stop after the kill")
		cancel()
		for _, u := range unexpected {
			t.Error(u)
		}
		if t.Failed() {
			return
		}
		if killedAt < int64(target) {
			t.Fatalf("round %d: only %d acks in 60s, want %d", r, killedAt, target)
		}
		t.Logf("round %d: killed after %d acks (%d by the time the appenders stopped), %d acked in total", r, killedAt, roundAcks.Load(), len(acked))

		n.start()
		prev = verifyLog(t, n, tid, logID, sent, acked, prev)
		if t.Failed() {
			return
		}
		// The pin lagging the head at the kill is repaired at start, so a
		// GC now keeps every event.
		n.waitLogPins(tid)
		n.must("repo", "gc")
		after := n.events(tid)
		if len(after) != len(prev) {
			t.Fatalf("round %d: %d events after repo gc, %d before", r, len(after), len(prev))
		}
		for i := range prev {
			if after[i].Cid != prev[i].Cid || !bytes.Equal(after[i].Body, prev[i].Body) {
				t.Fatalf("round %d: seq %d changed by repo gc", r, i+1)
			}
		}
	}

	// Appends continue at N+1 after the last kill.
	N := uint64(len(prev))
	a := n.addEvent(tid, []byte("after the last kill"))
	if a.Seq != N+1 {
		t.Fatalf("add after the kills: seq %d, want %d", a.Seq, N+1)
	}
	in := n.info(tid)
	if in.Logs[0].Head != a.Cid || in.Logs[0].Seq != N+1 {
		t.Fatalf("info after the add: head %s seq %d, want %s %d", in.Logs[0].Head, in.Logs[0].Seq, a.Cid, N+1)
	}
	n.stop()
}

// verifyLog checks the thread's log after a restart against what was sent
// and acknowledged, and against the log verified before (which must be a
// prefix of this one). It returns the log.
func verifyLog(t *testing.T, n *node, tid, logID string, sent map[string]bool, acked map[uint64]ack, prev []eventOut) []eventOut {
	t.Helper()
	evs := n.events(tid)
	seen := map[string]uint64{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d of the log has seq %d: seqs not contiguous from 1 (gap or reorder)", i, e.Seq)
		}
		if e.Log != logID {
			t.Errorf("seq %d: log %s, want %s", e.Seq, e.Log, logID)
		}
		b := string(e.Body)
		if !sent[b] {
			t.Errorf("seq %d (%s): body %.80q was never sent", e.Seq, e.Cid, b)
		}
		if s, dup := seen[b]; dup {
			t.Errorf("seq %d (%s): body %.80q already at seq %d", e.Seq, e.Cid, b, s)
		}
		seen[b] = e.Seq
	}
	for seq, a := range acked {
		if seq > uint64(len(evs)) {
			t.Errorf("acknowledged seq %d (%s) lost: log has %d events", seq, a.Cid, len(evs))
			continue
		}
		e := evs[seq-1]
		if e.Cid != a.Cid {
			t.Errorf("acknowledged seq %d: CID %s in the log, %s acknowledged", seq, e.Cid, a.Cid)
		}
		if string(e.Body) != a.Body {
			t.Errorf("acknowledged seq %d: body %.80q in the log, %.80q sent", seq, e.Body, a.Body)
		}
	}
	if len(prev) > len(evs) {
		t.Errorf("log shrank from %d to %d events across a kill", len(prev), len(evs))
	}
	for i := 0; i < len(prev) && i < len(evs); i++ {
		if prev[i].Cid != evs[i].Cid || !bytes.Equal(prev[i].Body, evs[i].Body) {
			t.Errorf("seq %d changed across a kill: %s before, %s now", i+1, prev[i].Cid, evs[i].Cid)
		}
	}
	in := n.info(tid)
	if len(in.Logs) != 1 || !in.Logs[0].Own || in.Logs[0].ID != logID {
		t.Fatalf("info: logs %+v, want just own log %s", in.Logs, logID)
	}
	if len(evs) == 0 {
		t.Fatalf("log empty after a kill with %d acknowledged events", len(acked))
	}
	last := evs[len(evs)-1]
	if in.Logs[0].Head != last.Cid || in.Logs[0].Seq != last.Seq {
		t.Errorf("info: head %s seq %d, want the last event %s seq %d", in.Logs[0].Head, in.Logs[0].Seq, last.Cid, last.Seq)
	}
	ls := n.list()
	if len(ls.Threads) != 1 || ls.Threads[0].ID != tid || ls.Threads[0].Events != last.Seq {
		t.Errorf("ls: %+v, want thread %s with %d events", ls, tid, last.Seq)
	}
	t.Logf("after restart: %d events (%d acknowledged, %d sent)", len(evs), len(acked), len(sent))
	return evs
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}
