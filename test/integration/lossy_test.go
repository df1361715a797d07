//go:build integration

package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLossyReorderingNetwork runs three writers whose daemons drop 30% of
// their outgoing pushes and pubsub publications and send the rest one
// event run at a time in a random order (the testing-only fault knob,
// IPFS_THREADS_FAULT_DROP and IPFS_THREADS_FAULT_REORDER). All three write
// raw events and key/value puts at the same time, some to the same keys.
//
// It checks that each daemon honoured the knob (its start-up warning), that
// all three converge on the same 3 logs, heads and `threads log` listing,
// holding exactly the acknowledged events with their bodies, that the
// key/value views are identical and hold every key written, and that
// events were pulled (lost pushes were repaired by sync, not by luck).
func TestLossyReorderingNetwork(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s", env: map[string]string{
		"IPFS_THREADS_FAULT_DROP":    "0.3",
		"IPFS_THREADS_FAULT_REORDER": "1",
	}}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	c := newSyncNode(t, h, "C", opts)
	nodes := []*syncNode{a, b, c}
	startAll(nodes...)
	for _, n := range nodes {
		if !strings.Contains(n.Daemon.Stderr.String(), "fault injection on") {
			t.Fatalf("%s: the daemon did not report fault injection; stderr:\n%s", n.name, tail(n.Daemon.Stderr.String(), 4000))
		}
	}
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)

	tid, _ := a.createThread()
	joinDelivered(t, a, b, tid, a.invite(tid, b.id(), "write"), true)
	joinDelivered(t, a, c, tid, a.invite(tid, c.id(), "write"), true)

	const events, shared, own = 40, 8, 6
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// kv puts in the background, raw adds (which fail the test from its own
	// goroutine) in the foreground.
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			put := func(key, value string) {
				if res := n.run("threads", "kv", "put", tid, key, value); failed(res) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: kv put %s: %s", n.name, key, describe(res)))
					mu.Unlock()
				}
			}
			for i := range shared {
				put(fmt.Sprintf("shared/%d", i), fmt.Sprintf("%s-%d", n.name, i))
			}
			for i := range own {
				put(fmt.Sprintf("own/%s/%d", n.name, i), fmt.Sprintf("%s-%d", n.name, i))
			}
		}()
	}
	acks := addConcurrently(t, tid, events, nodes...)
	waitGroup(t, &wg, convergeTimeout, "kv puts on all three nodes")
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	bodies := map[string][]string{}
	concurrentBodies(bodies, events, nodes...)

	// Each node's log: its raw events and one event per kv put.
	perLog := uint64(events + shared + own)
	evs := waitConverged(t, convergeTimeout, tid, 3, 3*perLog, nodes...)
	var raw []eventOut
	for _, e := range evs {
		if strings.Contains(string(e.Body), " event ") {
			raw = append(raw, e)
		}
	}
	// checkLog wants only the raw events; the kv events are checked
	// through the view below (the seq order check still holds per log).
	checkRaw(t, raw, acks, bodies)

	var ref string
	waitFor(t, convergeTimeout, "identical key/value views", func() error {
		for i, n := range nodes {
			res := n.run("threads", "kv", "ls", tid)
			if failed(res) {
				return fmt.Errorf("%s: kv ls: %s", n.name, describe(res))
			}
			out := res.Stdout.String()
			if i == 0 {
				ref = out
			} else if out != ref {
				return fmt.Errorf("kv ls on %s differs from A:\n%s\nvs\n%s", n.name, out, ref)
			}
		}
		return nil
	})
	keys := strings.Count(ref, "\n")
	if want := shared + 3*own; keys != want {
		t.Fatalf("kv view lists %d keys, want %d:\n%s", keys, want, ref)
	}
	for i := range shared {
		if !strings.Contains(ref, fmt.Sprintf("/shared/%d", i)) {
			t.Fatalf("kv view lacks /shared/%d:\n%s", i, ref)
		}
	}

	var pulled uint64
	for _, n := range nodes {
		var st struct{ Pulled, Received, Pushed uint64 }
		if err := n.tryJSON(&st, "threads", "stats", tid); err != nil {
			t.Fatalf("%s: threads stats: %s", n.name, err)
		}
		t.Logf("%s: pushed %d, received %d, pulled %d events", n.name, st.Pushed, st.Received, st.Pulled)
		pulled += st.Pulled
	}
	if pulled == 0 {
		t.Fatal("no events were pulled: with 30% of pushes and publications dropped, sync should have repaired gaps")
	}
	t.Logf("converged: 3 logs, %d events (%d raw, all acknowledged and with their bodies), %d identical kv keys", len(evs), len(raw), keys)
}

// checkRaw checks that the raw events listed are exactly the acknowledged
// ones, with their log, seq and body.
func checkRaw(t *testing.T, evs []eventOut, acks map[string][]addOut, bodies map[string][]string) {
	t.Helper()
	byCid := map[string]eventOut{}
	for _, e := range evs {
		byCid[e.Cid] = e
	}
	n := 0
	for name, as := range acks {
		for i, a := range as {
			n++
			e, ok := byCid[a.Cid]
			if !ok {
				t.Fatalf("%s's event %d (%s) missing from the converged log", name, i, a.Cid)
			}
			if e.Log != a.Log || e.Seq != a.Seq || string(e.Body) != bodies[name][i] {
				t.Fatalf("%s's event %d: listed as log %s seq %d body %q; added as log %s seq %d body %q",
					name, i, e.Log, e.Seq, e.Body, a.Log, a.Seq, bodies[name][i])
			}
		}
	}
	if n != len(evs) {
		t.Fatalf("%d raw events listed, %d acknowledged", len(evs), n)
	}
}
