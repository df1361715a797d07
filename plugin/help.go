package plugin

import (
	"fmt"
	"strings"
)

// rootHelpGroup is the group of Kubo's root help (`ipfs --help`) that lists
// the threads command, beside dag, files and block.
const rootHelpGroup = "DATA STRUCTURE COMMANDS"

// listInRootHelp adds a command to the subcommand list of Kubo's root help,
// which Kubo writes by hand: text is that list, lines of "  name  what it
// does" under group headings, each group ending at a blank line. The
// command goes last in the group titled group, its description aligned
// with the others; without such a group, into a group of its own before the
// line "Use 'ipfs <command> --help' ...", or at the end of the text when
// that is missing too. A text that already lists the command is returned as
// it is.
func listInRootHelp(text, group, name, desc string) string {
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 1 && f[0] == name && strings.HasPrefix(l, " ") {
			return text
		}
	}
	for i, l := range lines {
		if strings.TrimSpace(l) != group {
			continue
		}
		last := i
		for last+1 < len(lines) && strings.TrimSpace(lines[last+1]) != "" {
			last++
		}
		if last == i {
			break // an empty group: no column to align with
		}
		entry := alignedEntry(lines[last], name, desc)
		return strings.Join(append(lines[:last+1:last+1], append([]string{entry}, lines[last+1:]...)...), "\n")
	}
	own := []string{group, fmt.Sprintf("  %s  %s", name, desc), ""}
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "Use 'ipfs <command> --help'") {
			return strings.Join(append(lines[:i:i], append(own, lines[i:]...)...), "\n")
		}
	}
	return strings.TrimRight(text, "\n") + "\n\n" + strings.Join(own, "\n")
}

// alignedEntry is "name desc" indented as like is, with desc starting in the
// column where like's description starts (at least two spaces after name).
func alignedEntry(like, name, desc string) string {
	indent := len(like) - len(strings.TrimLeft(like, " "))
	rest := like[indent:]
	nameEnd := strings.IndexByte(rest, ' ')
	col := indent
	if nameEnd > 0 {
		col += nameEnd + len(rest[nameEnd:]) - len(strings.TrimLeft(rest[nameEnd:], " "))
	}
	col = max(col, indent+len(name)+2)
	return fmt.Sprintf("%s%-*s%s", like[:indent], col-indent, name, desc)
}
