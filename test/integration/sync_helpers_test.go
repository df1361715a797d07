//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/kubo/config"
	"github.com/ipfs/kubo/test/cli/harness"
)

// Helpers for tests that run several daemons of one thread against each
// other over real libp2p connections (loopback).

// syncOpts configures a daemon of a multi-node test.
type syncOpts struct {
	pubsub      bool   // Pubsub.Enabled
	antiEntropy string // plugin AntiEntropyInterval ("" for the default)
	follow      bool   // plugin AcceptFollowInvites
	// env is added to the daemon's environment (e.g. the fault knob).
	env map[string]string
}

// syncNode is a named daemon of a multi-node test.
type syncNode struct {
	*node
	name string
	// stderr of the daemons this node ran before its current one.
	past []string
	// env is added to the daemon's environment.
	env map[string]string
}

// newCluster makes one harness for all the nodes of a test.
func newCluster(t *testing.T) *harness.Harness {
	t.Helper()
	return harness.NewT(t, func(h *harness.Harness) { h.IPFSBin = ipfsBin })
}

// newSyncNode initialises a node (test profile: loopback, random ports, no
// bootstrap) and sets Pubsub and the plugin config after Init, which
// rewrites Plugins. The daemon is not started.
func newSyncNode(t *testing.T, h *harness.Harness, name string, o syncOpts) *syncNode {
	t.Helper()
	hn := h.NewNode().Init("--profile=test")
	hn.UpdateConfig(func(c *config.Config) {
		c.Bootstrap = []string{}
		c.Discovery.MDNS.Enabled = false
		c.Pubsub.Enabled = config.False
		if o.pubsub {
			c.Pubsub.Enabled = config.True
		}
		pc := map[string]any{}
		if o.antiEntropy != "" {
			pc["AntiEntropyInterval"] = o.antiEntropy
		}
		if o.follow {
			pc["AcceptFollowInvites"] = true
		}
		if c.Plugins.Plugins == nil {
			c.Plugins.Plugins = map[string]config.Plugin{}
		}
		c.Plugins.Plugins["threads"] = config.Plugin{Config: pc}
	})
	s := &syncNode{node: &node{Node: hn, t: t, h: h}, name: name, env: o.env}
	t.Logf("node %s is %s", name, s.id())
	// On failure, show what every daemon of the node said (threads at debug
	// level), newest last.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, e := range s.past {
			t.Logf("node %s, daemon run %d, stderr:\n%s", name, i+1, tail(e, 12000))
		}
		if s.Daemon != nil {
			t.Logf("node %s, last daemon run, stderr:\n%s", name, tail(s.Daemon.Stderr.String(), 12000))
		}
	})
	return s
}

// start starts the daemon, with the threads logger at debug level.
func (s *syncNode) start() {
	s.t.Helper()
	s.launch()
}

// launch starts the daemon; it does not fail the test (the harness panics
// if the daemon does not come up), so goroutines may call it.
func (s *syncNode) launch() {
	if s.Daemon != nil {
		s.past = append(s.past, s.Daemon.Stderr.String())
	}
	env := map[string]string{"GOLOG_LOG_LEVEL": "error,threads=debug"}
	for k, v := range s.env {
		env[k] = v
	}
	t0 := time.Now()
	s.StartDaemonWithReq(harness.RunRequest{CmdOpts: []harness.CmdOpt{harness.RunWithEnv(env)}}, "")
	s.t.Logf("node %s: daemon up in %s (pid %d)", s.name, time.Since(t0).Round(time.Millisecond), s.Daemon.Cmd.Process.Pid)
}

// startAll starts several daemons at once.
func startAll(nodes ...*syncNode) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.launch()
		}()
	}
	wg.Wait()
}

func (s *syncNode) id() string { return s.PeerID().String() }

// addr returns the node's loopback TCP swarm address, ending in /p2p/<id>.
func (s *syncNode) addr() string {
	s.t.Helper()
	var found string
	waitFor(s.t, 10*time.Second, "swarm address of "+s.name, func() error {
		for _, a := range s.SwarmAddrsWithPeerIDs() {
			if as := a.String(); strings.HasPrefix(as, "/ip4/127.0.0.1/tcp/") {
				found = as
				return nil
			}
		}
		return fmt.Errorf("no /ip4/127.0.0.1/tcp address")
	})
	return found
}

// connect connects a to b (ipfs swarm connect) and waits until a lists b
// among its peers.
func connect(t *testing.T, a, b *syncNode) {
	t.Helper()
	addr := b.addr()
	a.must("swarm", "connect", addr)
	waitFor(t, 10*time.Second, a.name+" connected to "+b.name, func() error {
		res := a.run("swarm", "peers")
		if failed(res) {
			return fmt.Errorf("swarm peers: %s", describe(res))
		}
		if !strings.Contains(res.Stdout.String(), "/p2p/"+b.id()) {
			return fmt.Errorf("%s not among the peers:\n%s", b.id(), res.Stdout.String())
		}
		return nil
	})
}

// waitFor polls cond every 100 ms until it returns nil, and fails the test
// with cond's last error when d passes first.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(d)
	for {
		err := cond()
		if err == nil {
			t.Logf("%s: after %s", what, time.Since(t0).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %s", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// JSON outputs of the sharing commands.

type inviteOut struct {
	Invite    string
	Thread    string
	Peer      string
	Role      string
	Delivered bool
}

type receivedInvite struct {
	Invite   string
	Thread   string
	Role     string
	From     string
	Received time.Time
}

type addrEntry struct {
	Log     string
	Peer    string
	Addrs   []string
	Expires time.Time
}

// tryJSON runs an ipfs command with --enc=json and decodes its one value,
// returning an error instead of failing the test (for polling, and for
// goroutines other than the test's).
func (n *node) tryJSON(v any, args ...string) error {
	res := n.run(append(args, "--enc=json")...)
	if failed(res) {
		return fmt.Errorf("command failed: %s", describe(res))
	}
	if err := json.Unmarshal(res.Stdout.Bytes(), v); err != nil {
		return fmt.Errorf("%v: decode JSON output: %s\n%s", args, err, res.Stdout.String())
	}
	return nil
}

func (n *node) tryInfo(tid string) (threadOut, error) {
	var out threadOut
	err := n.tryJSON(&out, "threads", "info", tid)
	return out, err
}

// tryEvents is events without failing the test.
func (n *node) tryEvents(tid string) ([]eventOut, error) {
	res := n.run("threads", "log", "--enc=json", tid)
	if failed(res) {
		return nil, fmt.Errorf("command failed: %s", describe(res))
	}
	dec := json.NewDecoder(bytes.NewReader(res.Stdout.Bytes()))
	var evs []eventOut
	for {
		var e eventOut
		err := dec.Decode(&e)
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("threads log: decode JSON: %s", err)
		}
		evs = append(evs, e)
	}
}

// tryAdd appends an event without failing the test.
func (n *node) tryAdd(tid string, body []byte) (addOut, error) {
	res := n.runStdin(body, "threads", "add", "--enc=json", tid)
	if failed(res) {
		return addOut{}, fmt.Errorf("command failed: %s", describe(res))
	}
	var a addOut
	if err := json.Unmarshal(res.Stdout.Bytes(), &a); err != nil || a.Cid == "" || a.Seq == 0 {
		return addOut{}, fmt.Errorf("threads add: bad output %q (%v)", res.Stdout.String(), err)
	}
	return a, nil
}

func (n *node) invite(tid, peerID, role string) inviteOut {
	n.t.Helper()
	var out inviteOut
	n.mustJSON(&out, "threads", "invite", tid, peerID, "--role", role)
	if out.Invite == "" || out.Thread != tid || out.Peer != peerID || out.Role != role {
		n.t.Fatalf("threads invite %s %s --role %s: unexpected output %+v", tid, peerID, role, out)
	}
	return out
}

func (n *node) invites() []receivedInvite {
	n.t.Helper()
	var out struct{ Invites []receivedInvite }
	n.mustJSON(&out, "threads", "invites")
	return out.Invites
}

func (n *node) join(invite string) threadOut {
	n.t.Helper()
	var out threadOut
	n.mustJSON(&out, "threads", "join", invite)
	return out
}

func (n *node) addrs(tid string) []addrEntry {
	n.t.Helper()
	var out struct{ Addrs []addrEntry }
	n.mustJSON(&out, "threads", "addrs", tid)
	return out.Addrs
}

// heads maps a thread's logs to "seq head" as `threads info` shows them.
func heads(in threadOut) map[string]string {
	m := map[string]string{}
	for _, l := range in.Logs {
		m[l.ID] = fmt.Sprintf("%d %s", l.Seq, l.Head)
	}
	return m
}

func sameHeads(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// eventsDiff says how two event lists differ (same log, seq, CID and body at
// every position), or returns "".
func eventsDiff(a, b []eventOut) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d events vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Log != y.Log || x.Seq != y.Seq || x.Cid != y.Cid || !bytes.Equal(x.Body, y.Body) || !x.Time.Equal(y.Time) {
			return fmt.Sprintf("event %d: %s/%d %s %q vs %s/%d %s %q", i, x.Log, x.Seq, x.Cid, x.Body, y.Log, y.Seq, y.Cid, y.Body)
		}
	}
	return ""
}

// waitConverged waits until every node holds the thread with wantLogs logs
// and wantEvents events in all, with the same heads everywhere, and (for
// nodes holding the read key) the same `threads log` output. It returns the
// converged log, as the first node lists it.
func waitConverged(t *testing.T, d time.Duration, tid string, wantLogs int, wantEvents uint64, nodes ...*syncNode) []eventOut {
	t.Helper()
	var names []string
	for _, n := range nodes {
		names = append(names, n.name)
	}
	var result []eventOut
	waitFor(t, d, fmt.Sprintf("%v converged on %d logs, %d events", names, wantLogs, wantEvents), func() error {
		var ref map[string]string
		for _, n := range nodes {
			in, err := n.tryInfo(tid)
			if err != nil {
				return fmt.Errorf("%s: %s", n.name, err)
			}
			var total uint64
			for _, l := range in.Logs {
				total += l.Seq
			}
			if len(in.Logs) != wantLogs || total != wantEvents {
				return fmt.Errorf("%s: %d logs, %d events (heads %v)", n.name, len(in.Logs), total, heads(in))
			}
			h := heads(in)
			if ref == nil {
				ref = h
			} else if !sameHeads(ref, h) {
				return fmt.Errorf("heads differ: %s %v vs %s %v", nodes[0].name, ref, n.name, h)
			}
		}
		var first []eventOut
		for i, n := range nodes {
			evs, err := n.tryEvents(tid)
			if err != nil {
				return fmt.Errorf("%s: %s", n.name, err)
			}
			if uint64(len(evs)) != wantEvents {
				return fmt.Errorf("%s: threads log lists %d events, want %d", n.name, len(evs), wantEvents)
			}
			if i == 0 {
				first = evs
			} else if diff := eventsDiff(first, evs); diff != "" {
				return fmt.Errorf("threads log on %s and %s differ: %s", nodes[0].name, n.name, diff)
			}
		}
		result = first
		return nil
	})
	return result
}

// shareWriter creates a thread on a holding count events (bodies from
// format), has b join it as a writer through a delivered invite, and waits
// until b holds a's events. It returns the thread, both logs, and the
// acknowledged adds and bodies, by node name.
func shareWriter(t *testing.T, a, b *syncNode, count int, format string) (tid, logA, logB string, acks map[string][]addOut, bodies map[string][]string) {
	t.Helper()
	tid, logA = a.createThread()
	acks, bodies = map[string][]addOut{}, map[string][]string{}
	addSeq(a, tid, count, format, acks, bodies)
	logB = joinDelivered(t, a, b, tid, a.invite(tid, b.id(), "write"), true).Keys.Log
	waitLogAt(t, b, tid, logA, uint64(count))
	return tid, logA, logB, acks, bodies
}
