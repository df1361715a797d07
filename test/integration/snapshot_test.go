//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

type snapshotOut struct {
	Root    string
	Maker   string
	Events  uint64
	Entries uint64
}

// snapshotPages lists the pages a snapshot's root links to (ipfs dag get).
func (n *syncNode) snapshotPages(root string) string {
	n.t.Helper()
	var r struct{ L []map[string]string }
	n.mustJSON(&r, "dag", "get", root)
	var out []string
	for _, l := range r.L {
		out = append(out, l["/"])
	}
	if len(out) == 0 {
		n.t.Fatalf("snapshot %s lists no pages", root)
	}
	return strings.Join(out, " ")
}

type compactOut struct {
	Logs []struct {
		Log    string
		Base   uint64
		Events uint64
		Bytes  uint64
	}
}

// TestSnapshotJoinCompactGC: two writers that hold the same events take
// snapshots of the same pages, each signing its own root; a third node
// joins from its inviter's and sees the same view; compaction and `ipfs
// repo gc` leave the views unchanged.
func TestSnapshotJoinCompactGC(t *testing.T) {
	h := newCluster(t)
	a := newSyncNode(t, h, "A", syncOpts{antiEntropy: "1s"})
	b := newSyncNode(t, h, "B", syncOpts{antiEntropy: "1s"})
	c := newSyncNode(t, h, "C", syncOpts{antiEntropy: "1s"})
	startAll(a, b, c)
	connect(t, a, b)
	connect(t, c, a)

	tid, _ := a.createThread()
	b.join(a.invite(tid, b.id(), "write").Invite)
	for i := 0; i < 40; i++ {
		a.must("threads", "kv", "put", tid, fmt.Sprintf("k%d", i%15), fmt.Sprintf("a%d", i))
		b.must("threads", "kv", "put", tid, fmt.Sprintf("k%d", i%15), fmt.Sprintf("b%d", i))
	}
	waitFor(t, 30*time.Second, "A and B to hold the same events", func() error {
		ia, err := a.tryInfo(tid)
		if err != nil {
			return err
		}
		ib, err := b.tryInfo(tid)
		if err != nil {
			return err
		}
		if !sameHeads(heads(ia), heads(ib)) {
			return fmt.Errorf("heads differ: %v vs %v", heads(ia), heads(ib))
		}
		return nil
	})
	var sa, sb snapshotOut
	a.mustJSON(&sa, "threads", "snapshot", tid, "--create")
	b.mustJSON(&sb, "threads", "snapshot", tid, "--create")
	if sa.Root == "" || sa.Maker != a.id() || sb.Maker != b.id() || sa.Events != 80 || sa.Entries != 15 || sb.Events != 80 {
		t.Fatalf("snapshots: %+v vs %+v", sa, sb)
	}
	if pa, pb := a.snapshotPages(sa.Root), b.snapshotPages(sb.Root); pa != pb {
		t.Fatalf("snapshots of the same state differ: pages %s vs %s", pa, pb)
	}
	view := func(n *syncNode) string { return n.must("threads", "kv", "ls", tid) }
	want := view(a)

	c.join(a.invite(tid, c.id(), "write").Invite) // raw threads have no read role
	waitFor(t, 30*time.Second, "C to hold A's view", func() error {
		if got := view(c); got != want {
			return fmt.Errorf("C's view:\n%s", got)
		}
		return nil
	})
	var ci struct {
		Logs []struct {
			ID   string
			Base uint64
			Own  bool
		}
	}
	c.mustJSON(&ci, "threads", "info", tid)
	for _, l := range ci.Logs {
		if l.Base != 40 && !l.Own {
			t.Fatalf("C did not start log %s from the snapshot: %+v", l.ID, l)
		}
	}

	var co compactOut
	a.mustJSON(&co, "threads", "compact", tid)
	if len(co.Logs) != 2 || co.Logs[0].Base != 40 || co.Logs[0].Bytes == 0 {
		t.Fatalf("compact: %+v", co)
	}
	a.must("repo", "gc")
	if got := view(a); got != want {
		t.Fatalf("view after compaction and gc:\n%s\nwant:\n%s", got, want)
	}
	a.must("threads", "view", "rebuild", tid)
	if got := view(a); got != want {
		t.Fatalf("view after rebuild:\n%s\nwant:\n%s", got, want)
	}
	b.must("threads", "kv", "put", tid, "after", "compaction")
	waitFor(t, 30*time.Second, "A to apply B's write after compaction", func() error {
		res := a.run("threads", "kv", "get", tid, "after")
		if failed(res) || res.Stdout.String() != "compaction" {
			return fmt.Errorf("get: %s", describe(res))
		}
		return nil
	})
}
