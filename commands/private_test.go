package commands

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/commands/iface"
	"github.com/kubo-threads/kubo-threads/threads"
)

func TestPrivateEventText(t *testing.T) {
	enc := func(out *EventOutput) string {
		var buf bytes.Buffer
		if err := eventTextEncoder(&cmds.Request{})(&buf).Encode(out); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	at := time.Unix(1, 0).UTC()
	// Sealed to another peer: the mark in place of the body.
	got := enc(&EventOutput{Log: "L", Seq: 2, Cid: "C", Time: at, To: "12D3KooWpeer", Private: true})
	if want := "L\t2\tC\t1970-01-01T00:00:01Z\t(private to 12D3KooWpeer)\n"; got != want {
		t.Errorf("private for another peer: %q, want %q", got, want)
	}
	// The recipient sees the body.
	got = enc(&EventOutput{Log: "L", Seq: 2, Cid: "C", Time: at, To: "12D3KooWpeer", Body: []byte("hi")})
	if !strings.HasSuffix(got, "\thi\n") {
		t.Errorf("recipient: %q", got)
	}
	// A copied private event to this node: the not-authentic mark.
	got = enc(&EventOutput{Log: "L", Seq: 2, Cid: "C", Time: at, To: "12D3KooWme", NotAuthentic: true})
	if want := "L\t2\tC\t1970-01-01T00:00:01Z\t" + notAuthenticMark + "\n"; got != want {
		t.Errorf("not authentic: %q, want %q", got, want)
	}
	// A body that looks like a mark is quoted.
	if got := printable([]byte("(private to someone)")); got != `"(private to someone)"` {
		t.Errorf("mark-like body: %s", got)
	}
	if got := printable([]byte(notAuthenticMark)); got != strconv.Quote(notAuthenticMark) {
		t.Errorf("mark-like body: %s", got)
	}
	var ce cmds.Error
	if !errors.As(userError(iface.Classify(fmt.Errorf("wrapped: %w", threads.ErrBadRecipient))), &ce) || ce.Code != cmds.ErrClient {
		t.Error("a bad recipient is not a client error")
	}
}
