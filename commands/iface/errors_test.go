package iface

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// TestErrorsCrossByMessage: every sentinel error of the API, wrapped as the
// engine wraps it, is classified in process, and read back from its message
// alone (as it crosses the RPC API) with the same sentinel and kind.
func TestErrorsCrossByMessage(t *testing.T) {
	for _, k := range known {
		local := Classify(fmt.Errorf("do something with bafk...: %w: detail", k.err))
		if !errors.Is(local, k.err) || !errors.Is(local, k.kind) || Kind(local) != k.kind {
			t.Errorf("%q in process: kind %v, want %v", k.err, Kind(local), k.kind)
		}
		remote := ParseError(local.Error(), true)
		if remote.Error() != local.Error() {
			t.Errorf("%q: message %q, want %q", k.err, remote, local)
		}
		if !errors.Is(remote, k.err) || Kind(remote) != k.kind {
			t.Errorf("%q over RPC: kind %v, sentinel kept: %t", k.err, Kind(remote), errors.Is(remote, k.err))
		}
	}
}

// TestKnownErrorsAreDistinct: no sentinel's message holds another's, or
// ParseError would name both.
func TestKnownErrorsAreDistinct(t *testing.T) {
	for i, a := range known {
		for j, b := range known {
			if i != j && strings.Contains(a.err.Error(), b.err.Error()) {
				t.Errorf("%q holds %q", a.err, b.err)
			}
		}
	}
}

func TestParseErrorWithoutSentinel(t *testing.T) {
	for _, c := range []struct {
		msg     string
		callers bool
		kind    error
	}{
		{"key /color not found", true, ErrNotFound},
		{`invalid key "": keys must name something`, true, ErrBadInput},
		{"disk on fire", false, nil},
		{"views of bafk...: a rebuild is already running", false, nil},
	} {
		if got := Kind(ParseError(c.msg, c.callers)); got != c.kind {
			t.Errorf("%q (caller's: %t): kind %v, want %v", c.msg, c.callers, got, c.kind)
		}
	}
}

func TestClassify(t *testing.T) {
	if Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
	other := errors.New("disk on fire")
	if got := Classify(other); got != other || Kind(got) != nil {
		t.Errorf("an error of no kind became %v", got)
	}
	// An error that wraps two sentinels takes the first one's kind in the
	// table, and keeps both.
	both := Classify(fmt.Errorf("%w: %w", threads.ErrThreadNotFound, views.ErrForbidden))
	if !errors.Is(both, ErrNotFound) || !errors.Is(both, views.ErrForbidden) {
		t.Errorf("two sentinels: %v", both)
	}
	bad := BadInput("invalid %s", "thing")
	if bad.Error() != "invalid thing" || !errors.Is(bad, ErrBadInput) || Classify(bad) != bad {
		t.Errorf("BadInput: %v", bad)
	}
	if m := MarkBadInput(other); !errors.Is(m, ErrBadInput) || m.Error() != other.Error() || !errors.Is(m, other) {
		t.Errorf("MarkBadInput: %v", m)
	}
}
