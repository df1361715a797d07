//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

type aclOut struct {
	Creator     string
	Default     string
	Peers       []struct{ Peer, Role string }
	Rotations   int
	ReadKeys    int
	Ignored     int
	RefusedKeys int
}

func (n *node) tryACL(tid string) (aclOut, error) {
	var out aclOut
	return out, n.tryJSON(&out, "threads", "acl", "show", tid)
}

// TestAccessControlledThreadAcrossThreeDaemons: A creates an
// access-controlled thread, B joins as writer and C as reader. C cannot
// write. Revoking C rotates the read key: B takes the new key up, C cannot
// decrypt later events. Then B, cut off from the others, keeps writing
// while A takes its write role away: once healed, every replica (B too)
// ignores B's writes from the revocation point on, and all agree on the
// views and the ACL.
func TestAccessControlledThreadAcrossThreeDaemons(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a, b, c := newSyncNode(t, h, "A", opts), newSyncNode(t, h, "B", opts), newSyncNode(t, h, "C", opts)
	startAll(a, b, c)
	connect(t, a, b)
	connect(t, a, c)
	connect(t, b, c)

	tid := strings.TrimSpace(a.must("threads", "create", "--variant", "acl"))
	if info := a.info(tid); info.Creator != a.id() || info.Keys.Log != a.id() {
		t.Fatalf("creator %q, own log %q, want both %s", info.Creator, info.Keys.Log, a.id())
	}
	b.join(a.invite(tid, b.id(), "write").Invite)
	c.join(a.invite(tid, c.id(), "read").Invite)

	b.must("threads", "kv", "put", tid, "from-b", "1")
	waitFor(t, convergeTimeout, "A and C to see B's write", func() error {
		for _, n := range []*syncNode{a, c} {
			if _, err := n.tryRun("threads", "kv", "get", tid, "from-b"); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
		}
		return nil
	})
	if out := c.mustFail("threads", "kv", "put", tid, "from-c", "1"); !strings.Contains(out, "ACL does not allow") {
		t.Fatalf("a reader's write: %s", out)
	}

	// Revoke C: the read key rotates.
	a.must("threads", "acl", "revoke", tid, c.id())
	waitFor(t, convergeTimeout, "B to take up the new read key", func() error {
		out, err := b.tryACL(tid)
		if err != nil || out.ReadKeys != 2 || out.Rotations != 1 {
			return fmt.Errorf("B: %+v %v", out, err)
		}
		return nil
	})
	a.must("threads", "kv", "put", tid, "secret", "after the rotation")
	waitFor(t, convergeTimeout, "B to read the new event, and C to fail to decrypt it", func() error {
		if v, err := b.tryRun("threads", "kv", "get", tid, "secret"); err != nil || v != "after the rotation" {
			return fmt.Errorf("B: %q %v", v, err)
		}
		var st struct{ Rejected map[string]uint64 }
		if err := c.tryJSON(&st, "threads", "stats", tid); err != nil || st.Rejected["does not decrypt"] == 0 {
			return fmt.Errorf("C rejected %v (%v)", st.Rejected, err)
		}
		return nil
	})
	if _, err := c.tryRun("threads", "kv", "get", tid, "secret"); err == nil {
		t.Fatal("the revoked reader reads an event sealed after the rotation")
	}
	t.Logf("C after the rotation: %s", c.must("threads", "stats", tid))

	// Cut B off; A takes B's write role while B keeps writing.
	b.must("swarm", "filters", "add", "/ip4/127.0.0.1/ipcidr/32")
	waitFor(t, convergeTimeout, "B disconnected", func() error {
		for _, n := range []*syncNode{a, c} {
			b.run("swarm", "disconnect", "/p2p/"+n.id())
			if strings.Contains(b.must("swarm", "peers"), n.id()) {
				return fmt.Errorf("B still connected to %s", n.name)
			}
		}
		return nil
	})
	a.must("threads", "acl", "grant", tid, b.id(), "read")
	for i := range 3 {
		b.must("threads", "kv", "put", tid, fmt.Sprintf("cut-off-%d", i), "x")
	}
	if v := b.must("threads", "kv", "get", tid, "cut-off-1"); v != "x" {
		t.Fatalf("B's own view before it learns of the revocation: %q", v)
	}
	b.must("swarm", "filters", "rm", "/ip4/127.0.0.1/ipcidr/32")
	connect(t, b, a)
	waitFor(t, convergeTimeout, "A and B to agree, without B's late writes", func() error {
		va, err := a.tryRun("threads", "kv", "ls", tid)
		if err != nil {
			return err
		}
		vb, err := b.tryRun("threads", "kv", "ls", tid)
		if err != nil {
			return err
		}
		if va != vb || strings.Contains(va, "cut-off") || !strings.Contains(va, "from-b") {
			return fmt.Errorf("A:\n%sB:\n%s", va, vb)
		}
		return nil
	})
	aclA, _ := a.tryACL(tid)
	aclB, err := b.tryACL(tid)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(aclA.Peers)
	jb, _ := json.Marshal(aclB.Peers)
	if string(ja) != string(jb) || aclA.Default != aclB.Default {
		t.Fatalf("ACLs differ: A %s, B %s", ja, jb)
	}
	t.Logf("ACL on A and B: %s", ja)
	if out := b.mustFail("threads", "kv", "put", tid, "again", "1"); !strings.Contains(out, "ACL does not allow") {
		t.Fatalf("B after learning of its revocation: %s", out)
	}
}
