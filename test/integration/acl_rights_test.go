//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// opsBody encodes view operations as an event body, as modified software
// would append them with `threads add`, past the checks the views commands
// make.
func opsBody(t *testing.T, ops views.Ops) []byte {
	t.Helper()
	body, err := views.EncodeOps(ops)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestNoRightsBeyondTheRoleAcrossDaemons: A creates an access-controlled
// thread; B joins as a writer, C with the delete role (not an admin). Each
// tries more than its role allows, through the commands (refused there)
// and as modified software would (events appended with `threads add`,
// ignored by every replica):
//   - B puts a version of A's document that breaks the schema, which would
//     hide it; B declares an index and drops A's;
//   - C raises B on a document, lowers the creator on it, and makes
//     itself admin;
//   - A, the only admin, seals different rotated read keys to B and C.
//
// Then the legitimate counterparts work: C lowers B on a document, A drops
// an index.
func TestNoRightsBeyondTheRoleAcrossDaemons(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a, b, c := newSyncNode(t, h, "A", opts), newSyncNode(t, h, "B", opts), newSyncNode(t, h, "C", opts)
	startAll(a, b, c)
	connect(t, a, b)
	connect(t, a, c)
	connect(t, b, c)
	tid := strings.TrimSpace(a.must("threads", "create", "--variant", "acl"))
	b.join(a.invite(tid, b.id(), "write").Invite)
	c.join(a.invite(tid, c.id(), "write").Invite)
	a.must("threads", "acl", "grant", tid, c.id(), "delete")

	a.must("threads", "docs", "collection", "add", tid, "notes", "--schema", `{"properties":{"n":{"type":"number"}}}`)
	a.must("threads", "docs", "put", tid, "notes", `{"_id":"n1","n":1}`)
	a.must("threads", "docs", "index", "add", tid, "notes", "n")
	all := []*syncNode{a, b, c}
	everywhere := func(what string, check func(n *syncNode) error) {
		t.Helper()
		waitFor(t, convergeTimeout, what, func() error {
			for _, n := range all {
				if err := check(n); err != nil {
					return fmt.Errorf("%s: %w", n.name, err)
				}
			}
			return nil
		})
	}
	docIs := func(want string) func(n *syncNode) error {
		return func(n *syncNode) error {
			if got, err := n.tryRun("threads", "docs", "get", tid, "notes", "n1"); err != nil || strings.TrimSpace(got) != want {
				return fmt.Errorf("n1 is %q (%v), want %q", got, err, want)
			}
			return nil
		}
	}
	everywhere("every node to see n1", docIs(`{"_id":"n1","n":1}`))

	// B, a writer: hide n1 by a schema-breaking put, declare and drop
	// indexes.
	if out := b.mustFail("threads", "docs", "put", tid, "notes", `{"_id":"n1","n":"gone"}`); !strings.Contains(out, "schema") {
		t.Fatalf("B's schema-breaking put: %s", out)
	}
	if out := b.mustFail("threads", "docs", "index", "add", tid, "notes", "m"); !strings.Contains(out, "delete is needed") {
		t.Fatalf("B's index: %s", out)
	}
	if out := b.mustFail("threads", "docs", "index", "rm", tid, "notes", "n"); !strings.Contains(out, "delete is needed") {
		t.Fatalf("B's index drop: %s", out)
	}
	b.addEvent(tid, opsBody(t, views.Ops{Docs: []views.DocOp{
		{Kind: views.DocPut, Coll: "notes", ID: "n1", JSON: []byte(`{"_id":"n1","n":"gone"}`)},
		{Kind: views.DocIndex, Coll: "notes", Field: "m"},
		{Kind: views.DocIndexDrop, Coll: "notes", Field: "n"},
	}}))
	b.must("threads", "kv", "put", tid, "b-after", "1") // a marker: B's forced event is applied before it
	everywhere("B's forced event to be applied", func(n *syncNode) error {
		_, err := n.tryRun("threads", "kv", "get", tid, "b-after")
		return err
	})
	everywhere("n1 still visible", docIs(`{"_id":"n1","n":1}`))
	everywhere("the indexes unchanged", func(n *syncNode) error {
		if out, err := n.tryRun("threads", "docs", "collection", "ls", tid); err != nil || strings.TrimSpace(out) != "notes\tn\tschema" {
			return fmt.Errorf("collections %q (%v)", out, err)
		}
		return nil
	})

	// C, delete but not admin: raise B, lower the creator, make itself
	// admin.
	for _, args := range [][]string{
		{"threads", "docs", "acl", "grant", tid, "notes", "n1", b.id(), "delete"},
		{"threads", "docs", "acl", "grant", tid, "notes", "n1", a.id(), "none"},
		{"threads", "acl", "grant", tid, c.id(), "delete", "--admin"},
	} {
		if out := c.mustFail(args...); !strings.Contains(out, "ACL does not allow") {
			t.Fatalf("C %v: %s", args[1:4], out)
		}
	}
	if out := a.mustFail("threads", "acl", "revoke", tid, a.id()); !strings.Contains(out, "creator") {
		t.Fatalf("the creator revoking itself: %s", out)
	}
	c.addEvent(tid, opsBody(t, views.Ops{ACL: []views.ACLOp{
		{Kind: views.ACLSetDocRole, Coll: "notes", ID: "n1", Peer: b.id(), Role: views.RoleDelete, From: 1},
		{Kind: views.ACLSetDocRole, Coll: "notes", ID: "n1", Peer: a.id(), Role: views.RoleNone, From: 1},
		{Kind: views.ACLSetAdmin, Peer: c.id(), Admin: true, From: 1},
	}}))
	c.must("threads", "kv", "put", tid, "c-after", "1")
	everywhere("C's forced event to be applied", func(n *syncNode) error {
		_, err := n.tryRun("threads", "kv", "get", tid, "c-after")
		return err
	})
	// B still may not delete n1; A still may.
	if out := b.mustFail("threads", "docs", "del", tid, "notes", "n1"); !strings.Contains(out, "delete is needed") {
		t.Fatalf("B's delete after C's forced grant: %s", out)
	}
	everywhere("C not an admin, nobody raised on n1", func(n *syncNode) error {
		out, err := n.tryACL(tid)
		if err != nil {
			return err
		}
		for _, p := range out.Peers {
			if p.Peer == c.id() && strings.HasSuffix(p.Role, "*") {
				return fmt.Errorf("C is an admin: %+v", out.Peers)
			}
		}
		roles, err := n.tryRun("threads", "docs", "acl", "show", tid, "notes", "n1")
		if err != nil {
			return err
		}
		if strings.Contains(roles, b.id()+"\tdelete") || strings.Contains(roles, a.id()+"\tnone") {
			return fmt.Errorf("document roles of n1:\n%s", roles)
		}
		return nil
	})

	// What C may do: lower B on n1. B's put of n1 is then refused.
	c.must("threads", "docs", "acl", "grant", tid, "notes", "n1", b.id(), "read")
	waitFor(t, convergeTimeout, "B to see its role on n1 lowered", func() error {
		out, err := b.tryRun("threads", "docs", "acl", "show", tid, "notes", "n1")
		if err != nil || !strings.Contains(out, b.id()+"\tread") {
			return fmt.Errorf("%q %v", out, err)
		}
		return nil
	})
	if out := b.mustFail("threads", "docs", "put", tid, "notes", `{"_id":"n1","n":2}`); !strings.Contains(out, "ACL does not allow") {
		t.Fatalf("B's put of n1 after C lowered it: %s", out)
	}
	// What A may do: drop the index.
	a.must("threads", "docs", "index", "rm", tid, "notes", "n")
	everywhere("the index dropped", func(n *syncNode) error {
		if out, err := n.tryRun("threads", "docs", "collection", "ls", tid); err != nil || strings.TrimSpace(out) != "notes\t-\tschema" {
			return fmt.Errorf("collections %q (%v)", out, err)
		}
		return nil
	})

	// A, the only admin, rotates the read key with one key sealed to B and
	// another to C, committing to B's.
	k1, _ := codec.NewKey()
	k2, _ := codec.NewKey()
	seal := func(n *syncNode, k *codec.Key) []byte {
		id, _ := peer.Decode(n.id())
		s, err := threads.SealToPeer(id, k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a.addEvent(tid, opsBody(t, views.Ops{ACL: []views.ACLOp{{Kind: views.ACLRotate, Epoch: 1, Commit: views.KeyCommitment(k1.Bytes()),
		Keys: map[string][]byte{b.id(): seal(b, k1), c.id(): seal(c, k2)}}}}))
	waitFor(t, convergeTimeout, "B to take up the committed key, C to refuse the other", func() error {
		ob, err := b.tryACL(tid)
		if err != nil || ob.ReadKeys != 2 || ob.RefusedKeys != 0 {
			return fmt.Errorf("B: %+v %v", ob, err)
		}
		oc, err := c.tryACL(tid)
		if err != nil || oc.ReadKeys != 1 || oc.RefusedKeys != 1 {
			return fmt.Errorf("C: %+v %v", oc, err)
		}
		return nil
	})
}
