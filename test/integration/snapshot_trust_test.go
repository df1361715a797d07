//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real-daemon checks of the snapshot trust rules: a node takes a snapshot
// only at a join that asked for one (from its inviter, signed by it, never
// in an access-controlled thread), so a replay yields the whole history or
// a visible error, never a truncated log, and a reader's forged snapshot
// changes nothing.

// infoCatchUp is what `threads info --enc=json` says of a log's catch-up.
type infoCatchUp struct {
	Logs []struct {
		ID      string
		Seq     uint64
		Base    uint64
		CatchUp *struct {
			Have  uint64
			Peers []struct {
				Peer string
				Base uint64
			}
			Error string
		}
	}
}

func (n *syncNode) logState(tid, logID string) (seq, base uint64, blocked string, by map[string]uint64, err error) {
	var in infoCatchUp
	if err := n.tryJSON(&in, "threads", "info", tid); err != nil {
		return 0, 0, "", nil, err
	}
	for _, l := range in.Logs {
		if l.ID != logID {
			continue
		}
		if l.CatchUp != nil {
			by = map[string]uint64{}
			for _, p := range l.CatchUp.Peers {
				by[p.Peer] = p.Base
			}
			blocked = l.CatchUp.Error
		}
		return l.Seq, l.Base, blocked, by, nil
	}
	return 0, 0, "", nil, fmt.Errorf("%s: no log %s", n.name, logID)
}

// TestReplayJoinNeverTruncates is the scenario against real
// daemons: a 1,103-event thread (A's automatic snapshot at 1000), B joins
// from the snapshot (its log starts at 1000), C joins B's invite with
// --snapshot=false. With A down, C reports that B compacted up to 1000 and
// holds nothing of the log; with A back, it holds all 1,103 events from
// seq 1.
func TestReplayJoinNeverTruncates(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{antiEntropy: "1s"}
	a, b, c := newSyncNode(t, h, "A", opts), newSyncNode(t, h, "B", opts), newSyncNode(t, h, "C", opts)
	startAll(a, b, c)
	connect(t, b, a)
	tid, aLog := a.createThread()
	bulkAdd(t, a, tid, 1103, "event")
	waitFor(t, 60*time.Second, "A's automatic snapshot at 1000 events", func() error {
		var s snapshotOut
		if err := a.tryJSON(&s, "threads", "snapshot", tid); err != nil {
			return err
		}
		if s.Events != 1000 {
			return fmt.Errorf("snapshot at %d events", s.Events)
		}
		return nil
	})
	b.join(a.invite(tid, b.id(), "write").Invite)
	waitFor(t, 60*time.Second, "B to hold A's log from its snapshot", func() error {
		seq, base, _, _, err := b.logState(tid, aLog)
		if err != nil || seq != 1103 || base != 1000 {
			return fmt.Errorf("seq %d base %d (%v)", seq, base, err)
		}
		return nil
	})

	connect(t, c, b)
	inv := b.invite(tid, c.id(), "write").Invite
	a.stop()
	c.must("threads", "join", "--snapshot=false", inv)
	waitFor(t, 30*time.Second, "C to report the blocked catch-up", func() error {
		_, _, blocked, _, err := c.logState(tid, aLog)
		if err != nil || blocked == "" {
			return fmt.Errorf("not blocked (%v)", err)
		}
		return nil
	})
	seq, base, blocked, by, _ := c.logState(tid, aLog)
	if seq != 0 || base != 0 || len(by) != 1 || by[b.id()] != 1000 {
		t.Fatalf("C's log of A: seq %d base %d, compacted by %v", seq, base, by)
	}
	for _, want := range []string{b.id(), "up to seq 1000", "ipfs threads rm " + tid, "join it again with a snapshot"} {
		if !strings.Contains(blocked, want) {
			t.Fatalf("the error does not say %q: %s", want, blocked)
		}
	}
	text := c.must("threads", "info", tid)
	if !strings.Contains(text, "blocked: ") || !strings.Contains(text, b.id()) {
		t.Fatalf("info text does not show the block:\n%s", text)
	}
	var st struct{ BlockedLogs int }
	c.mustJSON(&st, "threads", "stats", tid)
	if st.BlockedLogs != 1 {
		t.Fatalf("stats: %d blocked logs", st.BlockedLogs)
	}
	if !strings.Contains(c.Daemon.Stderr.String(), "cannot catch up") {
		t.Fatal("C's daemon did not log the blocked catch-up")
	}
	if out := c.mustFail("threads", "snapshot", tid); !strings.Contains(out, "no snapshot") {
		t.Fatalf("C holds a snapshot: %s", out)
	}

	a.start()
	connect(t, c, a)
	waitFor(t, 90*time.Second, "C to hold A's whole log", func() error {
		seq, base, blocked, _, err := c.logState(tid, aLog)
		if err != nil || seq != 1103 || base != 0 || blocked != "" {
			return fmt.Errorf("seq %d base %d blocked %q (%v)", seq, base, blocked, err)
		}
		return nil
	})
	ea, ec := a.events(tid), c.events(tid)
	if len(ec) != 1103 || eventsDiff(ea, ec) != "" {
		t.Fatalf("C lists %d events: %s", len(ec), eventsDiff(ea, ec))
	}
}

// buildAttacker builds test/attacker into dir.
func buildAttacker(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "attacker")
	t0 := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "./test/attacker")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the attacker: %s\n%s", err, out)
	}
	t.Logf("attacker built in %s", time.Since(t0).Round(time.Millisecond))
	return bin
}

// lines is an io.Writer that keeps what it is written, safe for polling.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// find returns the rest of the first line starting with prefix.
func (l *lines) find(prefix string) string {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return rest
		}
	}
	return ""
}

// runAttacker starts the attacker with args; it is stopped at the end of
// the test. It returns what it prints.
func runAttacker(t *testing.T, bin string, args ...string) *lines {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	out := &lines{}
	cmd.Stdout = out
	cmd.Stderr = io.MultiWriter(out, os.Stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() || testing.Verbose() {
			t.Logf("attacker output:\n%s", tail(out.String(), 8000))
		}
	})
	return out
}

// TestForgedSnapshotIsNeverLoaded: a reader (the attacker) forges a
// snapshot signed by itself, with a key/value no writer wrote (and, in an
// access-controlled thread, the creator's grant of admin to itself),
// claims a log 1000 events ahead of a member and answers its pulls with
// "compacted". The member never asks for the snapshot; its views, ACL and
// logs are unchanged; it reports that it cannot catch up, naming the
// attacker. In the access-controlled thread, a node that joins through the
// attacker's own invite does not ask for a snapshot either.
func TestForgedSnapshotIsNeverLoaded(t *testing.T) {
	attacker := buildAttacker(t, t.TempDir())
	for _, variant := range []string{"raw", "acl"} {
		t.Run(variant, func(t *testing.T) {
			h := newCluster(t)
			opts := syncOpts{antiEntropy: "1s"}
			a, b := newSyncNode(t, h, "A", opts), newSyncNode(t, h, "B", opts)
			nodes := []*syncNode{a, b}
			var d *syncNode
			if variant == "acl" {
				d = newSyncNode(t, h, "D", opts)
				nodes = append(nodes, d)
			}
			startAll(nodes...)
			connect(t, b, a)
			tid := strings.TrimSpace(a.must("threads", "create", "--variant", variant))
			aLog := a.info(tid).Keys.Log
			for i := 0; i < 5; i++ {
				a.must("threads", "kv", "put", tid, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
			}
			// Raw threads have no read-only role: every reader can write.
			role := "read"
			if variant == "raw" {
				role = "write"
			}
			b.join(a.invite(tid, b.id(), role).Invite)
			key := filepath.Join(t.TempDir(), "attacker.key")
			id, err := exec.Command(attacker, "id", "-key", key).Output()
			if err != nil {
				t.Fatal(err)
			}
			mallory := strings.TrimSpace(string(id))
			inv := a.invite(tid, mallory, role).Invite
			// (In an access-controlled thread each invite is an ACL event.)
			var aSeq uint64
			for _, l := range a.info(tid).Logs {
				if l.ID == aLog {
					aSeq = l.Seq
				}
			}
			waitLogAt(t, b, tid, aLog, aSeq)
			viewOf := func(n *syncNode) string {
				out := n.must("threads", "kv", "ls", tid)
				if variant == "acl" {
					out += n.must("threads", "acl", "show", tid)
				}
				return out
			}
			before := viewOf(b)
			args := []string{"forge-snapshot", "-key", key, "-invite", inv, "-target", b.addr(), "-kv", "k1=forged", "-for", "2m"}
			if d != nil {
				args = append(args, "-admin", "-invite-for", d.id())
			}
			out := runAttacker(t, attacker, args...)
			waitFor(t, 30*time.Second, "B to report the blocked catch-up", func() error {
				_, _, blocked, by, err := b.logState(tid, aLog)
				if err != nil || blocked == "" {
					return fmt.Errorf("not blocked (%v)", err)
				}
				if by[mallory] == 0 {
					return fmt.Errorf("blocked by %v, not the attacker", by)
				}
				return nil
			})
			if out.find("answered compacted") == "" {
				t.Fatal("the attacker never answered a pull")
			}
			if d != nil {
				text := out.find("invite ")
				if text == "" {
					t.Fatal("the attacker printed no invite")
				}
				connect(t, d, a)
				d.must("threads", "join", text)
				waitLogAt(t, d, tid, aLog, aSeq)
				waitFor(t, 30*time.Second, "D's views to hold A's", func() error {
					if got, want := viewOf(d), viewOf(a); got != want {
						return fmt.Errorf("D:\n%s\nA:\n%s", got, want)
					}
					return nil
				})
			}
			if got := viewOf(b); got != before {
				t.Fatalf("B's views changed:\n%s\nwas:\n%s", got, before)
			}
			if v := b.must("threads", "kv", "get", tid, "k1"); v != "v1" {
				t.Fatalf("B reads k1 = %q", v)
			}
			if o := b.mustFail("threads", "snapshot", tid); !strings.Contains(o, "no snapshot") {
				t.Fatalf("B holds a snapshot: %s", o)
			}
			if seq, base, _, _, _ := b.logState(tid, aLog); seq != aSeq || base != 0 {
				t.Fatalf("B's log of A: seq %d base %d", seq, base)
			}
			if strings.Contains(out.String(), "asked snapshot") || strings.Contains(out.String(), "asked blocks") {
				t.Fatalf("a daemon asked the attacker for its snapshot:\n%s", out)
			}
			if !strings.Contains(b.Daemon.Stderr.String(), "cannot catch up") {
				t.Fatal("B's daemon did not log the refusal")
			}
		})
	}
}
