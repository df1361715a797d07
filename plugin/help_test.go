package plugin

import (
	"strings"
	"testing"

	kubocli "github.com/ipfs/kubo/cmd/ipfs/kubo"
	corecmds "github.com/ipfs/kubo/core/commands"
)

// TestThreadsInKuboRootHelp: `ipfs --help` (the CLI's root) and the RPC
// root list threads after block, aligned with it, once.
func TestThreadsInKuboRootHelp(t *testing.T) {
	want := "\n  block         Interact with raw blocks in the datastore\n" +
		"  threads       Encrypted, multi-writer event-sourced databases (Threads)\n"
	for name, text := range map[string]string{"cli": kubocli.Root.Helptext.Subcommands, "rpc": corecmds.Root.Helptext.Subcommands} {
		if !strings.Contains(text, want) || strings.Count(text, "  threads ") != 1 {
			t.Errorf("%s root help does not list threads after block once:\n%s", name, text)
		}
	}
}

func TestListInRootHelp(t *testing.T) {
	const kubo = `
BASIC COMMANDS
  init          Initialize local IPFS configuration

DATA STRUCTURE COMMANDS
  dag           Interact with IPLD DAG nodes
  block         Interact with raw blocks

TOOL COMMANDS
  log           Manage logs

Use 'ipfs <command> --help' to learn more about each command.
`
	for _, c := range []struct{ name, in, group, want string }{
		{"into its group", kubo, "DATA STRUCTURE COMMANDS", strings.Replace(kubo,
			"  block         Interact with raw blocks\n",
			"  block         Interact with raw blocks\n  threads       Databases\n", 1)},
		{"a long name", kubo, "BASIC COMMANDS", strings.Replace(kubo,
			"  init          Initialize local IPFS configuration\n",
			"  init          Initialize local IPFS configuration\n  threads       Databases\n", 1)},
		{"no such group", kubo, "DATABASES", strings.Replace(kubo,
			"Use 'ipfs",
			"DATABASES\n  threads  Databases\n\nUse 'ipfs", 1)},
		{"no group, no closing line", "\nA\n  a  b\n", "DATABASES", "\nA\n  a  b\n\nDATABASES\n  threads  Databases\n"},
		{"listed already", strings.Replace(kubo, "  log ", "  threads  Databases\n  log ", 1), "DATA STRUCTURE COMMANDS",
			strings.Replace(kubo, "  log ", "  threads  Databases\n  log ", 1)},
	} {
		if got := listInRootHelp(c.in, c.group, "threads", "Databases"); got != c.want {
			t.Errorf("%s:\n%s\nwant:\n%s", c.name, got, c.want)
		}
	}
}
