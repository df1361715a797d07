package threads

// The memory one hostile peer can make a node hold: every memory attack at
// once, from an attacker in a process of its own (the test binary run
// again as TestHostileProcess), so that the heap measured is the target's
// alone. TestOneHostilePeerHoldsUnder64MiB (hostile_bounds_test.go)
// asserts the bound; BenchmarkHostilePeer reports it:
//
//	go test ./threads/ -run '^$' -bench HostilePeer -benchtime 1x -count 5

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// fire writes raw bytes on a new sync stream and reads the answer into
// nothing.
func (h *hostile) fire(ctx context.Context, to peer.ID, raw []byte) {
	st, err := h.host.NewStream(ctx, to, ProtocolID)
	if err != nil {
		return
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(streamTimeout))
	if _, err := st.Write(raw); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.CloseWrite()
	_, _ = io.Copy(io.Discard, st)
}

// encodeFrame encodes a message as a frame.
func encodeFrame(t testing.TB, m *codec.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := codec.WriteMessage(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// memoryAttack is everything one hostile writer of a thread sends at once
// to make a node hold memory, encoded before the attack starts.
type memoryAttack struct {
	bombs     [][]byte // headers claiming the largest push, and 1 MiB of it
	strangers [][]byte // headers claiming the largest push, with a bad proof
	pushes    [][]byte // events of 1 MiB ahead of made-up logs' heads
	announces [][]byte // 1,024 made-up logs at another peer's address
	invites   [][]byte // invites of 40 KiB to the attacker's own threads
	pulls     [][]byte // pulls of the target's largest answers
	pubsub    [][]byte // events ahead of made-up logs on the thread's topic
	// answers to the target's requests, by type: heads naming logs far
	// ahead, and the largest answer of junk events to every pull
	answers map[codec.MsgType][]byte
}

// prepareMemoryAttack encodes the attack of h, a writer of tid, on the
// target, whose own log is targetLog. It announces the made-up logs the
// pushes extend first (they must be known to be held back).
func prepareMemoryAttack(t testing.TB, h *hostile, tid ipel.ThreadID, target peer.ID, targetLog ipel.LogID) *memoryAttack {
	t.Helper()
	ctx := context.Background()
	hth := h.mustThread(t, tid)
	proof := h.proof(t, tid, target)
	at := &memoryAttack{}
	for range 16 {
		at.bombs = append(at.bombs, rawFrame(t, codec.MsgPush, tid.Bytes(), proof, codec.MaxMessageSize, make([]byte, 1<<20)))
		at.strangers = append(at.strangers, rawFrame(t, codec.MsgPush, tid.Bytes(), []byte("forged"), codec.MaxMessageSize, make([]byte, 64<<10)))
	}
	sks, logs := madeUpLogs(t, 64)
	h.announceLogs(ctx, t, target, tid, logs, nil)
	for i := 0; i < len(logs); i += 4 {
		m := &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: proof}
		for j := i; j < i+4; j++ {
			m.Events = append(m.Events, madeUpEvent(t, hth, sks[j], logs[j], 2, 1<<20).RawData())
		}
		at.pushes = append(at.pushes, encodeFrame(t, m))
	}
	_, fakeLogs := madeUpLogs(t, 1024)
	fake, _, err := ipel.NewLogIdentity() // a peer ID of nobody
	if err != nil {
		t.Fatal(err)
	}
	fakeID, _ := peer.IDFromPrivateKey(fake)
	other, _ := ma.NewMultiaddr("/ip4/6.6.6.6/tcp/666/p2p/" + fakeID.String())
	for i := 0; i < len(fakeLogs); i += 256 {
		m := &codec.Message{Type: codec.MsgAnnounce, Thread: tid.Bytes(), Auth: proof}
		for _, l := range fakeLogs[i : i+256] {
			m.Addrs = append(m.Addrs, codec.LogAddrs{Log: []byte(l), Addrs: [][]byte{other.Bytes()}, TTL: 3600})
		}
		at.announces = append(at.announces, encodeFrame(t, m))
	}
	pk, err := target.ExtractPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	for range 32 {
		ti, err := h.CreateThread(ctx, ipel.VariantRaw)
		if err != nil {
			t.Fatal(err)
		}
		inv := &codec.Invite{Thread: ti.ID.Bytes(), Role: codec.RoleRead, Follow: hth.follow.Bytes(), Read: hth.read.Load().Bytes(),
			Inviter: []byte(h.host.ID()), Invitee: []byte(target), Addrs: [][]byte{make([]byte, 40<<10)}}
		text, err := codec.SealInvite(inv, pk)
		if err != nil {
			t.Fatal(err)
		}
		at.invites = append(at.invites, encodeFrame(t, &codec.Message{Type: codec.MsgInvite, Invite: text}))
	}
	for range 16 {
		at.pulls = append(at.pulls, encodeFrame(t, &codec.Message{Type: codec.MsgPull, Thread: tid.Bytes(), Auth: proof, Log: []byte(targetLog), From: 1, Max: pullBatch}))
	}
	psSks, psLogs := madeUpLogs(t, 64)
	h.announceLogs(ctx, t, target, tid, psLogs, nil)
	broadcast := codec.ThreadAuth(hth.follow, tid.Bytes(), []byte(h.host.ID()), nil)
	for i := range psLogs {
		m := &codec.Message{Type: codec.MsgPush, Thread: tid.Bytes(), Auth: broadcast}
		m.Events = append(m.Events, madeUpEvent(t, hth, psSks[i], psLogs[i], 2, pubsubLimit-pubsubOverhead).RawData())
		data, err := codec.EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		at.pubsub = append(at.pubsub, data)
	}
	junk := &codec.Message{Type: codec.MsgEvents, Auth: proof}
	for range 4 {
		junk.Events = append(junk.Events, make([]byte, codec.MaxBlockSize-1<<10))
	}
	heads := &codec.Message{Type: codec.MsgHeads, Auth: proof}
	for _, l := range logs[:8] {
		heads.Heads = append(heads.Heads, codec.Head{Log: []byte(l), Seq: 1 << 40})
	}
	at.answers = map[codec.MsgType][]byte{
		codec.MsgHeads:    encodeFrame(t, heads),
		codec.MsgPull:     encodeFrame(t, junk),
		codec.MsgAnnounce: encodeFrame(t, &codec.Message{Type: codec.MsgOK}),
	}
	return at
}

// run sends everything at once and returns when all is sent and answered.
func (at *memoryAttack) run(ctx context.Context, h *hostile, to peer.ID, tid ipel.ThreadID) {
	h.answerRawWith(func(_ peer.ID, m *codec.Message) []byte { return at.answers[m.Type] })
	defer h.answerRawWith(nil)
	var wg sync.WaitGroup
	for _, frames := range [][][]byte{at.pushes, at.invites, at.pulls} {
		for _, f := range frames {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.fire(ctx, to, f)
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, f := range at.announces {
			h.fire(ctx, to, f)
		}
	}()
	// Bombs: streams that stall after their claim for two seconds.
	for _, f := range append(append([][]byte(nil), at.bombs...), at.strangers...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := h.host.NewStream(ctx, to, ProtocolID)
			if err != nil {
				return
			}
			stalled := time.Now().Add(2 * time.Second)
			_ = st.SetDeadline(stalled)
			_, _ = st.Write(f)
			time.Sleep(time.Until(stalled))
			_ = st.Reset()
		}()
	}
	h.net.mu.Lock()
	topic := h.net.topics[tid]
	h.net.mu.Unlock()
	if topic != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, data := range at.pubsub {
				_ = topic.topic.Publish(ctx, data)
			}
		}()
	}
	wg.Wait()
	// The target syncs with the attacker every 100 ms: let it meet the
	// attacker's answers a few more times.
	time.Sleep(500 * time.Millisecond)
}

// attackerLine prefixes what the attacker process and the test say to each
// other, one JSON object a line.
const attackerLine = "hostile-process: "

// attackerMsg is one line between the test and the attacker process.
type attackerMsg struct {
	ID     string   `json:",omitempty"` // attacker: its peer ID
	Addrs  []string `json:",omitempty"` // attacker: its addresses; test: the target's
	Target string   `json:",omitempty"` // test: the target's peer ID
	Invite string   `json:",omitempty"` // test: the invite that makes the attacker a writer
	Log    string   `json:",omitempty"` // test: the target's own log
	Step   string   `json:",omitempty"` // "ready", "go", "done"
}

// attackerProcess is the test's side of the attacker process.
type attackerProcess struct {
	t      testing.TB
	id     peer.ID
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *tailBuffer
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 8<<10; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (p *attackerProcess) send(m attackerMsg) {
	p.t.Helper()
	b, _ := json.Marshal(m)
	if _, err := fmt.Fprintf(p.in, "%s%s\n", attackerLine, b); err != nil {
		p.t.Fatalf("to the attacker: %v", err)
	}
}

func (p *attackerProcess) recv() attackerMsg {
	p.t.Helper()
	m, ok := readAttackerMsg(p.t, p.out, p.stderr)
	if !ok {
		p.t.Fatalf("the attacker process ended:\n%s", p.stderr)
	}
	return m
}

// readAttackerMsg reads the next line for the other side, writing other
// lines to rest; false at the end of the input.
func readAttackerMsg(t testing.TB, sc *bufio.Scanner, rest io.Writer) (attackerMsg, bool) {
	t.Helper()
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), attackerLine)
		if !ok {
			fmt.Fprintln(rest, sc.Text())
			continue
		}
		var m attackerMsg
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("attacker line %q: %v", line, err)
		}
		return m, true
	}
	return attackerMsg{}, false
}

// attack runs the attack and waits until it is over.
func (p *attackerProcess) attack() {
	p.send(attackerMsg{Step: "go"})
	if m := p.recv(); m.Step != "done" {
		p.t.Fatalf("attacker: %+v", m)
	}
}

// startMemoryAttack starts a target holding a thread with 8 MiB of events
// (syncing every 100 ms) and an attacker process that writes the thread,
// and has the attacker prepare its attack.
func startMemoryAttack(t testing.TB) (*testNode, *attackerProcess, ipel.ThreadID) {
	t.Helper()
	ctx := context.Background()
	a := newTestNode(t, nodeOpts{interval: 100 * time.Millisecond})
	ti, err := a.CreateThread(ctx, ipel.VariantRaw)
	if err != nil {
		t.Fatal(err)
	}
	for range 16 {
		if _, err := a.Append(ctx, ti.ID, make([]byte, 512<<10)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileProcess$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "THREADS_HOSTILE_PROCESS=1")
	stderr := &tailBuffer{}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	p := &attackerProcess{t: t, in: in, out: bufio.NewScanner(out), stderr: stderr}
	hello := p.recv()
	if p.id, err = peer.Decode(hello.ID); err != nil {
		t.Fatal(err)
	}
	info := peer.AddrInfo{ID: p.id}
	for _, s := range hello.Addrs {
		info.Addrs = append(info.Addrs, ma.StringCast(s))
	}
	if err := a.host.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	res, err := a.Invite(ctx, ti.ID, p.id, codec.RoleWrite)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, x := range a.host.Addrs() {
		addrs = append(addrs, x.String())
	}
	th := a.mustThread(t, ti.ID)
	p.send(attackerMsg{Target: a.host.ID().String(), Addrs: addrs, Invite: res.Invite, Log: th.own.id.String()})
	if m := p.recv(); m.Step != "ready" {
		t.Fatalf("attacker: %+v", m)
	}
	return a, p, ti.ID
}

// TestHostileProcess is the attacker process of startMemoryAttack; it runs
// only as such.
func TestHostileProcess(t *testing.T) {
	if os.Getenv("THREADS_HOSTILE_PROCESS") == "" {
		t.Skip("the attacker process of TestOneHostilePeerHoldsUnder64MiB and BenchmarkHostilePeer")
	}
	ctx := context.Background()
	h := newHostile(t, nodeOpts{interval: time.Hour})
	in := bufio.NewScanner(os.Stdin)
	say := func(m attackerMsg) {
		b, _ := json.Marshal(m)
		fmt.Printf("%s%s\n", attackerLine, b)
	}
	var addrs []string
	for _, x := range h.host.Addrs() {
		addrs = append(addrs, x.String())
	}
	say(attackerMsg{ID: h.host.ID().String(), Addrs: addrs})
	setup, ok := readAttackerMsg(t, in, io.Discard)
	if !ok {
		t.Fatal("no setup from the test")
	}
	target, err := peer.Decode(setup.Target)
	if err != nil {
		t.Fatal(err)
	}
	info := peer.AddrInfo{ID: target}
	for _, s := range setup.Addrs {
		info.Addrs = append(info.Addrs, ma.StringCast(s))
	}
	if err := h.host.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	ti, err := h.Join(ctx, setup.Invite)
	if err != nil {
		t.Fatal(err)
	}
	targetLog, err := ipel.ParseLogID(setup.Log)
	if err != nil {
		t.Fatal(err)
	}
	at := prepareMemoryAttack(t, h, ti.ID, target, targetLog)
	say(attackerMsg{Step: "ready"})
	if m, _ := readAttackerMsg(t, in, io.Discard); m.Step != "go" {
		t.Fatalf("test: %+v", m)
	}
	at.run(ctx, h, target, ti.ID)
	say(attackerMsg{Step: "done"})
	for in.Scan() { // until the test is done with the attacker
	}
}

// BenchmarkHostilePeer reports the most heap one hostile peer made a node
// hold (MiB-held, see heldPeak) while it ran every memory attack at once.
func BenchmarkHostilePeer(b *testing.B) {
	var worst uint64
	for range b.N {
		b.StopTimer()
		a, attacker, _ := startMemoryAttack(b)
		b.StartTimer()
		worst = max(worst, heldPeak(attacker.attack))
		b.StopTimer()
		_ = a.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(worst)/(1<<20), "MiB-held")
}
