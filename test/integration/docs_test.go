//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// queryOut is `threads docs query --enc=json`.
type queryOut struct {
	Docs []json.RawMessage
	Plan string
}

// tryRun runs an ipfs command and returns its stdout, or an error.
func (n *node) tryRun(args ...string) (string, error) {
	res := n.run(args...)
	if failed(res) {
		return "", errors.New(describe(res))
	}
	return res.Stdout.String(), nil
}

func (n *node) tryQuery(tid, coll, filter string, extra ...string) (queryOut, error) {
	var q queryOut
	args := append([]string{"threads", "docs", "query", tid, coll, filter}, extra...)
	return q, n.tryJSON(&q, args...)
}

// TestDocsAcrossTwoDaemons writes documents on two real daemons at once
// (including concurrent writes to the same document), and checks that both
// return the same results for the same queries, through an index and
// through a full scan, and that both enforce the schema declared in the
// thread.
func TestDocsAcrossTwoDaemons(t *testing.T) {
	h := newCluster(t)
	opts := syncOpts{pubsub: true, antiEntropy: "1s"}
	a, b := newSyncNode(t, h, "A", opts), newSyncNode(t, h, "B", opts)
	startAll(a, b)
	connect(t, a, b)
	tid, _, _, _, _ := shareWriter(t, a, b, 1, "seed %d")

	schema := `{"type":"object","required":["n"],"properties":{"n":{"type":"integer"},"by":{"type":"string"}}}`
	a.must("threads", "docs", "collection", "add", tid, "items", "--schema", schema)
	waitFor(t, convergeTimeout, "B to see the collection", func() error {
		out, err := b.tryRun("threads", "docs", "collection", "ls", tid)
		if err != nil || !strings.Contains(out, "items") {
			return fmt.Errorf("B's collections: %q %v", out, err)
		}
		return nil
	})
	// B indexes the collection: the declaration travels to A.
	b.must("threads", "docs", "index", "add", tid, "items", "n")

	const perNode = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode+2)
	for _, w := range []*syncNode{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perNode {
				doc := fmt.Sprintf(`{"_id":"%s-%02d","n":%d,"by":%q}`, w.name, i, i%10, w.name)
				if _, err := w.tryRun("threads", "docs", "put", tid, "items", doc); err != nil {
					errs <- fmt.Errorf("%s put %d: %w", w.name, i, err)
					return
				}
			}
			// Both write the same document at the end.
			if _, err := w.tryRun("threads", "docs", "put", tid, "items", fmt.Sprintf(`{"_id":"shared","n":99,"by":%q}`, w.name)); err != nil {
				errs <- err
			}
		}()
	}
	waitGroup(t, &wg, convergeTimeout*2, "concurrent puts")
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A deletes one of B's documents, B replaces one of A's.
	waitFor(t, convergeTimeout, "A to have B's documents", func() error {
		_, err := a.tryRun("threads", "docs", "get", tid, "items", fmt.Sprintf("B-%02d", perNode-1))
		return err
	})
	a.must("threads", "docs", "del", tid, "items", "B-00")
	b.must("threads", "docs", "put", tid, "items", `{"_id":"A-01","n":1,"by":"B again"}`)

	// Now: A-00..39 and B-01..39 with n = i%10, A-01 by "B again", and
	// "shared" with n = 99.
	queries := []struct {
		filter string
		extra  []string
		want   int
		plan   string
	}{
		{`{}`, []string{"--sort=-n", "--sort=_id"}, 2 * perNode, "full scan"},
		{`{"n":3}`, nil, 8, "index n $eq"},
		{`{"n":{"$ge":8}}`, []string{"--sort=_id"}, 17, "index n range"},
		{`{"by":"B"}`, []string{"--limit=5"}, 5, "full scan"},
		{`{"$or":[{"n":1},{"by":"B again"}]}`, nil, 8, "full scan"},
	}
	waitFor(t, convergeTimeout, "the same query results on A and B", func() error {
		for _, q := range queries {
			ra, err := a.tryQuery(tid, "items", q.filter, q.extra...)
			if err != nil {
				return err
			}
			rb, err := b.tryQuery(tid, "items", q.filter, q.extra...)
			if err != nil {
				return err
			}
			if len(ra.Docs) != q.want || ra.Plan != q.plan || rb.Plan != q.plan {
				return fmt.Errorf("%s: A found %d (%s), B %d (%s), want %d (%s)", q.filter, len(ra.Docs), ra.Plan, len(rb.Docs), rb.Plan, q.want, q.plan)
			}
			if fmt.Sprint(ra.Docs) != fmt.Sprint(rb.Docs) {
				return fmt.Errorf("%s: A and B differ:\n%s\n%s", q.filter, ra.Docs, rb.Docs)
			}
		}
		return nil
	})
	shared := map[string]string{}
	for _, n := range []*syncNode{a, b} {
		shared[n.name] = n.must("threads", "docs", "get", tid, "items", "shared")
	}
	if shared["A"] != shared["B"] {
		t.Fatalf("concurrent writes to one document resolved differently: A %s, B %s", shared["A"], shared["B"])
	}
	t.Logf("concurrent writes to one document: both hold %s", shared["A"])

	// Both refuse a document that breaks the schema, with the error.
	for _, n := range []*syncNode{a, b} {
		out := n.mustFail("threads", "docs", "put", tid, "items", `{"_id":"bad","n":"not a number"}`)
		if !strings.Contains(out, "schema") {
			t.Fatalf("%s: schema violation error: %s", n.name, out)
		}
	}
}
