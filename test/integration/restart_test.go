//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// TestRestart: threads, heads, seqs and events survive a clean daemon
// restart unchanged, and appends continue at the next seq.
func TestRestart(t *testing.T) {
	n := newNode(t, nil)
	n.start()

	tidA, logA := n.createThread()
	tidB, logB := n.createThread()
	if tidA == tidB {
		t.Fatalf("two creates returned the same thread ID %s", tidA)
	}
	bodies := map[string][][]byte{}
	for i := 0; i < 5; i++ {
		b := []byte(fmt.Sprintf("thread A event %d", i))
		if i == 3 {
			b = bytes.Repeat([]byte("A-large-"), 5000) // 40 KB: a body block of its own
		}
		a := n.addEvent(tidA, b)
		if a.Seq != uint64(i+1) || a.Log != logA {
			t.Fatalf("add to A #%d: got seq %d log %s, want seq %d log %s", i, a.Seq, a.Log, i+1, logA)
		}
		bodies[tidA] = append(bodies[tidA], b)
	}
	for i := 0; i < 3; i++ {
		b := []byte(fmt.Sprintf("thread B event %d\x00\xff binary", i))
		a := n.addEvent(tidB, b)
		if a.Seq != uint64(i+1) || a.Log != logB {
			t.Fatalf("add to B #%d: got seq %d log %s, want seq %d log %s", i, a.Seq, a.Log, i+1, logB)
		}
		bodies[tidB] = append(bodies[tidB], b)
	}

	type snapshot struct {
		ls   threadList
		info map[string]threadOut
		log  map[string][]eventOut
	}
	take := func() snapshot {
		s := snapshot{ls: n.list(), info: map[string]threadOut{}, log: map[string][]eventOut{}}
		for _, tid := range []string{tidA, tidB} {
			in := n.info(tid)
			for i := range in.Logs {
				in.Logs[i].Addrs = nil // listen ports change across restarts
			}
			s.info[tid] = in
			s.log[tid] = n.events(tid)
		}
		return s
	}
	before := take()

	// The snapshot itself must be right, or comparing it proves nothing.
	if len(before.ls.Threads) != 2 {
		t.Fatalf("ls before restart: %d threads, want 2: %+v", len(before.ls.Threads), before.ls)
	}
	for _, tid := range []string{tidA, tidB} {
		evs := before.log[tid]
		if len(evs) != len(bodies[tid]) {
			t.Fatalf("log %s: %d events, want %d", tid, len(evs), len(bodies[tid]))
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) || !bytes.Equal(e.Body, bodies[tid][i]) {
				t.Fatalf("log %s event %d: seq %d body %q, want seq %d body %q", tid, i, e.Seq, e.Body, i+1, bodies[tid][i])
			}
		}
		in := before.info[tid]
		if len(in.Logs) != 1 || in.Logs[0].Seq != uint64(len(evs)) || in.Logs[0].Head != evs[len(evs)-1].Cid || !in.Logs[0].Own {
			t.Fatalf("info %s before restart: %+v, want one own log at seq %d head %s", tid, in.Logs, len(evs), evs[len(evs)-1].Cid)
		}
	}

	n.stop()
	n.start()

	after := take()
	if !reflect.DeepEqual(before.ls, after.ls) {
		t.Errorf("ls changed across restart:\nbefore %+v\nafter  %+v", before.ls, after.ls)
	}
	for _, tid := range []string{tidA, tidB} {
		b, a := before.info[tid], after.info[tid]
		if !b.Created.Equal(a.Created) {
			t.Errorf("info %s: Created %s before, %s after", tid, b.Created, a.Created)
		}
		b.Created = a.Created
		if !reflect.DeepEqual(b, a) {
			t.Errorf("info %s changed across restart:\nbefore %+v\nafter  %+v", tid, b, a)
		}
		be, ae := before.log[tid], after.log[tid]
		if len(be) != len(ae) {
			t.Errorf("log %s: %d events before restart, %d after", tid, len(be), len(ae))
			continue
		}
		for i := range be {
			if be[i].Log != ae[i].Log || be[i].Seq != ae[i].Seq || be[i].Cid != ae[i].Cid ||
				!be[i].Time.Equal(ae[i].Time) || !bytes.Equal(be[i].Body, ae[i].Body) {
				t.Errorf("log %s event %d changed across restart:\nbefore %+v\nafter  %+v", tid, i, be[i], ae[i])
			}
		}
	}
	if t.Failed() {
		return
	}

	// Appends continue where the log left off.
	a := n.addEvent(tidA, []byte("after restart"))
	if a.Seq != 6 || a.Log != logA {
		t.Fatalf("add after restart: seq %d log %s, want seq 6 log %s", a.Seq, a.Log, logA)
	}
	evs := n.events(tidA)
	if len(evs) != 6 || evs[5].Cid != a.Cid || string(evs[5].Body) != "after restart" {
		t.Fatalf("log after the new add: %d events, last %+v; want 6, last %s", len(evs), evs[len(evs)-1], a.Cid)
	}
	if in := n.info(tidA); in.Logs[0].Head != a.Cid || in.Logs[0].Seq != 6 {
		t.Fatalf("info after the new add: head %s seq %d, want %s 6", in.Logs[0].Head, in.Logs[0].Seq, a.Cid)
	}
	// Cat agrees with log for a large and a binary body.
	if got := n.must("threads", "cat", tidA, after.log[tidA][3].Cid); got != string(bodies[tidA][3]) {
		t.Fatalf("cat large body after restart: %d bytes, want %d", len(got), len(bodies[tidA][3]))
	}
	if got := n.must("threads", "cat", tidB, after.log[tidB][1].Cid); got != string(bodies[tidB][1]) {
		t.Fatalf("cat binary body after restart: %q, want %q", got, bodies[tidB][1])
	}
	n.stop()
}
