package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/commands/iface/options"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

func testKV(t *testing.T, n Node) {
	ctx := testContext(t)
	kv := n.API.KV()
	tid := newThread(t, n.API)

	key, err := kv.Put(ctx, tid, "a/b", []byte("1"))
	must(t, err, "put")
	if key != "/a/b" {
		t.Errorf("put returned key %q, want /a/b", key)
	}
	_, err = kv.Put(ctx, tid, "a/c", []byte("two\nlines"))
	must(t, err, "put a/c")
	_, err = kv.Put(ctx, tid, "/ab", []byte{})
	must(t, err, "put an empty value")
	_, err = kv.Put(ctx, tid, "bin", []byte{0, 0xff, '\n'})
	must(t, err, "put a binary value")

	v, err := kv.Get(ctx, tid, "/a/b")
	must(t, err, "get")
	if string(v) != "1" {
		t.Errorf("get: %q", v)
	}
	if v, err := kv.Get(ctx, tid, "ab"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("get an empty value: %q (nil: %t), %v", v, v == nil, err)
	}
	if v, err := kv.Get(ctx, tid, "bin"); err != nil || !bytes.Equal(v, []byte{0, 0xff, '\n'}) {
		t.Errorf("get a binary value: %q, %v", v, err)
	}
	_, err = kv.Get(ctx, tid, "missing")
	wantErr(t, err, iface.ErrNotFound, nil, "get a missing key")
	_, err = kv.Put(ctx, tid, "/", []byte("x"))
	wantErr(t, err, iface.ErrBadInput, nil, "put the root key")
	_, err = kv.Get(ctx, unknownThread(t), "a")
	wantErr(t, err, iface.ErrNotFound, threads.ErrThreadNotFound, "get in an unknown thread")

	all, err := kv.List(ctx, tid)
	must(t, err, "ls")
	var keys []string
	for _, e := range all {
		keys = append(keys, e.Key)
	}
	if strings.Join(keys, " ") != "/a/b /a/c /ab /bin" || string(all[1].Value) != "two\nlines" {
		t.Errorf("ls: %+v", all)
	}
	under, err := kv.List(ctx, tid, options.KV.Prefix("/a"))
	must(t, err, "ls --prefix /a")
	if len(under) != 2 || under[0].Key != "/a/b" || under[1].Key != "/a/c" || string(under[0].Value) != "1" {
		t.Errorf("ls --prefix /a: %+v", under)
	}
	only, err := kv.List(ctx, tid, options.KV.Prefix("/a"), options.KV.KeysOnly(true))
	must(t, err, "ls -k")
	if len(only) != 2 || len(only[0].Value) != 0 {
		t.Errorf("ls -k: %+v", only)
	}

	key, err = kv.Delete(ctx, tid, "a/b")
	must(t, err, "del")
	if key != "/a/b" {
		t.Errorf("del returned key %q", key)
	}
	_, err = kv.Get(ctx, tid, "a/b")
	wantErr(t, err, iface.ErrNotFound, nil, "get a deleted key")
	_, err = kv.Delete(ctx, tid, "a/b")
	wantErr(t, err, iface.ErrNotFound, nil, "del a deleted key")
}

// people is a schema that wants a name.
const people = `{"type":"object","required":["name"]}`

func testDocs(t *testing.T, n Node) {
	ctx := testContext(t)
	docs := n.API.Docs()
	tid := newThread(t, n.API)

	c, err := docs.AddCollection(ctx, tid, "people", options.Collection.Schema([]byte(people)))
	must(t, err, "collection add")
	if c.Name != "people" || string(c.Schema) != people {
		t.Errorf("collection add: %+v", c)
	}
	_, err = docs.AddCollection(ctx, tid, "notes")
	must(t, err, "collection add without a schema")
	_, err = docs.AddCollection(ctx, tid, "bad name!")
	wantErr(t, err, iface.ErrBadInput, views.ErrBadCollection, "collection add with a bad name")
	_, err = docs.AddCollection(ctx, tid, "broken", options.Collection.Schema([]byte(`{"type": 5}`)))
	wantErr(t, err, iface.ErrBadInput, views.ErrBadSchema, "collection add with a bad schema")

	colls, err := docs.Collections(ctx, tid)
	must(t, err, "collection ls")
	if len(colls) != 2 || colls[0].Name != "notes" || colls[1].Name != "people" || colls[0].Schema != nil || string(colls[1].Schema) != people {
		t.Errorf("collection ls: %+v", colls)
	}

	ids, err := docs.Put(ctx, tid, "people", json.RawMessage(`{"_id":"ann","name":"Ann","age":31}`))
	must(t, err, "put")
	if len(ids) != 1 || ids[0] != "ann" {
		t.Errorf("put: %v", ids)
	}
	ids, err = docs.Put(ctx, tid, "people",
		json.RawMessage(`{"_id":"bob","name":"Bob","age":25}`), json.RawMessage(`{"name":"Cid","age":31}`))
	must(t, err, "put two")
	if len(ids) != 2 || ids[0] != "bob" || ids[1] == "" {
		t.Errorf("put two: %v", ids)
	}
	_, err = docs.Put(ctx, tid, "people", json.RawMessage(`{"_id":"x","age":1}`))
	wantErr(t, err, iface.ErrBadInput, views.ErrSchema, "put a document that breaks the schema")
	_, err = docs.Put(ctx, tid, "people", json.RawMessage(`[1]`))
	wantErr(t, err, iface.ErrBadInput, views.ErrBadDocument, "put a non-object")
	_, err = docs.Put(ctx, tid, "people")
	wantErr(t, err, iface.ErrBadInput, views.ErrBadDocument, "put nothing")
	_, err = docs.Put(ctx, tid, "ghosts", json.RawMessage(`{"name":"x"}`))
	wantErr(t, err, iface.ErrNotFound, views.ErrUnknownCollection, "put to an unknown collection")

	doc, err := docs.Get(ctx, tid, "people", "ann")
	must(t, err, "get")
	if string(doc) != `{"_id":"ann","age":31,"name":"Ann"}` {
		t.Errorf("get: %s", doc)
	}
	_, err = docs.Get(ctx, tid, "people", "nobody")
	wantErr(t, err, iface.ErrNotFound, views.ErrDocNotFound, "get a missing document")

	r, err := docs.Query(ctx, tid, "people", options.Query.Filter(`{"age":{"$gt":26}}`), options.Query.Sort("-age", "name"))
	must(t, err, "query")
	if got := names(t, r.Docs); got != "Ann Cid" || r.Plan != "full scan" {
		t.Errorf("query: %s (plan %q), want Ann Cid by a full scan", got, r.Plan)
	}
	r, err = docs.Query(ctx, tid, "people", options.Query.Sort("name"), options.Query.Skip(1), options.Query.Limit(1))
	must(t, err, "query --skip --limit")
	if got := names(t, r.Docs); got != "Bob" {
		t.Errorf("query --skip 1 --limit 1: %s", got)
	}
	r, err = docs.Query(ctx, tid, "notes")
	must(t, err, "query an empty collection")
	if r.Docs == nil || len(r.Docs) != 0 {
		t.Errorf("query an empty collection: %#v", r.Docs)
	}
	_, err = docs.Query(ctx, tid, "people", options.Query.Filter(`{"age":{"$near":1}}`))
	wantErr(t, err, iface.ErrBadInput, views.ErrBadQuery, "query with a bad filter")
	_, err = docs.Query(ctx, tid, "people", options.Query.Sort("a..b"))
	wantErr(t, err, iface.ErrBadInput, views.ErrBadQuery, "query with a bad sort")

	must(t, docs.AddIndex(ctx, tid, "people", "age"), "index add")
	colls, err = docs.Collections(ctx, tid)
	must(t, err, "collection ls after index add")
	if len(colls[1].Indexes) != 1 || colls[1].Indexes[0] != "age" {
		t.Errorf("indexes: %+v", colls[1])
	}
	r, err = docs.Query(ctx, tid, "people", options.Query.Filter(`{"age":31}`))
	must(t, err, "indexed query")
	if got := names(t, r.Docs); got != "Ann Cid" && got != "Cid Ann" || !strings.Contains(r.Plan, "age") {
		t.Errorf("indexed query: %s (plan %q)", got, r.Plan)
	}
	wantErr(t, docs.AddIndex(ctx, tid, "ghosts", "age"), iface.ErrNotFound, views.ErrUnknownCollection, "index add to an unknown collection")
	must(t, docs.DropIndex(ctx, tid, "people", "age"), "index rm")
	wantErr(t, docs.DropIndex(ctx, tid, "people", "age"), iface.ErrNotFound, views.ErrNoIndex, "index rm twice")

	must(t, docs.Delete(ctx, tid, "people", "bob"), "del")
	_, err = docs.Get(ctx, tid, "people", "bob")
	wantErr(t, err, iface.ErrNotFound, views.ErrDocNotFound, "get a deleted document")
	wantErr(t, docs.Delete(ctx, tid, "people", "bob"), iface.ErrNotFound, views.ErrDocNotFound, "del twice")
}

// names lists the "name" of each document.
func names(t *testing.T, docs []json.RawMessage) string {
	t.Helper()
	var out []string
	for _, d := range docs {
		var v struct{ Name string }
		must(t, json.Unmarshal(d, &v), "decode "+string(d))
		out = append(out, v.Name)
	}
	return strings.Join(out, " ")
}

func testDocsListen(t *testing.T, n Node) {
	ctx := testContext(t)
	docs := n.API.Docs()
	tid := newThread(t, n.API)
	_, err := docs.AddCollection(ctx, tid, "notes")
	must(t, err, "collection add")
	_, err = docs.AddCollection(ctx, tid, "other")
	must(t, err, "collection add")
	_, err = docs.Put(ctx, tid, "notes", json.RawMessage(`{"_id":"n1","text":"hi"}`))
	must(t, err, "put")
	_, err = docs.Put(ctx, tid, "other", json.RawMessage(`{"_id":"o1"}`))
	must(t, err, "put to another collection")

	s, err := docs.Listen(ctx, tid, "notes")
	must(t, err, "listen")
	c := mustNext(t, s)
	if c.Type != views.ChangeCreate || c.Collection != "notes" || c.ID != "n1" || string(c.Doc) != `{"_id":"n1","text":"hi"}` || !c.Event.Defined() || c.Seq == 0 {
		t.Fatalf("listen: %+v", c)
	}
	first := c.Seq
	_, err = docs.Put(ctx, tid, "notes", json.RawMessage(`{"_id":"n1","text":"bye"}`))
	must(t, err, "update")
	must(t, docs.Delete(ctx, tid, "notes", "n1"), "del")
	if c := mustNext(t, s); c.Type != views.ChangeUpdate || string(c.Doc) != `{"_id":"n1","text":"bye"}` || c.Seq <= first {
		t.Errorf("listen: update %+v", c)
	}
	last := mustNext(t, s)
	if last.Type != views.ChangeDelete || last.Doc != nil || last.ID != "n1" {
		t.Errorf("listen: delete %+v", last)
	}
	must(t, s.Close(), "close")
	if _, err := next(t, s); !errors.Is(err, io.EOF) {
		t.Errorf("next after close: %v, want io.EOF", err)
	}

	// Since: resume after a change number.
	s, err = docs.Listen(ctx, tid, "notes", options.Changes.Since(last.Seq-1))
	must(t, err, "listen --since")
	if c := mustNext(t, s); c.Seq != last.Seq || c.Type != views.ChangeDelete {
		t.Errorf("listen --since: %+v, want change %d", c, last.Seq)
	}
	must(t, s.Close(), "close")

	_, err = docs.Listen(ctx, tid, "ghosts")
	wantErr(t, err, iface.ErrNotFound, views.ErrUnknownCollection, "listen to an unknown collection")
}
