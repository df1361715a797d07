//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// privateEventOut is an event of `threads log --enc=json` with the private
// event fields.
type privateEventOut struct {
	eventOut
	To      string
	Private bool
}

func (s *syncNode) privateLog(tid string) []privateEventOut {
	s.t.Helper()
	res := s.run("threads", "log", "--enc=json", tid)
	if failed(res) {
		s.t.Fatalf("%s: threads log: %s", s.name, describe(res))
	}
	dec := json.NewDecoder(bytes.NewReader(res.Stdout.Bytes()))
	var evs []privateEventOut
	for {
		var e privateEventOut
		if err := dec.Decode(&e); err == io.EOF {
			return evs
		} else if err != nil {
			s.t.Fatalf("%s: threads log: decode JSON: %s", s.name, err)
		}
		evs = append(evs, e)
	}
}

func (s *syncNode) addTo(tid, to string, body []byte) addOut {
	s.t.Helper()
	var a addOut
	res := s.runStdin(body, "threads", "add", "--enc=json", "--to", to, tid)
	if failed(res) {
		s.t.Fatalf("%s: threads add --to %s: %s", s.name, to, describe(res))
	}
	if err := json.Unmarshal(res.Stdout.Bytes(), &a); err != nil || a.Cid == "" {
		s.t.Fatalf("%s: threads add --to: bad output %q (%v)", s.name, res.Stdout.String(), err)
	}
	return a
}

// TestPrivateEvents: three daemons, all writers of a thread. A seals an
// event to B, C one to A. Every member holds and lists both; each recipient
// reads its body with cat; the others (the sender among them) see the
// recipient and get a client error from cat.
func TestPrivateEvents(t *testing.T) {
	h := newCluster(t)
	a := newSyncNode(t, h, "A", syncOpts{antiEntropy: "1s"})
	b := newSyncNode(t, h, "B", syncOpts{antiEntropy: "1s"})
	c := newSyncNode(t, h, "C", syncOpts{antiEntropy: "1s"})
	startAll(a, b, c)
	connect(t, a, b)
	connect(t, a, c)
	connect(t, b, c)
	tid, logA, _, _, _ := shareWriter(t, a, b, 1, "public %d")
	logC := joinDelivered(t, a, c, tid, a.invite(tid, c.id(), "write"), true).Keys.Log
	waitLogAt(t, c, tid, logA, 1)

	toB := a.addTo(tid, b.id(), []byte("from A, for B only"))
	toA := c.addTo(tid, a.id(), []byte("from C, for A only"))
	nodes := []*syncNode{a, b, c}
	for _, n := range nodes {
		waitLogAt(t, n, tid, logA, 2)
		waitLogAt(t, n, tid, logC, 1)
	}

	private := map[string]struct {
		ev        addOut
		to        *syncNode
		body      string
		recipient string
	}{
		toB.Cid: {toB, b, "from A, for B only", b.id()},
		toA.Cid: {toA, a, "from C, for A only", a.id()},
	}
	for _, n := range nodes {
		evs := n.privateLog(tid)
		if len(evs) != 3 {
			t.Fatalf("%s lists %d events, want 3", n.name, len(evs))
		}
		seen := 0
		for _, e := range evs {
			p, ok := private[e.Cid]
			if !ok {
				if e.To != "" || e.Private || string(e.Body) != "public 0" {
					t.Errorf("%s: ordinary event %s: %+v", n.name, e.Cid, e)
				}
				continue
			}
			seen++
			mine := p.to == n
			if e.To != p.recipient || e.Private == mine || e.Time.IsZero() {
				t.Errorf("%s: private event %s: To %s, Private %v, time %v", n.name, e.Cid, e.To, e.Private, e.Time)
			}
			if mine && string(e.Body) != p.body || !mine && e.Body != nil {
				t.Errorf("%s: private event %s: body %q", n.name, e.Cid, e.Body)
			}
			res := n.run("threads", "cat", tid, e.Cid)
			if mine {
				if failed(res) || res.Stdout.String() != p.body {
					t.Errorf("%s: cat of its private event: %s", n.name, describe(res))
				}
				continue
			}
			if !failed(res) || res.Stdout.String() != "" || !strings.Contains(res.Stderr.String(), fmt.Sprintf("private to %s", p.recipient)) {
				t.Errorf("%s: cat of another's private event: %s", n.name, describe(res))
			}
		}
		if seen != 2 {
			t.Errorf("%s lists %d of the 2 private events", n.name, seen)
		}
	}
}
