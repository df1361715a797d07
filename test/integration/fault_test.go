//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRPCMalformedArguments: every threads endpoint (as `ipfs commands`
// lists them, so new commands are covered) refuses missing, garbage and huge
// arguments, and mistyped or unknown options, with a 4xx/5xx status and a
// message (or a stream error trailer), within 10 s each; the daemon keeps
// serving and stays up.
//
// The command framework (go-ipfs-cmds, as for Kubo's own commands) ignores
// unknown options and extra arguments on the HTTP API, and parent commands
// without a Run (threads, threads kv, ...) answer 200 with an empty body:
// those calls are only required to answer in time.
func TestRPCMalformedArguments(t *testing.T) {
	n := newNode(t, nil)
	n.start()
	api := n.APIURL()
	client := &http.Client{}
	tid, _ := n.createThread()
	n.addEvent(tid, []byte("an event"))

	const deadline = 10 * time.Second
	garbage := url.QueryEscape("%%%garbage")
	huge := url.QueryEscape(strings.Repeat("Z", 100<<10))

	endpoints := threadsEndpoints(t, n)
	t.Logf("%d endpoints: %v", len(endpoints), endpoints)
	isParent := func(p string) bool {
		for _, q := range endpoints {
			if strings.HasPrefix(q, p+"/") {
				return true
			}
		}
		return false
	}

	var checked, tolerated int
	for _, p := range endpoints {
		sh := helpShape(t, n, append([]string{"ipfs"}, strings.Split(p, "/")...)[1:])
		type call struct{ name, query string }
		args := func(first string) string {
			var q []string
			for i := range sh.required {
				a := garbage
				if i == 0 {
					a = first
				}
				q = append(q, "arg="+a)
			}
			return strings.Join(q, "&")
		}
		calls := []call{
			{"no arguments", ""},
			{"garbage arguments", args(garbage)},
			{"huge argument", args(huge)},
			{"unknown option", args(garbage) + "&no-such-option=1"},
		}
		if sh.required == 0 {
			// No arguments is a valid call; a garbage or huge one is an
			// extra argument, which the HTTP API ignores.
			calls[1].query = "arg=" + garbage
			calls[2].query = "arg=" + huge
			calls[3].query = "no-such-option=1"
		}
		for opt, typ := range sh.options {
			switch typ {
			case "int", "uint", "int64", "uint64", "float", "bool":
			default:
				continue
			}
			first := url.QueryEscape(tid)
			if p == "threads/join" {
				first = garbage
			}
			q := args(first)
			if q != "" {
				q += "&"
			}
			calls = append(calls, call{fmt.Sprintf("--%s of type %s set to a word", opt, typ), q + opt + "=not-a-" + typ})
		}

		for _, c := range calls {
			pq := p
			if c.query != "" {
				pq += "?" + c.query
			}
			r := rpcRaw(client, api, pq, deadline)
			label := fmt.Sprintf("POST %s (%s)", p, c.name)
			if r.err != nil {
				t.Errorf("%s: no complete answer within %s: status %d after %s: %s", label, deadline, r.status, r.took.Round(time.Millisecond), r.err)
				continue
			}
			msg := r.errorMessage()
			mustFail := !isParent(p) && (sh.required > 0 || strings.HasPrefix(c.name, "--"))
			switch {
			case msg != "":
				checked++
				t.Logf("%s -> %d in %s: %.120q", label, r.status, r.took.Round(time.Millisecond), msg)
			case mustFail:
				t.Errorf("%s: status %d (%s), body %.300q, trailer %q: want a 4xx/5xx with a message", label, r.status, r.ctype, r.body, r.trailer)
			case r.status >= 200 && r.status < 300:
				tolerated++
				t.Logf("%s -> %d in %s (accepted by the command framework)", label, r.status, r.took.Round(time.Millisecond))
			default:
				t.Errorf("%s: status %d without a message: body %.300q", label, r.status, r.body)
			}
		}
	}
	t.Logf("%d calls refused with a message, %d accepted by the framework", checked, tolerated)

	// The daemon still serves, and its process is alive.
	if err := n.Daemon.Cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("daemon process gone: %s", err)
	}
	found := false
	for _, th := range n.list().Threads {
		found = found || th.ID == tid
	}
	if !found {
		t.Fatalf("threads ls no longer lists %s", tid)
	}
	if out := n.must("id"); !strings.Contains(out, n.PeerID().String()) {
		t.Fatalf("ipfs id: %s", out)
	}
	if evs := n.events(tid); len(evs) != 1 || string(evs[0].Body) != "an event" {
		t.Fatalf("threads log after the calls: %+v", evs)
	}
	n.stop()
}

// partition blocks all loopback swarm traffic of the nodes (swarm filters;
// the HTTP API is not a swarm transport) and disconnects them.
func partition(t *testing.T, a, b *syncNode) {
	t.Helper()
	for _, n := range []*syncNode{a, b} {
		n.must("swarm", "filters", "add", "/ip4/127.0.0.1/ipcidr/32")
	}
	for _, pair := range [][2]*syncNode{{a, b}, {b, a}} {
		pair[0].run("swarm", "disconnect", "/p2p/"+pair[1].id()) // may already be gone
	}
	waitFor(t, 10*time.Second, "A and B disconnected", func() error {
		for _, pair := range [][2]*syncNode{{a, b}, {b, a}} {
			res := pair[0].run("swarm", "peers")
			if failed(res) {
				return fmt.Errorf("%s: swarm peers: %s", pair[0].name, describe(res))
			}
			if strings.Contains(res.Stdout.String(), pair[1].id()) {
				pair[0].run("swarm", "disconnect", "/p2p/"+pair[1].id())
				return fmt.Errorf("%s still connected to %s", pair[0].name, pair[1].name)
			}
		}
		return nil
	})
}

func wantSeqs(t *testing.T, n *syncNode, tid string, want map[string]uint64) {
	t.Helper()
	if got := logSeqs(t, n, tid); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s during the partition: log seqs %v, want %v", n.name, got, want)
	}
}

// TestPartitionAndHeal: two writers of a thread are cut from each other
// (swarm filters on loopback; their APIs still work) and each writes 20
// events. During the partition each holds only its own new events, even
// after several anti-entropy rounds. Once healed, they converge on the same
// 45 events, heads and `threads log` output.
func TestPartitionAndHeal(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	startAll(a, b)
	connect(t, b, a)

	tid, logA, logB, acks, bodies := shareWriter(t, a, b, 5, "A before %02d")
	waitLogAt(t, a, tid, logB, 0)

	partition(t, a, b)
	var wg sync.WaitGroup
	var accA, accB = map[string][]addOut{}, map[string][]addOut{}
	var bodA, bodB = map[string][]string{}, map[string][]string{}
	wg.Add(2)
	go func() { defer wg.Done(); addSeqTry(t, a, tid, 20, "A partitioned %02d", accA, bodA) }()
	go func() { defer wg.Done(); addSeqTry(t, b, tid, 20, "B partitioned %02d", accB, bodB) }()
	waitGroup(t, &wg, 60*time.Second, "writes during the partition")
	if t.Failed() {
		t.FailNow()
	}
	for k, v := range accA {
		acks[k] = append(acks[k], v...)
		bodies[k] = append(bodies[k], bodA[k]...)
	}
	for k, v := range accB {
		acks[k] = append(acks[k], v...)
		bodies[k] = append(bodies[k], bodB[k]...)
	}
	// Several anti-entropy rounds: nothing crosses.
	time.Sleep(3 * time.Second)
	for _, pair := range [][2]*syncNode{{a, b}, {b, a}} {
		if strings.Contains(pair[0].must("swarm", "peers"), pair[1].id()) {
			t.Fatalf("%s reconnected to %s during the partition", pair[0].name, pair[1].name)
		}
	}
	wantSeqs(t, a, tid, map[string]uint64{logA: 25, logB: 0})
	wantSeqs(t, b, tid, map[string]uint64{logA: 5, logB: 20})
	if evs := a.events(tid); len(evs) != 25 {
		t.Fatalf("A lists %d events during the partition, want 25", len(evs))
	}
	if evs := b.events(tid); len(evs) != 25 {
		t.Fatalf("B lists %d events during the partition, want 25", len(evs))
	}

	// Heal.
	for _, n := range []*syncNode{a, b} {
		n.must("swarm", "filters", "rm", "/ip4/127.0.0.1/ipcidr/32")
	}
	connect(t, b, a)
	evs := waitConverged(t, convergeTimeout, tid, 2, 45, a, b)
	checkLog(t, evs, acks, bodies)
}

// addSeqTry is addSeq for a goroutine: it records failures with t.Errorf.
func addSeqTry(t *testing.T, n *syncNode, tid string, count int, format string, acks map[string][]addOut, bodies map[string][]string) {
	for i := range count {
		body := fmt.Sprintf(format, i)
		a, err := n.tryAdd(tid, []byte(body))
		if err != nil {
			t.Errorf("%s: %s", n.name, err)
			return
		}
		acks[n.name] = append(acks[n.name], a)
		bodies[n.name] = append(bodies[n.name], body)
	}
}

// interruptCatchUp polls victim's copy of logID tightly (RPC) and calls
// stop once it holds part of it (0 < seq < total). It reports the seq it
// stopped at, or false when the catch-up was never seen in progress.
func interruptCatchUp(t *testing.T, victim *syncNode, tid, logID string, total int64, d time.Duration, stop func()) (int64, bool) {
	t.Helper()
	client := &http.Client{}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		seq, err := rpcLogSeq(client, victim, tid, logID)
		if err != nil {
			t.Fatalf("%s: info: %s", victim.name, err)
		}
		if seq >= total {
			return seq, false
		}
		if seq > 0 {
			stop()
			return seq, true
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: catch-up of log %s did not start within %s", victim.name, logID, d)
	return 0, false
}

const catchUpEvents = 3000

// TestKill9DuringCatchUp: B joins a thread of 3000 events and is SIGKILLed
// while it pulls them. Restarted, it converges on all 3000 with the same
// heads and `threads log` output as A (log verifies every stored event).
func TestKill9DuringCatchUp(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a := newSyncNode(t, h, "A", opts)
	b := newSyncNode(t, h, "B", opts)
	startAll(a, b)
	connect(t, b, a)

	tid, logA := a.createThread()
	bulkAdd(t, a, tid, catchUpEvents, "A bulk")
	inv := a.invite(tid, b.id(), "write")
	if !inv.Delivered {
		t.Fatalf("invite not delivered: %+v", inv)
	}

	var killed sync.WaitGroup
	joined := make(chan error, 1)
	go func() {
		res := b.run("threads", "join", inv.Invite)
		if failed(res) {
			joined <- fmt.Errorf("%s", describe(res))
			return
		}
		joined <- nil
	}()
	t0 := time.Now()
	seq, ok := interruptCatchUp(t, b, tid, logA, catchUpEvents, 60*time.Second, func() {
		killed.Add(1)
		defer killed.Done()
		b.kill9()
	})
	if !ok {
		t.Skipf("B caught up (seq %d) before it was seen mid-way: nothing to interrupt", seq)
	}
	t.Logf("B SIGKILLed at seq %d of %d, %s after join started", seq, catchUpEvents, time.Since(t0).Round(time.Millisecond))
	if err := <-joined; err != nil {
		t.Logf("join (interrupted by the kill): %s", err)
	}

	// Restarted, B's partial copy verifies: `threads log` lists A's events
	// 1..k in order, each as A has it (B may already be pulling again).
	b.start()
	aEvs := a.events(tid, "--log", logA)
	partial := b.events(tid, "--log", logA)
	if len(partial) > len(aEvs) {
		t.Fatalf("B lists %d events of A's log after the restart, A has %d", len(partial), len(aEvs))
	}
	if diff := eventsDiff(aEvs[:len(partial)], partial); diff != "" {
		t.Fatalf("B's copy of A's log after the kill is not a prefix of A's: %s", diff)
	}
	t.Logf("B after restart: %d events of A's log verify", len(partial))

	connect(t, b, a)
	evs := waitConverged(t, 60*time.Second, tid, 2, catchUpEvents, a, b)
	if len(evs) != catchUpEvents {
		t.Fatalf("converged on %d events", len(evs))
	}
	if got := logSeqs(t, b, tid)[logA]; got != catchUpEvents {
		t.Fatalf("B: A's log at seq %d, want %d", got, catchUpEvents)
	}
	b.events(tid) // fails if any stored event does not verify
}

// TestFollowerRestartMidCatchUp: a follower added while A holds 3000 events
// is stopped cleanly mid catch-up, restarted, and converges on A's head.
func TestFollowerRestartMidCatchUp(t *testing.T) {
	h := newCluster(t)
	a := newSyncNode(t, h, "A", syncOpts{pubsub: true, antiEntropy: "1s"})
	f := newSyncNode(t, h, "F", syncOpts{pubsub: true, antiEntropy: "1s", follow: true})
	startAll(a, f)

	tid, logA := a.createThread()
	bulkAdd(t, a, tid, catchUpEvents, "A bulk")
	headA := a.info(tid).Logs[0].Head

	var fo inviteOut
	a.mustJSON(&fo, "threads", "follower", "add", tid, f.addr())
	if !fo.Delivered || fo.Role != "follow" {
		t.Fatalf("follower add: %+v", fo)
	}
	seq, ok := interruptCatchUp(t, f, tid, logA, catchUpEvents, 60*time.Second, f.stop)
	if !ok {
		t.Skipf("F caught up (seq %d) before it was seen mid-way: nothing to interrupt", seq)
	}
	t.Logf("F stopped at seq %d of %d", seq, catchUpEvents)

	f.start()
	connect(t, f, a)
	waitFor(t, 60*time.Second, "F holds A's log at A's head", func() error {
		in, err := f.tryInfo(tid)
		if err != nil {
			return err
		}
		if len(in.Logs) != 1 || in.Logs[0].ID != logA || in.Logs[0].Seq != catchUpEvents || in.Logs[0].Head != headA {
			return fmt.Errorf("logs %v, want %s at %d %s", heads(in), logA, catchUpEvents, headA)
		}
		return nil
	})
	if in := f.info(tid); in.Keys.Read || !in.Keys.Follow {
		t.Fatalf("F: keys %+v, want the follow key only", in.Keys)
	}
}
