#!/usr/bin/env bash
test_description='ipfs threads listen streams events, losslessly and in order'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'create a thread' '
	T=$(ipfs threads create) &&
	LOG=$(ipfs threads info "$T" --enc=json | jq -r .Keys.Log)
'

test_expect_success 'start a listener on the empty thread' '
	start_listener listen1.json "$T" --enc=json &&
	L1=$LISTEN_PID &&
	pid_alive "$L1"
'

test_expect_success 'add three events while it listens' '
	for i in 1 2 3; do
		echo "event $i" | ipfs threads add -q "$T" >>cids || return 1
	done &&
	test_line_count_is cids 3
'

test_expect_success 'the listener gets all three, in order, with their bodies' '
	wait_lines listen1.json 3 &&
	jq -s -c "[.[].Seq]" listen1.json >seqs &&
	echo "[1,2,3]" >seqs.want &&
	test_cmp seqs.want seqs &&
	jq -r .Cid listen1.json >cids.got &&
	test_cmp cids cids.got &&
	jq -s -e --arg log "$LOG" "all(.[]; .Log == \$log)" listen1.json &&
	for i in 1 2 3; do
		jq -r "select(.Seq == $i) | .Body" listen1.json | base64 -d >body.$i &&
		echo "event $i" >want.$i &&
		cmp want.$i body.$i || return 1
	done
'

test_expect_success 'the listener is still running (a stream, not a snapshot)' '
	pid_alive "$L1"
'

test_expect_success 'a burst of 40 events arrives complete and in order' '
	for i in $(test_seq 4 43); do
		echo "burst $i" | ipfs threads add -q "$T" >>cids || return 1
	done &&
	wait_lines listen1.json 43 &&
	jq -s -c "[.[].Seq]" listen1.json >seqs43 &&
	jq -n -c "[range(1; 44)]" >seqs43.want &&
	test_cmp seqs43.want seqs43 &&
	jq -r .Cid listen1.json >cids.got &&
	test_cmp cids cids.got
'

test_expect_success 'what listen streamed equals what log returns' '
	ipfs threads log "$T" --enc=json >log.json &&
	test_cmp log.json listen1.json
'

test_expect_success 'stop the listener' '
	stop_listener "$L1" listen1.json &&
	pid_dead "$L1"
'

test_expect_success 'listen --since 40 replays only seq 41-43, then streams' '
	start_listener since.json "$T" --enc=json --since 40 &&
	L2=$LISTEN_PID &&
	wait_lines since.json 3 &&
	echo "after since" | ipfs threads add -q "$T" >>cids &&
	wait_lines since.json 4 &&
	jq -s -c "[.[].Seq]" since.json >since.seqs &&
	echo "[41,42,43,44]" >since.want &&
	test_cmp since.want since.seqs &&
	jq -r "select(.Seq == 44) | .Body" since.json | base64 -d >b44 &&
	echo "after since" >w44 &&
	cmp w44 b44
'

test_expect_success 'listen --since N prints nothing more than that (no extra events)' '
	stop_listener "$L2" since.json &&
	test_line_count_is since.json 4
'

test_expect_success 'listen (text) prints the same lines as log (text)' '
	start_listener listen.txt "$T" &&
	L3=$LISTEN_PID &&
	wait_lines listen.txt 44 &&
	stop_listener "$L3" listen.txt &&
	ipfs threads log "$T" >log.txt &&
	test_cmp log.txt listen.txt
'

test_expect_success 'two listeners at once both get every new event' '
	start_listener a.json "$T" --enc=json --since 44 &&
	LA=$LISTEN_PID &&
	start_listener b.json "$T" --enc=json --since 44 &&
	LB=$LISTEN_PID &&
	for i in 45 46 47; do
		echo "both $i" | ipfs threads add -q "$T" || return 1
	done &&
	wait_lines a.json 3 &&
	wait_lines b.json 3 &&
	stop_listener "$LA" a.json &&
	stop_listener "$LB" b.json &&
	jq -s -c "[.[].Seq]" a.json >a.seqs &&
	jq -s -c "[.[].Seq]" b.json >b.seqs &&
	echo "[45,46,47]" >ab.want &&
	test_cmp ab.want a.seqs &&
	test_cmp ab.want b.seqs
'

test_expect_success 'a listener only gets its own thread' '
	U=$(ipfs threads create) &&
	start_listener u.json "$U" --enc=json &&
	LU=$LISTEN_PID &&
	echo "in T" | ipfs threads add -q "$T" &&
	echo "in U" | ipfs threads add -q "$U" >cu &&
	wait_lines u.json 1 &&
	stop_listener "$LU" u.json &&
	test_line_count_is u.json 1 &&
	jq -r .Cid u.json >cu.got &&
	test_cmp cu cu.got
'

test_expect_success 'listen on an unknown thread fails at once' '
	R=$(ipfs threads create) &&
	ipfs threads rm "$R" &&
	test_must_fail ipfs threads listen "$R" >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "not found"
'

test_expect_success 'listen on a malformed thread ID fails at once' '
	test_must_fail ipfs threads listen not-a-thread >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "invalid thread ID"
'

test_expect_success 'a listener ends, failing with "not found", when its thread is removed' '
	W=$(ipfs threads create) &&
	start_listener w.json "$W" --enc=json &&
	LW=$LISTEN_PID &&
	echo w1 | ipfs threads add -q "$W" &&
	wait_lines w.json 1 &&
	ipfs threads rm "$W" &&
	wait_until 10 "the listener to end" pid_dead "$LW" &&
	{ wait "$LW"; rc=$?; } &&
	lib_untrack_pid "$LW" &&
	test "$rc" != 0 &&
	test_grep_i w.json.err "not found" &&
	test_line_count_is w.json 1
'

test_expect_success 'a listener still running when the daemon shuts down ends' '
	start_listener end.json "$T" --enc=json --since 1000 &&
	LE=$LISTEN_PID &&
	echo "last" | ipfs threads add -q "$T" &&
	ipfs_stop_daemon &&
	wait_until 10 "the listener to end after shutdown" pid_dead "$LE" &&
	stop_listener "$LE"
'

test_done
