package codec

import (
	"errors"
	"fmt"
	"testing"
)

func TestSnapshotIsDeterministicAndOpens(t *testing.T) {
	read, _ := NewKey()
	thread := []byte("thread")
	var entries []SnapshotEntry
	for i := 0; i < 20000; i++ {
		entries = append(entries, SnapshotEntry{Key: fmt.Sprintf("/kv/%06d", i), Value: []byte(fmt.Sprintf("value %d", i))})
	}
	meta := SnapshotMeta{Thread: thread, Cursor: []SnapshotCursor{{Log: []byte("b"), Seq: 2, Cid: []byte("x")}, {Log: []byte("a"), Seq: 1, Cid: []byte("y")}}}
	root, pages, err := SealSnapshot(read, meta, entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 2 {
		t.Fatalf("%d pages", len(pages))
	}
	// Same state, entries in another order: same CIDs.
	shuffled := append([]SnapshotEntry(nil), entries...)
	for i, j := 0, len(shuffled)-1; i < j; i, j = i+1, j-1 {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	meta2 := SnapshotMeta{Thread: thread, Cursor: []SnapshotCursor{meta.Cursor[1], meta.Cursor[0]}}
	root2, _, err := SealSnapshot(read, meta2, shuffled)
	if err != nil || !root2.Cid().Equals(root.Cid()) {
		t.Fatalf("not deterministic: %s vs %s (%v)", root.Cid(), root2.Cid(), err)
	}
	got, links, err := OpenSnapshotRoot(read, thread, root)
	if err != nil || got.Entries != 20000 || len(links) != len(pages) || string(got.Cursor[0].Log) != "a" {
		t.Fatalf("open root: %+v %v", got, err)
	}
	n := 0
	for i, p := range pages {
		es, err := OpenSnapshotPage(read, thread, i, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Key != entries[n].Key {
				t.Fatalf("entry %d: %s", n, e.Key)
			}
			n++
		}
	}
	// Another key, another thread, a page in the wrong place: refused.
	other, _ := NewKey()
	if _, _, err := OpenSnapshotRoot(other, thread, root); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("other key: %v", err)
	}
	if _, _, err := OpenSnapshotRoot(read, []byte("other"), root); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("other thread: %v", err)
	}
	if _, err := OpenSnapshotPage(read, thread, 1, pages[0]); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("moved page: %v", err)
	}
}
