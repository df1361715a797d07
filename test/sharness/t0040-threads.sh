#!/usr/bin/env bash
test_description='ipfs threads create, ls, info and rm'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'ls lists nothing on a fresh node (text and json)' '
	ipfs threads ls >ls &&
	test_must_be_empty ls &&
	ipfs threads ls --enc=json >ls.json &&
	jq -e ".Threads == []" ls.json
'

test_expect_success 'create makes a raw thread by default and prints its ID' '
	ipfs threads create >create.out &&
	test_line_count_is create.out 1 &&
	T1=$(cat create.out) &&
	test -n "$T1" &&
	ipfs threads info "$T1" --enc=json >info1.json &&
	jq -e --arg id "$T1" ".ID == \$id and .Variant == \"raw\"" info1.json
'

test_expect_success 'create --variant raw makes a raw thread' '
	T2=$(ipfs threads create --variant raw) &&
	ipfs threads info "$T2" --enc=json | jq -e ".Variant == \"raw\""
'

test_expect_success 'create --variant acl makes an acl thread' '
	T3=$(ipfs threads create --variant acl) &&
	ipfs threads info "$T3" --enc=json | jq -e ".Variant == \"acl\""
'

test_expect_success 'create --enc=json prints the whole thread' '
	ipfs threads create --enc=json >create.json &&
	T4=$(jq -r .ID create.json) &&
	jq -e ".Variant == \"raw\" and .Keys.Follow and .Keys.Read and (.Keys.Log | length > 0)" create.json &&
	jq -e ".Logs | length == 1" create.json
'

test_expect_success 'every created thread ID is distinct' '
	printf "%s\n" "$T1" "$T2" "$T3" "$T4" | sort -u >ids &&
	test_line_count_is ids 4
'

test_expect_success 'create with an unknown variant fails and creates nothing' '
	test_must_fail ipfs threads create --variant bogus >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "bogus" &&
	test_grep_i err "variant" &&
	ipfs threads ls >ls &&
	test_line_count_is ls 4
'

test_expect_success 'ls (text) lists every thread: ID, variant, logs, events' '
	ipfs threads ls >ls &&
	test_line_count_is ls 4 &&
	grep -q "^$T1	raw	1 logs	0 events\$" ls &&
	grep -q "^$T2	raw	1 logs	0 events\$" ls &&
	grep -q "^$T3	acl	1 logs	0 events\$" ls &&
	grep -q "^$T4	raw	1 logs	0 events\$" ls
'

test_expect_success 'ls --enc=json lists every thread with Variant, Logs, Events' '
	ipfs threads ls --enc=json >ls.json &&
	jq -e ".Threads | length == 4" ls.json &&
	jq -r ".Threads[].ID" ls.json | sort >ids.ls &&
	test_cmp ids ids.ls &&
	jq -e --arg id "$T3" ".Threads[] | select(.ID == \$id) | .Variant == \"acl\" and .Logs == 1 and .Events == 0" ls.json &&
	jq -e --arg id "$T1" ".Threads[] | select(.ID == \$id) | .Variant == \"raw\"" ls.json
'

test_expect_success 'ls counts events once some are added' '
	echo one | ipfs threads add "$T1" &&
	echo two | ipfs threads add "$T1" &&
	ipfs threads ls >ls &&
	grep -q "^$T1	raw	1 logs	2 events\$" ls &&
	ipfs threads ls --enc=json |
	jq -e --arg id "$T1" ".Threads[] | select(.ID == \$id) | .Events == 2"
'

test_expect_success 'info --enc=json: ID, Variant, Created, Keys' '
	ipfs threads info "$T1" --enc=json >info.json &&
	jq -e --arg id "$T1" ".ID == \$id" info.json &&
	jq -e ".Variant == \"raw\"" info.json &&
	jq -e ".Created | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T\")" info.json &&
	jq -e ".Keys.Follow == true and .Keys.Read == true" info.json &&
	LOG=$(jq -r .Keys.Log info.json) &&
	test -n "$LOG" &&
	test "$LOG" != null
'

test_expect_success 'info --enc=json: Logs[] has our log with Seq, Head, Own, Addrs' '
	HEAD=$(ipfs threads log "$T1" --enc=json | jq -rs ".[-1].Cid") &&
	jq -e ".Logs | length == 1" info.json &&
	jq -e --arg log "$LOG" ".Logs[0].ID == \$log" info.json &&
	jq -e ".Logs[0].Seq == 2" info.json &&
	jq -e --arg h "$HEAD" ".Logs[0].Head == \$h" info.json &&
	jq -e ".Logs[0].Own == true" info.json &&
	jq -e ".Logs[0].Addrs | length > 0" info.json
'

test_expect_success 'info: every address is /.../p2p/<peer>/ipel/<log-id>' '
	PEER=$(ipfs id -f="<id>") &&
	jq -r ".Logs[0].Addrs[]" info.json >addrs &&
	test -s addrs &&
	while read -r a; do
		case "$a" in
		/ip4/*"/p2p/$PEER/ipel/$LOG"|/ip6/*"/p2p/$PEER/ipel/$LOG") ;;
		*) echo "bad address: $a"; return 1 ;;
		esac
	done <addrs &&
	grep -q "^/ip4/127.0.0.1/tcp/[0-9]*/p2p/$PEER/ipel/$LOG\$" addrs
'

test_expect_success 'info of a thread without events: Seq 0, no head' '
	ipfs threads info "$T2" --enc=json >info2.json &&
	jq -e ".Logs[0].Seq == 0 and .Logs[0].Head == \"\" and .Logs[0].Own" info2.json
'

test_expect_success 'info (text) shows the ID, variant, keys, log, seq, head, addrs' '
	ipfs threads info "$T1" >info.txt &&
	grep -q "^Thread: *$T1\$" info.txt &&
	grep -q "^Variant: *raw\$" info.txt &&
	grep -q "^Created: *[0-9]" info.txt &&
	grep -q "^Keys: *follow, read, log $LOG\$" info.txt &&
	grep -q "^  $LOG (own)\$" info.txt &&
	grep -q "^    seq: *2\$" info.txt &&
	grep -q "^    head: *$HEAD\$" info.txt &&
	grep -q "^    addr: .*/ipel/$LOG\$" info.txt &&
	grep -q "^Equivocations: none\$" info.txt
'

test_expect_success 'info (text) of an empty thread says head: none' '
	ipfs threads info "$T2" >info2.txt &&
	grep -q "^    seq: *0\$" info2.txt &&
	grep -q "^    head: *none\$" info2.txt
'

test_expect_success 'each thread has its own log ID' '
	for t in "$T1" "$T2" "$T3" "$T4"; do
		ipfs threads info "$t" --enc=json | jq -r .Keys.Log || return 1
	done | sort -u >logs &&
	test_line_count_is logs 4
'

test_expect_success 'rm removes a thread and says so' '
	ipfs threads rm "$T1" >rm.out &&
	grep -q "^removed $T1\$" rm.out
'

test_expect_success 'after rm, info fails with thread not found' '
	test_must_fail ipfs threads info "$T1" >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "not found"
'

test_expect_success 'after rm, ls no longer lists it but lists the others' '
	ipfs threads ls >ls &&
	test_line_count_is ls 3 &&
	! grep -q "^$T1" ls &&
	grep -q "^$T2	" ls &&
	grep -q "^$T3	" ls &&
	grep -q "^$T4	" ls
'

test_expect_success 'after rm, log, add and cat of it fail' '
	test_must_fail ipfs threads log "$T1" 2>err &&
	test_grep_i err "not found" &&
	echo three | test_must_fail ipfs threads add "$T1" 2>err &&
	test_grep_i err "not found" &&
	test_must_fail ipfs threads cat "$T1" "$HEAD" 2>err &&
	test_grep_i err "not found"
'

test_expect_success 'rm twice fails (not found)' '
	test_must_fail ipfs threads rm "$T1" 2>err &&
	test_grep_i err "not found"
'

test_expect_success 'rm rest: ls --enc=json is empty again' '
	ipfs threads rm --enc=json "$T2" >rm.json &&
	jq -e --arg id "$T2" ".Removed == \$id" rm.json &&
	ipfs threads rm "$T3" &&
	ipfs threads rm "$T4" &&
	ipfs threads ls --enc=json | jq -e ".Threads == []"
'

test_kill_daemon

test_done
