#!/usr/bin/env bash
test_description='every ipfs threads command: help within 80 columns, JSON that parses, text ending in a newline, clear bad-ID errors'
. "$(dirname "$0")/lib.sh"

# The commands under test are those `ipfs commands` (Kubo's listing) names
# under `ipfs threads`: a command added later is walked too, and the walk
# fails until threads_cmd below knows how to run it.

test_expect_success 'ipfs commands lists the threads commands' '
	ipfs commands >all &&
	sed -n "s/^ipfs \(threads\( .*\)\{0,1\}\)\$/\1/p" all >cmds &&
	grep -qx "threads" cmds &&
	grep -qx "threads docs acl grant" cmds &&
	test "$(wc -l <cmds)" -ge 40
'

# help_ok CMD FLAG: `ipfs CMD FLAG` prints help, no line wider than 80
# columns, no tab; the --help of a command that runs (one without
# subcommands) shows it run in an example.
help_ok() {
	ipfs $1 $2 >help.out 2>help.err || {
		echo "ipfs $1 $2 failed:" >&2
		cat help.err >&2
		return 1
	}
	test_must_be_empty help.err &&
	awk -v c="ipfs $1 $2" '
		length($0) > 80 || /\t/ { printf "%s, line %d: %d columns: %s\n", c, NR, length($0), $0; bad = 1 }
		END { exit bad }' help.out >&2 || return 1
	if test "$2" = --help && ! grep -q "^SUBCOMMANDS" help.out; then
		grep -q "^    \\\$ ipfs $1" help.out || {
			echo "ipfs $1 --help has no example running it" >&2
			return 1
		}
	fi
}

test_expect_success 'every --help and -h fits in 80 columns; every command has an example' '
	while read -r cmd; do
		help_ok "$cmd" --help && help_ok "$cmd" -h || return 1
	done <cmds
'

test_expect_success 'ipfs threads --help groups its subcommands by purpose' '
	ipfs threads --help >threads.help &&
	for g in THREADS EVENTS SHARING VIEWS "ACCESS CONTROL" MAINTENANCE; do
		grep -qx "  $g" threads.help || { echo "no group $g"; return 1; }
	done &&
	grep -q "^    create  *Create a thread\.\$" threads.help
'

test_expect_success 'ipfs --help lists threads beside Kubo own commands' '
	ipfs --help >root.help &&
	grep -q "^    threads  *Encrypted, multi-writer" root.help &&
	{ ipfs >root.short 2>&1 || true; } &&
	grep -q "^    threads  *Encrypted, multi-writer" root.short
'

test_expect_success 'prepare: nodes A and B, connected; threads with events, keys and documents' '
	node_init A && node_init B &&
	node_start A && node_start B &&
	node_connect A B &&
	BID=$(node_id B) &&
	BADDR=$(node_addr B) &&
	T=$(ipfsn A threads create) &&
	printf "hello\n" >hello &&
	C1=$(ipfsn A threads add -q "$T" hello) &&
	head -c 3000 /dev/urandom >binary &&
	ipfsn A threads add -q "$T" binary &&
	ipfsn A threads kv put "$T" color blue &&
	ipfsn A threads docs collection add "$T" people &&
	ipfsn A threads docs put "$T" people "{\"_id\":\"ann\",\"name\":\"Ann\",\"age\":31}" &&
	TA=$(ipfsn A threads create --variant acl) &&
	ipfsn A threads docs collection add "$TA" notes &&
	ipfsn A threads docs put "$TA" notes "{\"_id\":\"n1\",\"text\":\"x\"}" &&
	TC=$(ipfsn A threads create) &&
	echo compacted | ipfsn A threads add "$TC"
'

# stream N NODE ARGS...: runs `ipfs ARGS` on node NODE (a streaming
# command) until it has printed N lines, then stops it, and prints them.
stream() {
	_n=$1 _node=$2
	shift 2
	IPFS_PATH=$(node_path "$_node") ipfs "$@" >stream.out 2>stream.err </dev/null 3>&- 4>&- 5>&- 6>&- &
	_pid=$!
	lib_track_pid "$_pid"
	wait_lines stream.out "$_n"
	_rc=$?
	stop_listener "$_pid" stream.out
	cat stream.out
	return $_rc
}

# fresh_invite: an invite for B to a new thread of A.
fresh_invite() {
	ipfsn A threads invite "$(ipfsn A threads create)" "$BID"
}

# threads_cmd ENC CMD...: runs the threads command CMD (as `ipfs commands`
# names it, without "ipfs") on the prepared threads with --enc=ENC, and
# prints what it prints. Every command must have an entry: the walks below
# fail on a command that has none (status 99). Command groups, which only
# list their subcommands, return 98. Each entry can run again.
threads_cmd() {
	_e=--enc=$1
	shift
	case "$*" in
	"threads" | "threads acl" | "threads docs" | "threads docs acl" | "threads docs collection" | \
		"threads docs index" | "threads follower" | "threads kv" | "threads view")
		return 98
		;;
	"threads create") ipfsn A threads create "$_e" ;;
	"threads ls") ipfsn A threads ls "$_e" ;;
	"threads info") ipfsn A threads info "$T" "$_e" ;;
	"threads rm") ipfsn A threads rm "$(ipfsn A threads create)" "$_e" ;;
	"threads add") echo body | ipfsn A threads add "$T" "$_e" ;;
	"threads log") ipfsn A threads log "$T" "$_e" ;;
	"threads cat") ipfsn A threads cat "$T" "$C1" "$_e" ;;
	"threads listen") stream 2 A threads listen "$T" "$_e" ;;
	"threads invite") ipfsn A threads invite "$T" "$BID" --role write "$_e" ;;
	"threads invites") ipfsn A threads invite "$T" "$BID" >/dev/null && ipfsn B threads invites "$_e" ;;
	"threads join") ipfsn B threads join "$(fresh_invite)" "$_e" ;;
	"threads addrs") ipfsn A threads addrs "$T" "$_e" ;;
	"threads follower add") ipfsn A threads follower add "$T" "$BADDR" "$_e" ;;
	"threads kv put") ipfsn A threads kv put "$T" color blue "$_e" ;;
	"threads kv get") ipfsn A threads kv get "$T" color "$_e" ;;
	"threads kv del") ipfsn A threads kv put "$T" gone x >/dev/null && ipfsn A threads kv del "$T" gone "$_e" ;;
	"threads kv ls") ipfsn A threads kv ls "$T" "$_e" ;;
	"threads docs collection add") ipfsn A threads docs collection add "$T" notes "$_e" ;;
	"threads docs collection ls") ipfsn A threads docs collection ls "$T" "$_e" ;;
	"threads docs index add") ipfsn A threads docs index add "$T" people age "$_e" ;;
	"threads docs index rm")
		ipfsn A threads docs index add "$T" people name >/dev/null &&
			ipfsn A threads docs index rm "$T" people name "$_e"
		;;
	"threads docs put") ipfsn A threads docs put "$T" people "{\"_id\":\"bob\",\"name\":\"Bob\"}" "$_e" ;;
	"threads docs get") ipfsn A threads docs get "$T" people ann "$_e" ;;
	"threads docs del")
		ipfsn A threads docs put "$T" people "{\"_id\":\"tmp\"}" >/dev/null &&
			ipfsn A threads docs del "$T" people tmp "$_e"
		;;
	"threads docs query") ipfsn A threads docs query "$T" people "{\"age\":{\"\$gt\":1}}" --explain "$_e" ;;
	"threads docs listen") stream 1 A threads docs listen "$T" people "$_e" ;;
	"threads docs acl grant") ipfsn A threads docs acl grant "$TA" notes n1 "$BID" write "$_e" ;;
	"threads docs acl show") ipfsn A threads docs acl show "$TA" notes n1 "$_e" ;;
	"threads acl show") ipfsn A threads acl show "$TA" "$_e" ;;
	"threads acl grant") ipfsn A threads acl grant "$TA" "$BID" read --admin "$_e" ;;
	"threads acl revoke") ipfsn A threads acl revoke "$TA" "$BID" "$_e" ;;
	"threads acl default") ipfsn A threads acl default "$TA" none "$_e" ;;
	"threads view rebuild") ipfsn A threads view rebuild "$T" "$_e" ;;
	"threads stats") ipfsn A threads stats "$T" "$_e" ;;
	"threads snapshot") ipfsn A threads snapshot "$T" --create "$_e" ;;
	"threads compact") ipfsn A threads snapshot "$TC" --create >/dev/null && ipfsn A threads compact "$TC" "$_e" ;;
	*) return 99 ;;
	esac
}

# run_each ENC CHECK: runs every command of cmds with threads_cmd ENC, its
# output in out.ENC, then CHECK CMD on it; fails unless it ran every
# command that runs (at least 35).
run_each() {
	_ran=0
	while read -r cmd; do
		threads_cmd "$1" $cmd >"out.$1" 2>err </dev/null
		case $? in
		98) continue ;;
		99)
			echo "threads_cmd does not know ipfs $cmd: add a valid invocation to the table" >&2
			return 1
			;;
		0) ;;
		*)
			echo "ipfs $cmd --enc=$1 failed:" >&2
			cat err >&2
			return 1
			;;
		esac
		"$2" "$cmd" || {
			echo "ipfs $cmd --enc=$1 printed:" >&2
			cat "out.$1" >&2
			return 1
		}
		_ran=$((_ran + 1))
	done <cmds &&
	echo "ran $_ran commands with --enc=$1" &&
	test "$_ran" -ge 35
}

# Commands whose output is data, written as it is: cat whatever the
# encoding, kv get in text.
json_ok() {
	case "$1" in
	"threads cat") cmp hello out.json ;;
	*) test -s out.json && jq . out.json >/dev/null ;;
	esac
}
text_ok() {
	case "$1" in
	"threads cat") cmp hello out.text ;;
	"threads kv get") test "$(cat out.text)" = blue ;;
	*) test -s out.text && test -z "$(tail -c 1 out.text)" ;;
	esac
}

test_expect_success 'every threads command prints JSON that parses with --enc=json (cat: the body)' '
	run_each json json_ok
'

test_expect_success 'every threads command prints text that ends with a newline' '
	run_each text text_ok
'

test_expect_success 'log shortens a long or binary body in text, --full prints it whole' '
	ipfsn A threads log "$T" --limit 2 >log.txt &&
	sed -n 2p log.txt | cut -f5 >preview &&
	grep -Eq "^\".*\"\\.\\.\\. \\(3000 bytes\\)\$" preview &&
	test "$(wc -c <preview)" -lt 100 &&
	ipfsn A threads log "$T" --limit 2 --full >full.txt &&
	test "$(sed -n 2p full.txt | cut -f5 | wc -c)" -gt 3000 &&
	test "$(sed -n 1p full.txt | cut -f5)" = "\"hello\\n\""
'

test_expect_success 'text output quotes keys and document IDs that hold control characters' '
	esc=$(printf "\033") &&
	ipfsn A threads kv put "$T" "/esc${esc}[2Jkey" v >put.out &&
	ipfsn A threads kv ls "$T" >ls.out &&
	ipfsn A threads docs put "$T" people "{\"_id\":\"id\\u001b[2J\"}" >docput.out &&
	! grep -q "$esc" put.out ls.out docput.out &&
	grep -qxF "\"/esc\\x1b[2Jkey\"	v" ls.out &&
	grep -qxF "\"id\\x1b[2J\"" docput.out
'

test_expect_success 'kv get --enc=json carries the value in base64' '
	ipfsn A threads kv get "$T" color --enc=json >kv.json &&
	jq -e ".Key == \"/color\"" kv.json &&
	jq -r .Value kv.json | base64 -d >kv.value &&
	test "$(cat kv.value)" = blue
'

# Every command whose first argument is a thread ID refuses a malformed one
# the same way: Kubo's error output, saying what a thread ID looks like.
test_expect_success 'a malformed thread ID says what a thread ID looks like, in every command' '
	echo x >x &&
	n=0 &&
	while read -r cmd; do
		ipfs $cmd --help >h 2>/dev/null &&
		args=$(sed -n "/^SYNOPSIS/,/^\$/p" h | tr " " "\n" | grep -x "<[a-z-]*>") || continue
		test "$(echo "$args" | head -n 1)" = "<thread>" || continue
		set -- xyz $(echo "$args" | tail -n +2 | sed "s/.*/x/")
		test_must_fail ipfsn A $cmd "$@" >out 2>err </dev/null || return 1
		test_must_be_empty out &&
		test_grep_i err "^Error: invalid thread ID \"xyz\": not a multibase string \\(want a thread ID such as bafk" &&
		test_grep_i err "ipfs threads ls" || { echo "ipfs $cmd"; return 1; }
		n=$((n + 1))
	done <cmds &&
	echo "$n commands refused the thread ID" &&
	test "$n" -ge 25
'

test_expect_success 'malformed peer IDs, log IDs and CIDs say what they look like' '
	test_must_fail ipfsn A threads invite "$T" xyz 2>err &&
	test_grep_i err "invalid peer ID \"xyz\" \\(want a peer ID such as 12D3KooW" &&
	test_must_fail ipfsn A threads log "$T" --log xyz 2>err &&
	test_grep_i err "invalid log ID \"xyz\" \\(want a log ID such as 12D3KooW" &&
	test_must_fail ipfsn A threads cat "$T" xyz 2>err &&
	test_grep_i err "invalid event CID \"xyz\" \\(want a CID such as" &&
	test_must_fail ipfsn A threads add --to xyz "$T" hello 2>err &&
	test_grep_i err "invalid --to peer ID \"xyz\""
'

test_expect_success 'stop the nodes' '
	node_stop A && node_stop B
'

test_done
