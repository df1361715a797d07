//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRPC: the threads commands on the RPC API: create, add with a
// multipart body, log; errors are 4xx/5xx with a clear JSON message, and the
// daemon keeps serving.
func TestRPC(t *testing.T) {
	n := newNode(t, nil)
	n.start()
	api := n.APIURL()
	client := &http.Client{Timeout: 30 * time.Second}
	ctx := context.Background()

	post := func(path string, file []byte) (int, []byte) {
		t.Helper()
		status, body, err := rpcPost(ctx, client, api, path, file)
		if err != nil {
			t.Fatalf("POST %s: %s", path, err)
		}
		return status, body
	}
	decode := func(path string, body []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("POST %s: decode %q: %s", path, body, err)
		}
	}
	wantError := func(path string, file []byte, wantInMessage string) {
		t.Helper()
		status, body := post(path, file)
		if status < 400 || status > 599 {
			t.Fatalf("POST %s: status %d, want 4xx or 5xx; body %q", path, status, body)
		}
		var e rpcError
		decode(path, body, &e)
		if e.Type != "error" || !strings.Contains(e.Message, wantInMessage) {
			t.Fatalf("POST %s: status %d, error %+v; want a message containing %q", path, status, e, wantInMessage)
		}
		t.Logf("POST %s -> %d %q", path, status, e.Message)
	}

	// create
	status, body := post("threads/create", nil)
	if status != http.StatusOK {
		t.Fatalf("create: status %d body %q", status, body)
	}
	var th threadOut
	decode("threads/create", body, &th)
	if th.ID == "" || th.Keys.Log == "" || th.Variant != "raw" {
		t.Fatalf("create: %+v, want an ID, an own log and variant raw", th)
	}
	tid := url.QueryEscape(th.ID)

	// add, twice
	var adds []addOut
	for _, b := range []string{"rpc body one", "rpc body two"} {
		status, body = post("threads/add?arg="+tid, []byte(b))
		if status != http.StatusOK {
			t.Fatalf("add: status %d body %q", status, body)
		}
		var a addOut
		decode("threads/add", body, &a)
		if a.Cid == "" || a.Seq != uint64(len(adds)+1) || a.Log != th.Keys.Log {
			t.Fatalf("add %q: %+v, want seq %d in log %s", b, a, len(adds)+1, th.Keys.Log)
		}
		adds = append(adds, a)
	}

	// log (a stream of JSON events, bodies base64)
	status, body = post("threads/log?arg="+tid, nil)
	if status != http.StatusOK {
		t.Fatalf("log: status %d body %q", status, body)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var evs []eventOut
	for {
		var e eventOut
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("log: decode %q: %s", body, err)
		}
		evs = append(evs, e)
	}
	if len(evs) != 2 || evs[0].Cid != adds[0].Cid || string(evs[0].Body) != "rpc body one" ||
		evs[1].Cid != adds[1].Cid || string(evs[1].Body) != "rpc body two" {
		t.Fatalf("log: %+v, want the two added events", evs)
	}

	// Errors.
	wantError("threads/info?arg=not-a-thread-id", nil, "invalid thread ID")
	wantError("threads/info?arg=", nil, "")
	wantError("threads/add?arg=zzzz", []byte("x"), "invalid thread ID")
	wantError("threads/add?arg="+tid, []byte{}, "empty")
	wantError("threads/cat?arg="+tid+"&arg=not-a-cid", nil, "invalid event CID")

	// A well-formed ID of a thread this node does not hold.
	status, body = post("threads/create", nil)
	var gone threadOut
	decode("threads/create", body, &gone)
	if status, body = post("threads/rm?arg="+url.QueryEscape(gone.ID), nil); status != http.StatusOK {
		t.Fatalf("rm: status %d body %q", status, body)
	}
	wantError("threads/info?arg="+url.QueryEscape(gone.ID), nil, "thread not found")
	wantError("threads/add?arg="+url.QueryEscape(gone.ID), []byte("x"), "thread not found")

	// The daemon still serves, RPC and CLI alike.
	status, body = post("threads/info?arg="+tid, nil)
	if status != http.StatusOK {
		t.Fatalf("info after errors: status %d body %q", status, body)
	}
	var in threadOut
	decode("threads/info", body, &in)
	if len(in.Logs) != 1 || in.Logs[0].Head != adds[1].Cid || in.Logs[0].Seq != 2 {
		t.Fatalf("info after errors: %+v, want head %s seq 2", in.Logs, adds[1].Cid)
	}
	if a := n.addEvent(th.ID, []byte("cli after rpc errors")); a.Seq != 3 {
		t.Fatalf("add after errors: seq %d, want 3", a.Seq)
	}
	n.stop()
}
