//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// localBlocks returns the multihashes of `ipfs refs local`.
func (n *node) localBlocks() map[string]bool {
	n.t.Helper()
	set := map[string]bool{}
	for _, line := range strings.Fields(n.must("refs", "local")) {
		c, err := cid.Decode(line)
		if err != nil {
			n.t.Fatalf("refs local: %q: %s", line, err)
		}
		set[string(c.Hash())] = true
	}
	return set
}

func mh(t *testing.T, s string) string {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatalf("decode CID %q: %s", s, err)
	}
	return string(c.Hash())
}

// TestGC: log pins keep every event and body block through `ipfs repo gc`,
// even a GC run right after the appends; `ipfs threads rm` releases the pins
// and the next GC deletes the thread's blocks, and only them.
func TestGC(t *testing.T) {
	n := newNode(t, nil)
	n.start()

	// Thread K is kept throughout; thread R is removed.
	tidK, logK := n.createThread()
	var bodiesK [][]byte
	for i := 0; i < 4; i++ {
		b := []byte(fmt.Sprintf("kept %d", i))
		if i%2 == 1 {
			b = bytes.Repeat([]byte(fmt.Sprintf("kept-large-%d ", i)), 4000) // > 32 KiB
		}
		n.addEvent(tidK, b)
		bodiesK = append(bodiesK, b)
	}

	// K's retention DAG blocks are written when its pin moves: let them be
	// there before counting R's blocks.
	n.waitLogPins(tidK)
	before := n.localBlocks()
	tidR, logR := n.createThread()
	var bodiesR [][]byte
	large := 0
	for i := 0; i < 8; i++ {
		b := []byte(fmt.Sprintf("removed %d", i))
		if i%3 != 0 {
			b = bytes.Repeat([]byte(fmt.Sprintf("removed-large-%d ", i)), 3000+1000*i) // > 32 KiB
			large++
		}
		n.addEvent(tidR, b)
		bodiesR = append(bodiesR, b)
	}
	// GC at once, while the pins may still lag the heads: the engine keeps
	// GC out until they catch up.
	n.must("repo", "gc")

	// R's blocks: what appeared while R was written.
	var rBlocks []string
	for h := range n.localBlocks() {
		if !before[h] {
			rBlocks = append(rBlocks, h)
		}
	}

	check := func(tid string, bodies [][]byte) []eventOut {
		t.Helper()
		evs := n.events(tid)
		if len(evs) != len(bodies) {
			t.Fatalf("thread %s: %d events, want %d", tid, len(evs), len(bodies))
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) || !bytes.Equal(e.Body, bodies[i]) {
				t.Fatalf("thread %s event %d: seq %d, body of %d bytes; want seq %d, %d bytes", tid, i, e.Seq, len(e.Body), i+1, len(bodies[i]))
			}
			if got := n.must("threads", "cat", tid, e.Cid); got != string(bodies[i]) {
				t.Fatalf("thread %s: cat %s: %d bytes, want %d", tid, e.Cid, len(got), len(bodies[i]))
			}
		}
		return evs
	}
	check(tidK, bodiesK)
	evsR := check(tidR, bodiesR)

	// Every event block of R is among R's blocks, and large bodies added
	// blocks of their own.
	rSet := map[string]bool{}
	for _, h := range rBlocks {
		rSet[h] = true
	}
	for _, e := range evsR {
		if !rSet[mh(t, e.Cid)] {
			t.Fatalf("event %s of the removed thread is not a local block", e.Cid)
		}
	}
	if len(rBlocks) < len(evsR)+large {
		t.Fatalf("thread %s: %d new blocks for %d events with %d large bodies: large bodies are not separate blocks", tidR, len(rBlocks), len(evsR), large)
	}

	// One named pin per log, on its retention DAG.
	n.waitLogPins(tidK)
	n.waitLogPins(tidR)
	pins := n.recursivePins()
	for _, name := range []string{"threads/" + tidK + "/" + logK, "threads/" + tidR + "/" + logR} {
		if len(pins[name]) != 1 {
			t.Fatalf("pin %s: %v, want one", name, pins[name])
		}
	}

	// Remove R and collect.
	if out := n.must("threads", "rm", tidR); !strings.Contains(out, tidR) {
		t.Fatalf("threads rm: output %q does not name the thread", out)
	}
	pins = n.recursivePins()
	for name, cids := range pins {
		if strings.HasPrefix(name, "threads/"+tidR) {
			t.Errorf("after rm: pin %s %v remains", name, cids)
		}
	}
	if len(pins["threads/"+tidK+"/"+logK]) != 1 {
		t.Errorf("after rm of another thread: pin of kept thread: %v", pins["threads/"+tidK+"/"+logK])
	}
	n.must("repo", "gc")

	after := n.localBlocks()
	for _, h := range rBlocks {
		if after[h] {
			c := cid.NewCidV1(cid.Raw, []byte(h))
			t.Errorf("block %s of the removed thread survived repo gc", c)
		}
	}
	for _, e := range evsR {
		res := n.run("block", "stat", "--offline", e.Cid)
		if !failed(res) {
			t.Errorf("event %s of the removed thread: block stat --offline succeeds after gc: %s", e.Cid, res.Stdout.String())
		}
	}
	// R is gone; K is intact.
	if errOut := n.mustFail("threads", "info", tidR); !strings.Contains(errOut, "not found") {
		t.Errorf("info of the removed thread: %q, want 'not found'", errOut)
	}
	if ls := n.list(); len(ls.Threads) != 1 || ls.Threads[0].ID != tidK {
		t.Errorf("ls after rm: %+v, want only %s", ls, tidK)
	}
	check(tidK, bodiesK)
	n.waitLogPins(tidK)
	n.stop()
}
