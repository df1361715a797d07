// Command attacker plays a hostile party against real daemons of bin/ipfs,
// for the trust-model tests in test/integration and test/sharness: a peer
// that holds what its role gives it (an invite it was sent) and uses it in
// bad faith over the sync protocol.
//
//	attacker <attack> [flags]
//
// Each attack lives in a file of its own and registers itself in init, so
// adding one touches nothing else. Attacks print what they did on stdout
// and exit non-zero when they could not carry the attack out (which is not
// the same as the attack failing against the daemon: the tests judge that
// by looking at the daemon afterwards).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
)

// attack is one hostile behaviour.
type attack struct {
	usage string
	run   func(ctx context.Context, args []string) error
}

var attacks = map[string]attack{}

// register adds an attack; called from init in the attack's file.
func register(name, usage string, run func(ctx context.Context, args []string) error) {
	if _, dup := attacks[name]; dup {
		panic("attacker: attack registered twice: " + name)
	}
	attacks[name] = attack{usage: usage, run: run}
}

func main() {
	if len(os.Args) < 2 || attacks[os.Args[1]].run == nil {
		fmt.Fprintln(os.Stderr, "usage: attacker <attack> [flags]\n\nattacks:")
		names := make([]string, 0, len(attacks))
		for n := range attacks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "  %-16s %s\n", n, attacks[n].usage)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := attacks[os.Args[1]].run(ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "attacker %s: %s\n", os.Args[1], err)
		os.Exit(1)
	}
}
