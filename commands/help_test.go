package commands

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	cmds "github.com/ipfs/go-ipfs-cmds"
	"github.com/ipfs/go-ipfs-cmds/cli"
	"github.com/kubo-threads/kubo-threads/commands/iface"
)

// helpTree is `ipfs` with only `threads` under it.
func helpTree() *cmds.Command {
	return &cmds.Command{Subcommands: map[string]*cmds.Command{
		PluginName: Root(func() (iface.API, error) { return nil, ErrNoDaemon }),
	}}
}

// walkCommands calls f for c, at path, and every command under it.
func walkCommands(c *cmds.Command, path []string, f func(path []string, c *cmds.Command)) {
	f(path, c)
	for name, sub := range c.Subcommands {
		walkCommands(sub, append(path[:len(path):len(path)], name), f)
	}
}

// TestHelpFitsIn80Columns renders every command's --help and -h as the CLI
// does for a pipe, and finds no line wider than 80 columns, and no tab.
func TestHelpFitsIn80Columns(t *testing.T) {
	root := helpTree()
	renders := map[string]func(string, *cmds.Command, []string, io.Writer) error{"--help": cli.LongHelp, "-h": cli.ShortHelp}
	walkCommands(root.Subcommands[PluginName], []string{PluginName}, func(path []string, c *cmds.Command) {
		for flag, render := range renders {
			var buf bytes.Buffer
			if err := render("ipfs", root, path, &buf); err != nil {
				t.Fatalf("ipfs %s %s: %v", strings.Join(path, " "), flag, err)
			}
			for i, line := range strings.Split(buf.String(), "\n") {
				if n := utf8.RuneCountInString(line); n > helpWidth || strings.Contains(line, "\t") {
					t.Errorf("ipfs %s %s, line %d (%d columns): %q", strings.Join(path, " "), flag, i+1, n, line)
				}
			}
		}
	})
}

// TestHelpDocumentsOutputAndExample: the --help of every command that runs
// says what --enc=json prints and shows it run.
func TestHelpDocumentsOutputAndExample(t *testing.T) {
	walkCommands(helpTree().Subcommands[PluginName], []string{PluginName}, func(path []string, c *cmds.Command) {
		if c.Run == nil {
			return
		}
		name := "ipfs " + strings.Join(path, " ")
		long := c.Helptext.LongDescription
		if !strings.Contains(long, "\n  $ "+name) {
			t.Errorf("%s --help has no example running it ('  $ %s ...')", name, name)
		}
		if !strings.Contains(long, "--enc=json") {
			t.Errorf("%s --help does not say what --enc=json prints", name)
		}
		if c.Helptext.ShortDescription == "" {
			t.Errorf("%s -h has no description", name)
		}
	})
}

// TestHelpGroupsListEverySubcommand: the grouped subcommand lists name every
// subcommand under a heading of its own, and nothing else.
func TestHelpGroupsListEverySubcommand(t *testing.T) {
	root := helpTree().Subcommands[PluginName]
	for _, c := range []struct {
		name   string
		cmd    *cmds.Command
		groups []helpGroup
	}{
		{"threads", root, rootHelpGroups()},
		{"threads docs", root.Subcommands["docs"], docsHelpGroups()},
	} {
		var grouped []string
		for _, g := range c.groups {
			grouped = append(grouped, g.names...)
		}
		for name := range c.cmd.Subcommands {
			if n := strings.Count(strings.Join(grouped, " ")+" ", name+" "); !slices.Contains(grouped, name) || n > 1 {
				t.Errorf("ipfs %s --help: subcommand %s is in %d groups, want 1", c.name, name, n)
			}
		}
		for _, name := range grouped {
			if c.cmd.Subcommands[name] == nil {
				t.Errorf("ipfs %s --help lists %s, which is no subcommand", c.name, name)
			}
		}
		if strings.Contains(c.cmd.Helptext.Subcommands, "MORE") {
			t.Errorf("ipfs %s --help lists subcommands under MORE", c.name)
		}
	}
}

func TestSubcommandList(t *testing.T) {
	subs := map[string]*cmds.Command{
		"a":     {Helptext: cmds.HelpText{Tagline: "First."}},
		"bb":    {Helptext: cmds.HelpText{Tagline: strings.Repeat("word ", 20)}},
		"other": {Helptext: cmds.HelpText{Tagline: "Not grouped."}},
	}
	got := subcommandList(subs, []helpGroup{{"ONE", []string{"bb", "a", "gone"}}})
	want := "ONE\n" +
		"  bb      word word word word word word word word word word word word word\n" +
		"          word word word word word word word\n" +
		"  a       First.\n" +
		"\n" +
		"MORE\n" +
		"  other   Not grouped.\n"
	if got != want {
		t.Errorf("grouped:\n%s\nwant:\n%s", got, want)
	}
	got = subcommandList(map[string]*cmds.Command{"y": subs["a"], "x": subs["other"]}, nil)
	if want := "x   Not grouped.\ny   First.\n"; got != want {
		t.Errorf("ungrouped:\n%q\nwant:\n%q", got, want)
	}
}

func TestLayoutHelpUsage(t *testing.T) {
	args := []cmds.Argument{cmds.StringArg("thread", true, false, ""), cmds.StringArg("collection", true, false, ""),
		cmds.StringArg("id", true, false, ""), cmds.StringArg("peer", true, false, ""), cmds.StringArg("role", true, false, "")}
	long := &cmds.Command{Arguments: args, Helptext: cmds.HelpText{Tagline: "Give a peer a role on a document."}}
	short := &cmds.Command{Arguments: args[:1], Helptext: cmds.HelpText{Tagline: long.Helptext.Tagline}}
	layoutHelp(&cmds.Command{Subcommands: map[string]*cmds.Command{"long": long, "short": short}}, []string{"threads", "docs", "acl"})
	if want := "ipfs threads docs acl long - Give a peer a role on a document."; long.Helptext.Usage != want {
		t.Errorf("usage %q, want %q", long.Helptext.Usage, want)
	}
	if short.Helptext.Usage != "" {
		t.Errorf("usage %q set where the CLI's fits", short.Helptext.Usage)
	}
}
