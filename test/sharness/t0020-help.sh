#!/usr/bin/env bash
test_description='ipfs threads --help and the help of every subcommand'
. "$(dirname "$0")/lib.sh"

# Help needs neither a repo nor a daemon.

test_expect_success 'ipfs threads --help describes threads and lists every subcommand' '
	ipfs threads --help >help 2>err &&
	test_grep_i help "ipfs threads - Encrypted, multi-writer event-sourced databases" &&
	test_grep_i help "ipfs daemon" &&
	for sub in create ls info rm add log cat listen; do
		grep -Eq "^    $sub  +[A-Z]" help ||
		{ echo "subcommand $sub not listed"; return 1; }
	done
'

test_expect_success 'ipfs --help and ipfs commands list threads' '
	ipfs --help >roothelp &&
	grep -q "^    threads  *Encrypted" roothelp &&
	ipfs commands >commands &&
	grep -q "^ipfs threads$" commands &&
	for sub in create ls info rm add log cat listen; do
		grep -q "^ipfs threads $sub$" commands ||
		{ echo "ipfs commands lacks threads $sub"; return 1; }
	done
'

# sub | a phrase of its tagline | a phrase of its usage line
check_help() {
	sub=$1 tagline=$2 usage=$3
	test_expect_success "ipfs threads $sub --help describes the command" '
		ipfs threads '"$sub"' --help >help.'"$sub"' 2>err &&
		test_must_be_empty err &&
		grep -q "^  ipfs threads '"$sub"'.* - " help.'"$sub"' &&
		test_grep_i help.'"$sub"' "'"$tagline"'" &&
		test_grep_i help.'"$sub"' "'"$usage"'" &&
		grep -q "^DESCRIPTION\$" help.'"$sub"'
	'
	test_expect_success "ipfs threads $sub -h gives the short help" '
		ipfs threads '"$sub"' -h >h.'"$sub"' &&
		test_grep_i h.'"$sub"' "'"$tagline"'"
	'
}
check_help create "Create a thread" "--variant"
check_help ls "List the threads this node holds" "ipfs threads ls"
check_help info "Show a thread" "<thread>"
check_help rm "Remove a thread from this node" "<thread>"
check_help add "Append an event to a thread" "\[--quiet \| -q\]"
check_help log "List a thread's events" "--since"
check_help cat "Write an event's body to stdout" "<thread> <event>"
check_help listen "Stream a thread's events as they are appended" "--since"

test_expect_success 'every subcommand ipfs threads --help lists has a working --help' '
	sed -n "/^SUBCOMMANDS/,\$ s/^    \([a-z][a-z-]*\)  .*/\1/p" help | sort -u >subs &&
	test "$(wc -l <subs)" -ge 8 &&
	while read -r sub; do
		ipfs threads "$sub" --help >h.all 2>err || { echo "$sub --help failed"; return 1; }
		grep -q "^  ipfs threads $sub.* - [A-Z]" h.all || { echo "$sub --help has no tagline"; return 1; }
	done <subs
'

test_expect_success 'add --help documents stdin and the body limit' '
	test_grep_i help.add "stdin" &&
	test_grep_i help.add "MaxBodySize"
'

test_expect_success 'log --help documents --log, --since, --limit and --full' '
	grep -q -- "--log" help.log &&
	grep -q -- "--since" help.log &&
	grep -q -- "--limit" help.log &&
	grep -q -- "--full" help.log
'

test_expect_success 'create --help documents the raw and acl variants' '
	grep -q "raw" help.create &&
	grep -q "acl" help.create
'

test_expect_success 'an unknown subcommand fails' '
	test_must_fail ipfs threads nosuchcommand >out 2>err &&
	test -s err
'

test_done
