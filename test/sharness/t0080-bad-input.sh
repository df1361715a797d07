#!/usr/bin/env bash
test_description='bad input fails cleanly and loses nothing'
. "$(dirname "$0")/lib.sh"

# Each bad command must exit non-zero, print an error on stderr and nothing
# on stdout, and leave the thread as it was: every earlier event still in
# `ipfs threads log`, and the next add gets the next seq.

test_init_ipfs

test_expect_success 'make a thread and an event on another node' '
	(
		IPFS_PATH="$SHARNESS_TRASH_DIRECTORY/.ipfs-other" &&
		export IPFS_PATH &&
		ipfs init --profile=test >/dev/null 2>&1 &&
		ipfs_start_daemon &&
		{
			ipfs threads create >foreign.tid &&
			echo "foreign" | ipfs threads add -q "$(cat foreign.tid)" >foreign.cid &&
			ipfs_stop_daemon ||
			{ kill -9 "$IPFS_DAEMON_PID"; false; }
		}
	) &&
	FOREIGN_T=$(cat foreign.tid) &&
	FOREIGN_C=$(cat foreign.cid) &&
	test -n "$FOREIGN_T" && test -n "$FOREIGN_C"
'

test_launch_daemon

test_expect_success 'create a thread with three events' '
	T=$(ipfs threads create) &&
	for i in 1 2 3; do
		echo "event $i" | ipfs threads add -q "$T" >>cids || return 1
	done &&
	N=3 &&
	ipfs threads log "$T" --enc=json >log.before &&
	U=$(ipfs threads create) &&
	UC=$(echo "in U" | ipfs threads add -q "$U")
'

# intact: the thread still has exactly the events in cids, bodies included.
intact() {
	ipfs threads log "$T" --enc=json >log.now &&
	jq -r .Cid log.now >cids.now &&
	test_cmp cids cids.now &&
	jq -s -e --argjson n "$N" "[.[].Seq] == [range(1; \$n + 1)]" log.now &&
	ipfs threads info "$T" --enc=json | jq -e --argjson n "$N" ".Logs[0].Seq == \$n" >/dev/null &&
	jq -r "select(.Seq == 1) | .Body" log.now | base64 -d >b1 &&
	echo "event 1" >w1 &&
	cmp w1 b1
}

# bad WHAT PATTERN CMD...: CMD fails, prints nothing, errs matching PATTERN.
bad() {
	_pat=$1
	shift
	test_must_fail "$@" >out 2>err &&
	test_must_be_empty out &&
	test -s err &&
	test_grep_i err "$_pat"
}

test_expect_success 'the thread is intact to begin with' '
	intact
'

for tid in not-a-thread bafkqaaa "" 12D3KooWEuDpNoYBM8QfL9sGRp9YpPPPGxfxowSpZxtUF3hJGu5F QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG; do
	test_expect_success "malformed thread ID '$tid': add, log, info, cat, rm, listen fail" '
		echo body >body &&
		bad "invalid thread ID" ipfs threads add "'"$tid"'" body &&
		echo body | bad "invalid thread ID" ipfs threads add "'"$tid"'" &&
		bad "invalid thread ID" ipfs threads log "'"$tid"'" &&
		bad "invalid thread ID" ipfs threads info "'"$tid"'" &&
		bad "invalid thread ID" ipfs threads cat "'"$tid"'" "$(head -n1 cids)" &&
		bad "invalid thread ID" ipfs threads rm "'"$tid"'" &&
		bad "invalid thread ID" ipfs threads listen "'"$tid"'" &&
		intact
	'
done

test_expect_success 'removed (unknown) thread ID: add, log, info, cat, rm, listen fail' '
	R=$(ipfs threads create) &&
	ipfs threads rm "$R" &&
	echo body | bad "not found" ipfs threads add "$R" &&
	bad "not found" ipfs threads log "$R" &&
	bad "not found" ipfs threads info "$R" &&
	bad "not found" ipfs threads cat "$R" "$(head -n1 cids)" &&
	bad "not found" ipfs threads rm "$R" &&
	bad "not found" ipfs threads listen "$R" &&
	intact
'

test_expect_success "another node's thread ID: add, log, info, cat, rm fail" '
	echo body | bad "not found" ipfs threads add "$FOREIGN_T" &&
	bad "not found" ipfs threads log "$FOREIGN_T" &&
	bad "not found" ipfs threads info "$FOREIGN_T" &&
	bad "not found" ipfs threads cat "$FOREIGN_T" "$FOREIGN_C" &&
	bad "not found" ipfs threads rm "$FOREIGN_T" &&
	intact &&
	ipfs threads ls >ls &&
	test_line_count_is ls 2
'

test_expect_success 'cat of an event of another local thread fails (not found)' '
	bad "not found" ipfs threads cat "$T" "$UC" &&
	intact
'

test_expect_success "cat of another node's event fails, promptly (no network fetch)" '
	bad "not found" timeout 30 ipfs threads cat "$T" "$FOREIGN_C" &&
	intact
'

test_expect_success 'cat of a non-event CID (bafkqaaa) fails' '
	bad "not an event" ipfs threads cat "$T" bafkqaaa &&
	intact
'

test_expect_success 'cat of a stored raw block CID fails' '
	echo "just a block" | ipfs block put >raw.cid &&
	bad "not an event" ipfs threads cat "$T" "$(cat raw.cid)" &&
	intact
'

test_expect_success 'cat of a malformed CID fails' '
	bad "invalid event CID" ipfs threads cat "$T" not-a-cid &&
	bad "invalid event CID" ipfs threads cat "$T" "" &&
	intact
'

test_expect_success 'cat without the event argument fails' '
	bad "required" ipfs threads cat "$T" &&
	intact
'

test_expect_success 'add of an empty file fails' '
	: >empty &&
	bad "empty" ipfs threads add "$T" empty &&
	intact
'

test_expect_success 'add of empty stdin fails' '
	printf "" | bad "empty" ipfs threads add "$T" &&
	bad "empty" ipfs threads add "$T" </dev/null &&
	intact
'

test_expect_success 'add of a 2 MB body fails (over the 1 MiB limit)' '
	head -c 2000000 /dev/urandom >big &&
	bad "too large" ipfs threads add "$T" big &&
	intact
'

test_expect_success 'add of a 2 MB body from stdin fails' '
	bad "too large" ipfs threads add "$T" <big &&
	intact
'

test_expect_success 'add of MaxBodySize + 1 bytes fails' '
	head -c 1048577 /dev/urandom >over &&
	bad "too large" ipfs threads add "$T" over &&
	intact
'

test_expect_success 'add of a missing file fails' '
	bad "no such file" ipfs threads add "$T" does-not-exist &&
	intact
'

test_expect_success 'add of a directory fails' '
	mkdir -p dir && echo x >dir/f &&
	bad "director" ipfs threads add "$T" dir &&
	intact
'

test_expect_success 'add of two files fails' '
	echo a >fa && echo b >fb &&
	bad "argument" ipfs threads add "$T" fa fb &&
	intact
'

test_expect_success 'add without a thread fails' '
	bad "required" ipfs threads add </dev/null &&
	intact
'

test_expect_success 'add to an acl thread works; the raw thread is still intact' '
	A=$(ipfs threads create --variant acl) &&
	echo acl | ipfs threads add "$A" >a1 &&
	grep -q " 1\$" a1 &&
	intact
'

test_expect_success 'log with bad options fails' '
	bad "log ID" ipfs threads log "$T" --log garbage &&
	bad "." ipfs threads log "$T" --since=-1 &&
	bad "." ipfs threads log "$T" --since=abc &&
	bad "." ipfs threads log "$T" --limit=abc &&
	intact
'

test_expect_success 'after all that, the next add gets seq 4' '
	echo "event 4" | ipfs threads add "$T" >add4 &&
	grep -Eq "^[a-z0-9]+ 4\$" add4 &&
	cut -d" " -f1 add4 >>cids &&
	N=4 &&
	intact
'

test_expect_success 'and the other thread is untouched: one event, seq 1' '
	ipfs threads log "$U" --enc=json >ulog &&
	jq -s -e "length == 1 and .[0].Seq == 1" ulog &&
	jq -r .Cid ulog >uc &&
	echo "$UC" >uc.want &&
	test_cmp uc.want uc
'

test_kill_daemon

test_done
