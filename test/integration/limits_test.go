//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/kubo-threads/kubo-threads/views"
)

// blowupSchema: levels of allOf each holding two $refs to the next level,
// so that validating one value takes 2^levels schema visits.
func blowupSchema(levels int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"$ref":"#/$defs/l0","$defs":{`)
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&sb, `"l%d":{"allOf":[{"$ref":"#/$defs/l%d"},{"$ref":"#/$defs/l%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&sb, `"l%d":{"type":"object"}}}`, levels)
	return []byte(sb.String())
}

// TestViewLimitsAcrossDaemons: in an access-controlled thread, B, a member
// with the delete role running modified software, writes past the local
// checks a schema whose validation cost blows up, an event over the work
// budget and a document too large for a snapshot page. Both replicas refuse
// or skip each the same way, count it in stats, keep applying B's later
// writes, and A can still take a snapshot.
func TestViewLimitsAcrossDaemons(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a, b := newSyncNode(t, h, "A", opts), newSyncNode(t, h, "B", opts)
	startAll(a, b)
	connect(t, a, b)
	tid := strings.TrimSpace(a.must("threads", "create", "--variant", "acl"))
	b.join(a.invite(tid, b.id(), "write").Invite)
	a.must("threads", "acl", "grant", tid, b.id(), "delete")
	a.must("threads", "docs", "collection", "add", tid, "c")
	waitFor(t, convergeTimeout, "B to hold the delete role", func() error {
		out, err := b.tryACL(tid)
		for _, p := range out.Peers {
			if p.Peer == b.id() && p.Role == "delete" {
				return nil
			}
		}
		return fmt.Errorf("B's ACL: %+v %v", out, err)
	})

	// The local checks refuse each.
	if out := b.mustFail("threads", "docs", "collection", "add", tid, "c", "--schema", string(blowupSchema(24))); !strings.Contains(out, "schema visits") {
		t.Fatalf("the blow-up schema, locally: %s", out)
	}
	many := `{"_id":"many","a":[` + strings.TrimSuffix(strings.Repeat("0,", 70000), ",") + `]}`
	if res := b.runStdin([]byte(many), "threads", "docs", "put", tid, "c"); !failed(res) || !strings.Contains(describe(res), "over the work budget") {
		t.Fatalf("a document of 70,000 values, locally: %s", describe(res))
	}

	// Written past them.
	big := append([]byte(`{"_id":"big","s":"`), bytes.Repeat([]byte{0xff}, 800<<10)...)
	big = append(big, `"}`...)
	for _, ops := range []views.Ops{
		{Docs: []views.DocOp{{Kind: views.DocCollection, Coll: "c", JSON: blowupSchema(24)}}},
		{Docs: []views.DocOp{{Kind: views.DocPut, Coll: "c", ID: "many", JSON: []byte(many)}}},
		{Docs: []views.DocOp{{Kind: views.DocPut, Coll: "c", ID: "big", JSON: big}}},
	} {
		body, err := views.EncodeOps(ops)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.tryAdd(tid, body); err != nil {
			t.Fatal(err)
		}
	}
	b.must("threads", "docs", "put", tid, "c", `{"_id":"after"}`)

	want := map[string]uint64{views.RefuseSchema: 1, views.SkipTooManyValues: 1, views.RefuseDocSize: 1}
	for _, n := range []*syncNode{a, b} {
		waitFor(t, convergeTimeout, n.name+" to apply B's writes and count what it ignored", func() error {
			if _, err := n.tryRun("threads", "docs", "get", tid, "c", "after"); err != nil {
				return err
			}
			var st struct{ ViewsSkipped map[string]uint64 }
			if err := n.tryJSON(&st, "threads", "stats", tid); err != nil {
				return err
			}
			for reason, count := range want {
				if st.ViewsSkipped[reason] != count {
					return fmt.Errorf("views skipped %v, want %v", st.ViewsSkipped, want)
				}
			}
			return nil
		})
		for _, id := range []string{"many", "big"} {
			if _, err := n.tryRun("threads", "docs", "get", tid, "c", id); err == nil {
				t.Fatalf("%s: document %s was applied", n.name, id)
			}
		}
		if ls := n.must("threads", "docs", "collection", "ls", tid); !strings.Contains(ls, "no schema") {
			t.Fatalf("%s: the refused schema took effect: %s", n.name, ls)
		}
	}
	a.must("threads", "snapshot", "--create", tid)
	t.Logf("A: %s", a.must("threads", "stats", tid))
}
