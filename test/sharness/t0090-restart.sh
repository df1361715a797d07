#!/usr/bin/env bash
test_description='threads and events survive a daemon restart'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'create threads and add events (small and large)' '
	T=$(ipfs threads create) &&
	A=$(ipfs threads create --variant acl) &&
	E=$(ipfs threads create) &&
	for i in 1 2 3 4 5; do
		echo "event $i" | ipfs threads add -q "$T" >>cids || return 1
	done &&
	head -c 204800 /dev/urandom >large &&
	ipfs threads add -q "$T" large >>cids &&
	echo "acl event" | ipfs threads add -q "$A" >acl.cid &&
	ipfs threads ls --enc=json | jq -S . >ls.before &&
	ipfs threads log "$T" >log.before &&
	ipfs threads log "$A" >acl.before &&
	ipfs threads info "$T" --enc=json | jq -S "del(.Logs[].Addrs)" >info.before &&
	ipfs threads info "$A" --enc=json | jq -S "del(.Logs[].Addrs)" >ainfo.before &&
	ipfs threads info "$E" --enc=json | jq -S "del(.Logs[].Addrs)" >einfo.before
'

test_kill_daemon

test_expect_success 'while stopped, threads commands fail with the daemon hint' '
	test_must_fail ipfs threads log "$T" 2>err &&
	test_grep_i err "ipfs daemon"
'

test_launch_daemon

test_expect_success 'after restart ls lists the same threads and event counts' '
	ipfs threads ls --enc=json | jq -S . >ls.after &&
	test_cmp ls.before ls.after
'

test_expect_success 'after restart log returns every event, unchanged' '
	ipfs threads log "$T" >log.after &&
	test_cmp log.before log.after &&
	ipfs threads log "$A" >acl.after &&
	test_cmp acl.before acl.after
'

test_expect_success 'after restart info is unchanged (keys, logs, seqs, heads)' '
	ipfs threads info "$T" --enc=json | jq -S "del(.Logs[].Addrs)" >info.after &&
	test_cmp info.before info.after &&
	ipfs threads info "$A" --enc=json | jq -S "del(.Logs[].Addrs)" >ainfo.after &&
	test_cmp ainfo.before ainfo.after &&
	ipfs threads info "$E" --enc=json | jq -S "del(.Logs[].Addrs)" >einfo.after &&
	test_cmp einfo.before einfo.after
'

test_expect_success 'after restart cat returns the large body' '
	ipfs threads cat "$T" "$(sed -n 6p cids)" >large.after &&
	cmp large large.after
'

test_expect_success 'after restart add continues at seq 7, and the empty thread at 1' '
	echo "event 7" | ipfs threads add "$T" >add7 &&
	grep -q " 7\$" add7 &&
	echo "first" | ipfs threads add "$E" >e1 &&
	grep -q " 1\$" e1
'

test_expect_success 'remove a thread before the next restart' '
	ipfs threads rm "$A"
'

test_kill_daemon
test_launch_daemon

test_expect_success 'after a second restart: 7 events, the removed thread stays removed' '
	ipfs threads log "$T" --enc=json | jq -s -e "[.[].Seq] == [1,2,3,4,5,6,7]" &&
	test_must_fail ipfs threads info "$A" 2>err &&
	test_grep_i err "not found" &&
	ipfs threads ls >ls &&
	test_line_count_is ls 2 &&
	! grep -q "^$A" ls &&
	ipfs threads log "$E" | wc -l | grep -q "^ *1\$"
'

test_expect_success 'an event added just before shutdown survives (durable on return)' '
	echo "last words" | ipfs threads add -q "$T" >last.cid &&
	ipfs_stop_daemon &&
	ipfs_start_daemon &&
	ipfs threads cat "$T" "$(cat last.cid)" >last.body &&
	echo "last words" >last.want &&
	cmp last.want last.body &&
	ipfs threads info "$T" --enc=json | jq -e ".Logs[0].Seq == 8"
'

test_expect_success 'a daemon killed with SIGKILL right after an add keeps the event' '
	echo "before kill" | ipfs threads add -q "$T" >kill.cid &&
	kill -9 "$IPFS_DAEMON_PID" &&
	wait_until 10 "the killed daemon to exit" pid_dead "$IPFS_DAEMON_PID" &&
	{ wait "$IPFS_DAEMON_PID"; true; } &&
	lib_untrack_pid "$IPFS_DAEMON_PID" &&
	IPFS_DAEMON_PID= &&
	rm -f "$IPFS_PATH/api" &&
	ipfs_start_daemon &&
	ipfs threads cat "$T" "$(cat kill.cid)" >kill.body &&
	echo "before kill" >kill.want &&
	cmp kill.want kill.body &&
	ipfs threads log "$T" --enc=json | jq -s -e "[.[].Seq] == [range(1; 10)]" &&
	echo "after kill" | ipfs threads add "$T" >add10 &&
	grep -q " 10\$" add10
'

test_kill_daemon

test_expect_success 'restart with ipfs daemon --offline' '
	ipfs_start_daemon --offline
'

test_expect_success 'offline: log, cat and add work; info lists no addresses' '
	ipfs threads log "$T" --enc=json | jq -s -e "length == 10" &&
	ipfs threads cat "$T" "$(sed -n 6p cids)" >large.offline &&
	cmp large large.offline &&
	echo "offline" | ipfs threads add "$T" >add11 &&
	grep -q " 11\$" add11 &&
	ipfs threads info "$T" --enc=json >info.offline &&
	jq -e ".Logs[0].Seq == 11 and ((.Logs[0].Addrs // []) | length == 0)" info.offline
'

test_kill_daemon
test_launch_daemon

test_expect_success 'online again: the offline event is there, addresses are back' '
	ipfs threads log "$T" --enc=json | jq -s -e "[.[].Seq] == [range(1; 12)]" &&
	ipfs threads info "$T" --enc=json | jq -e ".Logs[0].Addrs | length > 0"
'

test_kill_daemon

test_done
