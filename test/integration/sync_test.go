//go:build integration

package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// convergeTimeout bounds every wait for replication. With anti-entropy every
// second, pushes and pulls, loopback replication takes well under it.
const convergeTimeout = 30 * time.Second

// addConcurrently has each writer append n events to the thread at once, in
// its own goroutine, and returns the acknowledged events by writer.
func addConcurrently(t *testing.T, tid string, n int, writers ...*syncNode) map[string][]addOut {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		acks = map[string][]addOut{}
		errs []error
	)
	t0 := time.Now()
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				a, err := w.tryAdd(tid, []byte(fmt.Sprintf("%s event %02d", w.name, i)))
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s add %d: %w", w.name, i, err))
					mu.Unlock()
					return
				}
				acks[w.name] = append(acks[w.name], a)
				mu.Unlock()
			}
		}()
	}
	waitGroup(t, &wg, 60*time.Second, "concurrent adds")
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d writers added %d events each, concurrently, in %s", len(writers), n, time.Since(t0).Round(time.Millisecond))
	return acks
}

// checkLog checks a converged log: it holds exactly the acknowledged events
// (same log, seq, CID, body), each log's events in seq order 1..n.
func checkLog(t *testing.T, evs []eventOut, acks map[string][]addOut, bodies map[string][]string) {
	t.Helper()
	byCid := map[string]eventOut{}
	next := map[string]uint64{}
	for i, e := range evs {
		if _, dup := byCid[e.Cid]; dup {
			t.Fatalf("event %s listed twice", e.Cid)
		}
		byCid[e.Cid] = e
		next[e.Log]++
		if e.Seq != next[e.Log] {
			t.Fatalf("event %d (%s): log %s seq %d, want seq %d (each log's events in order)", i, e.Cid, e.Log, e.Seq, next[e.Log])
		}
	}
	n := 0
	for name, as := range acks {
		for i, a := range as {
			n++
			e, ok := byCid[a.Cid]
			if !ok {
				t.Fatalf("%s's event %d (%s, log %s seq %d) missing from the log", name, i, a.Cid, a.Log, a.Seq)
			}
			if e.Log != a.Log || e.Seq != a.Seq || string(e.Body) != bodies[name][i] {
				t.Fatalf("%s's event %d: listed as log %s seq %d body %q; added as log %s seq %d body %q",
					name, i, e.Log, e.Seq, e.Body, a.Log, a.Seq, bodies[name][i])
			}
		}
	}
	if n != len(evs) {
		t.Fatalf("log lists %d events, %d were added", len(evs), n)
	}
}

// addSeq appends bodies one by one and records the acks under name.
func addSeq(n *syncNode, tid string, count int, format string, acks map[string][]addOut, bodies map[string][]string) {
	n.t.Helper()
	for i := range count {
		b := fmt.Sprintf(format, i)
		acks[n.name] = append(acks[n.name], n.addEvent(tid, []byte(b)))
		bodies[n.name] = append(bodies[n.name], b)
	}
}

func concurrentBodies(bodies map[string][]string, n int, writers ...*syncNode) {
	for _, w := range writers {
		for i := range n {
			bodies[w.name] = append(bodies[w.name], fmt.Sprintf("%s event %02d", w.name, i))
		}
	}
}

// waitLogAt waits until n holds log logID of the thread at seq.
func waitLogAt(t *testing.T, n *syncNode, tid, logID string, seq uint64) threadOut {
	t.Helper()
	var in threadOut
	waitFor(t, convergeTimeout, fmt.Sprintf("%s holds log %s at seq %d", n.name, logID, seq), func() error {
		var err error
		if in, err = n.tryInfo(tid); err != nil {
			return err
		}
		for _, l := range in.Logs {
			if l.ID == logID {
				if l.Seq == seq {
					return nil
				}
				return fmt.Errorf("log at seq %d", l.Seq)
			}
		}
		return fmt.Errorf("log not known: %v", heads(in))
	})
	return in
}

// joinDelivered checks that a delivered invite is listed by the invitee,
// joins it, and checks what join reports.
func joinDelivered(t *testing.T, inviter, n *syncNode, tid string, inv inviteOut, writer bool) threadOut {
	t.Helper()
	if !inv.Delivered {
		t.Fatalf("invite of %s to %s: Delivered false, want true (connected peers)", n.name, tid)
	}
	var got *receivedInvite
	for _, r := range n.invites() {
		if r.Thread == tid {
			r := r
			got = &r
		}
	}
	if got == nil || got.Invite != inv.Invite || got.Role != inv.Role || got.From != inviter.id() {
		t.Fatalf("%s: threads invites lists %+v for %s, want the invite from %s as %s", n.name, got, tid, inviter.id(), inv.Role)
	}
	out := n.join(inv.Invite)
	if out.ID != tid || !out.Keys.Follow || out.Keys.Read != (inv.Role != "follow") || (out.Keys.Log != "") != writer {
		t.Fatalf("%s: join returned %+v, want thread %s, keys of role %s", n.name, out, tid, inv.Role)
	}
	for _, r := range n.invites() {
		if r.Thread == tid {
			t.Fatalf("%s: the invite to %s is still listed after join: %+v", n.name, tid, r)
		}
	}
	return out
}

// TestThreeWritersSync: A writes 10 events and invites B and C as writers
// over the network; they join, pull the history, and all three then write 30
// events each at the same time. All three converge on the same 3 logs, heads
// and `threads log` output (100 events), and learn where the logs are.
func TestThreeWritersSync(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	c := newSyncNode(t, h, "C", opts)
	startAll(a, b, c)
	// B and C connect to A only: they must find each other through the
	// thread's address book.
	connect(t, b, a)
	connect(t, c, a)

	tid, logA := a.createThread()
	acks, bodies := map[string][]addOut{}, map[string][]string{}
	addSeq(a, tid, 10, "A history %02d", acks, bodies)

	invB := a.invite(tid, b.id(), "write")
	invC := a.invite(tid, c.id(), "write")
	if invB.Invite == invC.Invite {
		t.Fatalf("the invites to B and C are the same string")
	}
	logB := joinDelivered(t, a, b, tid, invB, true).Keys.Log
	logC := joinDelivered(t, a, c, tid, invC, true).Keys.Log
	if logB == logA || logC == logA || logB == logC {
		t.Fatalf("own logs not distinct: A %s B %s C %s", logA, logB, logC)
	}

	// Both pull the history.
	history := a.events(tid)
	if len(history) != 10 {
		t.Fatalf("A lists %d events, want 10", len(history))
	}
	for _, n := range []*syncNode{b, c} {
		waitLogAt(t, n, tid, logA, 10)
		if diff := eventsDiff(history, n.events(tid)); diff != "" {
			t.Fatalf("history on %s differs from A's: %s", n.name, diff)
		}
	}

	// Everyone writes at once.
	for name, as := range addConcurrently(t, tid, 30, a, b, c) {
		acks[name] = append(acks[name], as...)
	}
	concurrentBodies(bodies, 30, a, b, c)

	evs := waitConverged(t, convergeTimeout, tid, 3, 100, a, b, c)
	checkLog(t, evs, acks, bodies)
	in := a.info(tid)
	want := map[string]uint64{logA: 40, logB: 30, logC: 30}
	for _, l := range in.Logs {
		if want[l.ID] != l.Seq {
			t.Fatalf("A: log %s at seq %d, want %v", l.ID, l.Seq, want)
		}
	}
	last := map[string]string{}
	for _, e := range evs {
		last[e.Log] = e.Cid
	}
	for _, l := range in.Logs {
		if l.Head != last[l.ID] {
			t.Fatalf("A: log %s head %s, but its last listed event is %s", l.ID, l.Head, last[l.ID])
		}
	}

	// B's address book says where A's log is: at A.
	var servedByA bool
	for _, e := range b.addrs(tid) {
		if e.Log == logA && e.Peer == a.id() {
			servedByA = len(e.Addrs) > 0 && e.Expires.After(time.Now())
		}
	}
	if !servedByA {
		t.Fatalf("B: threads addrs %s has no live entry for A's log %s at %s: %+v", tid, logA, a.id(), b.addrs(tid))
	}
	// C never connected to B itself, yet learns that B serves B's log.
	waitFor(t, convergeTimeout, "C's address book lists B's log at B", func() error {
		var out struct{ Addrs []addrEntry }
		if err := c.tryJSON(&out, "threads", "addrs", tid); err != nil {
			return err
		}
		for _, e := range out.Addrs {
			if e.Log == logB && e.Peer == b.id() && len(e.Addrs) > 0 {
				return nil
			}
		}
		return fmt.Errorf("entries: %+v", out.Addrs)
	})
}

// TestSyncWithoutPubsub: with pubsub off on both nodes (and anti-entropy
// too rare to matter), history travels by the join's pull and new events by
// direct pushes, both ways.
func TestSyncWithoutPubsub(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: false, antiEntropy: "1h"}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	startAll(a, b)
	for _, n := range []*syncNode{a, b} {
		if errOut := n.mustFail("pubsub", "ls"); !strings.Contains(strings.ToLower(errOut), "pubsub") {
			t.Fatalf("%s: pubsub ls failed without saying pubsub is off: %q", n.name, errOut)
		}
	}
	connect(t, b, a)

	tid, _, logB, acks, bodies := shareWriter(t, a, b, 10, "A history %02d")
	waitLogAt(t, a, tid, logB, 0) // B announced its log to A

	for name, as := range addConcurrently(t, tid, 20, a, b) {
		acks[name] = append(acks[name], as...)
	}
	concurrentBodies(bodies, 20, a, b)
	evs := waitConverged(t, convergeTimeout, tid, 2, 50, a, b)
	checkLog(t, evs, acks, bodies)
}

// TestFollower: a follower replicates a thread it cannot read, and serves it
// to a reader who joins after the only writer is gone.
func TestFollower(t *testing.T) {
	h := newCluster(t)
	a := newSyncNode(t, h, "A", syncOpts{pubsub: true, antiEntropy: "1s"})
	f := newSyncNode(t, h, "F", syncOpts{pubsub: true, antiEntropy: "1s", follow: true})
	b := newSyncNode(t, h, "B", syncOpts{pubsub: true, antiEntropy: "1s"})
	startAll(a, f)

	tid, logA := a.createThread()
	acks, bodies := map[string][]addOut{}, map[string][]string{}
	addSeq(a, tid, 20, "A event %02d", acks, bodies)
	headA := acks["A"][19].Cid

	// No swarm connect: follower add dials the address itself.
	var fo inviteOut
	a.mustJSON(&fo, "threads", "follower", "add", tid, f.addr())
	if !fo.Delivered || fo.Role != "follow" || fo.Peer != f.id() || fo.Thread != tid || fo.Invite == "" {
		t.Fatalf("follower add: %+v, want a delivered follow invite to %s", fo, f.id())
	}

	// F follows on its own (AcceptFollowInvites), with the follow key only.
	var fin threadOut
	waitFor(t, convergeTimeout, "F holds A's 20 events", func() error {
		var err error
		if fin, err = f.tryInfo(tid); err != nil {
			return err
		}
		if len(fin.Logs) != 1 || fin.Logs[0].ID != logA || fin.Logs[0].Seq != 20 {
			return fmt.Errorf("logs %v", heads(fin))
		}
		return nil
	})
	if fin.Logs[0].Head != headA || fin.Keys.Read || !fin.Keys.Follow || fin.Keys.Log != "" || fin.Logs[0].Own {
		t.Fatalf("F: info %+v, want follow key only and A's log at head %s", fin, headA)
	}
	if errOut := f.mustFail("threads", "log", tid); !strings.Contains(errOut, "read key") {
		t.Fatalf("F: threads log failed without saying it lacks the read key: %q", errOut)
	}
	if len(f.invites()) != 0 {
		t.Fatalf("F: the follow invite is still listed after F followed: %+v", f.invites())
	}

	// A invites B (offline, never connected to anyone) to write (raw
	// threads have no read role), and leaves.
	t0 := time.Now()
	var inv inviteOut
	a.mustJSON(&inv, "threads", "invite", tid, b.id(), "--role", "write")
	t.Logf("invite to an unreachable peer took %s (Delivered %v)", time.Since(t0).Round(time.Millisecond), inv.Delivered)
	if inv.Invite == "" || inv.Role != "write" || inv.Delivered {
		t.Fatalf("write invite to offline B: %+v, want an undelivered write invite", inv)
	}
	a.stop()

	// B joins with the invite passed out of band and catches up from F.
	b.start()
	out := b.join(inv.Invite)
	if out.ID != tid || !out.Keys.Read || out.Keys.Log == "" {
		t.Fatalf("B: join returned %+v, want a writer of %s", out, tid)
	}
	waitLogAt(t, b, tid, logA, 20)
	evs := b.events(tid)
	if len(evs) != 20 {
		t.Fatalf("B: threads log lists %d events, want 20", len(evs))
	}
	checkLog(t, evs, acks, bodies)
	if in := heads(b.info(tid)); len(in) != 2 || in[logA] != "20 "+headA {
		t.Fatalf("B: heads %v, want A's log at head %s and B's own", in, headA)
	}
	var fromF bool
	for _, e := range b.addrs(tid) {
		fromF = fromF || (e.Log == logA && e.Peer == f.id())
	}
	if !fromF {
		t.Fatalf("B: address book does not list F as serving A's log: %+v", b.addrs(tid))
	}
}

// TestCatchUpAfterRestart: a member that was down while the other wrote 50
// events catches up by anti-entropy once it is back.
func TestCatchUpAfterRestart(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	startAll(a, b)
	connect(t, b, a)

	tid, _, logB, acks, bodies := shareWriter(t, a, b, 5, "A before %02d")

	b.stop()
	addSeq(a, tid, 50, "A while B is down %02d", acks, bodies)

	b.start()
	// B's listen port changed: it dials A, whose address it still knows.
	connect(t, b, a)
	evs := waitConverged(t, convergeTimeout, tid, 2, 55, a, b)
	checkLog(t, evs, acks, bodies)

	// And B writes again: A gets it.
	addSeq(b, tid, 1, "B after restart %02d", acks, bodies)
	waitLogAt(t, a, tid, logB, 1)
	evs = waitConverged(t, convergeTimeout, tid, 2, 56, a, b)
	checkLog(t, evs, acks, bodies)
}

// TestShareBadInput: join, invite and follower add refuse bad input with
// errors that say what is wrong, and change nothing.
func TestShareBadInput(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	c := newSyncNode(t, h, "C", opts) // never started: only its peer ID is used
	startAll(a, b)
	tid, _ := a.createThread()

	check := func(n *syncNode, want string, args ...string) {
		t.Helper()
		errOut := n.mustFail(args...)
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: %v: stderr %q, want it to contain %q", n.name, args, errOut, want)
		}
	}
	check(b, "invalid invite", "threads", "join", "garbage")

	t0 := time.Now()
	var inv inviteOut
	a.mustJSON(&inv, "threads", "invite", tid, c.id())
	t.Logf("invite to an unreachable peer took %s (Delivered %v)", time.Since(t0).Round(time.Millisecond), inv.Delivered)
	if inv.Invite == "" || inv.Delivered {
		t.Fatalf("invite to offline C: %+v, want an undelivered invite", inv)
	}
	check(b, "not sealed to this node", "threads", "join", inv.Invite)

	check(a, "invalid peer ID", "threads", "invite", tid, "not-a-peer-id")
	check(a, "/p2p", "threads", "follower", "add", tid, "/ip4/127.0.0.1/tcp/4001")
	check(a, "invalid address", "threads", "follower", "add", tid, "not-a-multiaddr")

	check(a, "role", "threads", "invite", tid, b.id(), "--role", "admin")
	otherTid, _ := b.createThread()
	check(a, "thread not found", "threads", "invite", otherTid, b.id())
	check(a, "thread not found", "threads", "follower", "add", otherTid, b.addr())

	if ls := b.list(); len(ls.Threads) != 1 || ls.Threads[0].ID != otherTid {
		t.Errorf("B holds other threads than its own after failed joins: %+v", ls)
	}
	if in := a.info(tid); len(in.Logs) != 1 {
		t.Errorf("A: thread has %d logs after failed calls, want 1", len(in.Logs))
	}
	if entries := a.addrs(tid); len(entries) != 0 {
		t.Errorf("A: address book not empty after failed calls: %+v", entries)
	}
	if t.Failed() {
		return
	}

	// Raw threads offer no read role.
	check(a, "--variant acl", "threads", "invite", tid, b.id(), "--role", "read")
	// A valid invite joins once; a second join of it is refused.
	inv = a.invite(tid, b.id(), "write")
	if out := b.join(inv.Invite); out.ID != tid {
		t.Fatalf("B: join returned thread %s, want %s", out.ID, tid)
	}
	check(b, "already holds the thread", "threads", "join", inv.Invite)
}
