package commands

import (
	"bytes"
	"strings"
	"testing"

	cmds "github.com/ipfs/go-ipfs-cmds"
	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// TestTextQuotesWhatPeersChose: keys, document IDs and ACL entries come
// from other members' events; text output quotes them when they hold
// control characters, so that a writer cannot drive a reader's terminal
// (escape sequences) or forge lines.
func TestTextQuotesWhatPeersChose(t *testing.T) {
	const evil = "/x\x1b]0;owned\x07\nforged"
	root := Root(func() (iface.API, error) { return nil, ErrNoDaemon })
	get := func(path ...string) *cmds.Command {
		c := root
		for _, p := range path {
			c = c.Subcommands[p]
		}
		return c
	}
	for _, c := range []struct {
		name string
		cmd  *cmds.Command
		out  any
	}{
		{"kv ls", get("kv", "ls"), &KVEntry{Key: evil, Value: []byte("v")}},
		{"kv ls -k", get("kv", "ls"), &KVEntry{Key: evil}},
		{"kv put", get("kv", "put"), &KVEntry{Key: evil}},
		{"kv del", get("kv", "del"), &KVEntry{Key: evil}},
		{"docs put", get("docs", "put"), &DocIDs{IDs: []string{evil}}},
		{"docs del", get("docs", "del"), &DocIDs{IDs: []string{evil}}},
		{"docs listen", get("docs", "listen"), &ChangeOutput{Seq: 1, Type: "create", ID: evil}},
		{"acl show", get("acl", "show"), &ACLOutput{Peers: []ACLEntryOutput{{Peer: evil, Role: "read"}}}},
		{"docs acl show", get("docs", "acl", "show"), &DocACLOutput{Peers: []ACLEntryOutput{{Peer: evil, Role: "read"}}}},
	} {
		opts := cmds.OptMap{}
		if c.name == "kv ls -k" {
			opts["keys"] = true
		}
		var buf bytes.Buffer
		if err := c.cmd.Encoders[cmds.Text](&cmds.Request{Options: opts})(&buf).Encode(c.out); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := buf.String(); strings.ContainsAny(got, "\x1b\x07") || strings.Contains(got, "\nforged") {
			t.Errorf("%s prints a peer's string raw: %q", c.name, got)
		}
	}
}
