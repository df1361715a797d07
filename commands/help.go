package commands

import (
	"fmt"
	"sort"
	"strings"

	cmds "github.com/ipfs/go-ipfs-cmds"
)

// helpWidth is the widest line a help text may have: the CLI lays help out
// for 80 columns when it does not write to a terminal, and Kubo keeps its
// own help within them.
const helpWidth = 80

// helpIndent is what the CLI puts before every line of a help section.
const helpIndent = "  "

// helpText is a command's help: its tagline; short, the description that
// 'ipfs ... -h' prints; and for 'ipfs ... --help', short followed by more
// (what the command prints, how it fails, examples).
func helpText(tagline, short, more string) cmds.HelpText {
	return cmds.HelpText{
		Tagline:          tagline,
		ShortDescription: short,
		LongDescription:  strings.TrimRight(short, "\n") + "\n" + more,
	}
}

// helpGroup is a heading of a subcommand list and the subcommands under
// it, in the order listed.
type helpGroup struct {
	title string
	names []string
}

// subcommandList lists the subcommands of a command as Kubo's root help
// does: under headings when groups are given (subcommands no group names
// come last, under MORE), otherwise in name order; each name beside its
// tagline, wrapped within helpWidth.
func subcommandList(subs map[string]*cmds.Command, groups []helpGroup) string {
	listed := map[string]bool{}
	var all []helpGroup
	for _, g := range groups {
		var names []string
		for _, n := range g.names {
			if subs[n] != nil && !listed[n] {
				names, listed[n] = append(names, n), true
			}
		}
		all = append(all, helpGroup{g.title, names})
	}
	var rest []string
	for n := range subs {
		if !listed[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	switch {
	case len(groups) == 0:
		all = []helpGroup{{"", rest}}
	case len(rest) > 0:
		all = append(all, helpGroup{"MORE", rest})
	}

	col := 0
	for n := range subs {
		col = max(col, len(n))
	}
	col += 3
	var sb strings.Builder
	for i, g := range all {
		indent := ""
		if g.title != "" {
			if i > 0 {
				sb.WriteString("\n")
			}
			sb.WriteString(g.title + "\n")
			indent = helpIndent
		}
		for _, n := range g.names {
			prefix := fmt.Sprintf("%s%-*s", indent, col, n)
			sb.WriteString(wrapAfter(prefix, subs[n].Helptext.Tagline, helpWidth-len(helpIndent)) + "\n")
		}
	}
	return sb.String()
}

// wrapAfter writes text after prefix, wrapped at spaces within width
// columns, continuation lines indented to the end of prefix.
func wrapAfter(prefix, text string, width int) string {
	var sb strings.Builder
	sb.WriteString(prefix)
	line := len(prefix)
	for i, word := range strings.Fields(text) {
		if i > 0 && line+1+len(word) > width {
			sb.WriteString("\n" + strings.Repeat(" ", len(prefix)))
			line = len(prefix)
		} else if i > 0 {
			sb.WriteString(" ")
			line++
		}
		sb.WriteString(word)
		line += len(word)
	}
	return sb.String()
}

// minWrapWidth is the narrowest column the CLI wraps a tagline into: beside
// a longer usage line, it prints the tagline on that line, whatever its
// length.
const minWrapWidth = 30

// layoutHelp fills in the parts of the help of c, which 'ipfs <path...>'
// runs, and of every command under it, that the CLI would generate wider
// than helpWidth: the subcommand list (see subcommandList) unless c has
// one, and the usage line "ipfs <path> <arguments> - <tagline>" when the
// arguments leave the tagline too little room, which then names no
// arguments (the synopsis below it lists them).
func layoutHelp(c *cmds.Command, path []string) {
	if len(c.Subcommands) > 0 && c.Helptext.Subcommands == "" {
		c.Helptext.Subcommands = subcommandList(c.Subcommands, nil)
	}
	if c.Helptext.Usage == "" {
		name := "ipfs " + strings.Join(path, " ")
		usage := name + argumentsUsage(c.Arguments) + " - "
		room := helpWidth - len(helpIndent) - len(usage)
		if room < minWrapWidth && room < len(c.Helptext.Tagline) {
			c.Helptext.Usage = name + " - " + c.Helptext.Tagline
		}
	}
	for name, sub := range c.Subcommands {
		layoutHelp(sub, append(path[:len(path):len(path)], name))
	}
}

// argumentsUsage spells arguments as the CLI's usage line does:
// " <required> [<optional>] <variadic>...".
func argumentsUsage(args []cmds.Argument) string {
	var sb strings.Builder
	for _, a := range args {
		s := "<" + a.Name + ">"
		if !a.Required {
			s = "[" + s + "]"
		}
		if a.Variadic {
			s += "..."
		}
		sb.WriteString(" " + s)
	}
	return sb.String()
}
