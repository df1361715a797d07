package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	cmds "github.com/ipfs/go-ipfs-cmds"

	"github.com/kubo-threads/kubo-threads/threads"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"hello world":  "hello world",
		"two\nlines":   `"two\nlines"`,
		"\"quoted\"":   `"\"quoted\""`,
		"tab\there":    `"tab\there"`,
		"\xff\xfe":     `"\xff\xfe"`,
		"ünïcödé":      "ünïcödé",
		"":             "",
		"nul\x00byte":  `"nul\x00byte"`,
		"trailing  sp": "trailing  sp",
	} {
		if got := printable([]byte(in)); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestUserErrorsAreClientErrors(t *testing.T) {
	for _, err := range []error{threads.ErrThreadNotFound, threads.ErrEventNotFound, threads.ErrEmptyBody,
		threads.ErrBodyTooLarge, threads.ErrNoReadKey, threads.ErrNotWriter, threads.ErrLogNotFound} {
		var ce cmds.Error
		if !errors.As(userError(fmt.Errorf("wrapped: %w", err)), &ce) || ce.Code != cmds.ErrClient {
			t.Errorf("%v is not a client error", err)
		}
	}
	other := errors.New("disk on fire")
	if got := userError(other); got != other {
		t.Errorf("an internal error became %v", got)
	}
}

func TestParseKey(t *testing.T) {
	k, err := parseKey("a/b")
	if err != nil || k.String() != "/a/b" {
		t.Fatalf("%v %v", k, err)
	}
	for _, bad := range []string{"", "/", "//"} {
		if _, err := parseKey(bad); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

func TestBackendWithoutDaemon(t *testing.T) {
	_, err := backend(func() *Backend { return nil }, nil)
	if err == nil || !strings.Contains(err.Error(), "ipfs daemon") {
		t.Fatalf("error without a daemon: %v", err)
	}
}
