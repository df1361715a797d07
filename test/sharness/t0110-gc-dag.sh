#!/usr/bin/env bash
test_description='events are IPLD blocks: dag get, block stat, pinned against repo gc'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'create two threads with small and large events' '
	T=$(ipfs threads create) &&
	U=$(ipfs threads create) &&
	for i in 1 2 3; do
		echo "event $i" | ipfs threads add -q "$T" >>cids || return 1
	done &&
	head -c 204800 /dev/urandom >large &&
	ipfs threads add -q "$T" large >>cids &&
	CL=$(tail -n1 cids) &&
	echo "in U" | ipfs threads add -q "$U" >ucids &&
	ipfs threads log "$T" >log.before
'

test_expect_success 'ipfs dag get <event> shows JSON with keys l, n, v' '
	ipfs dag get "$(head -n1 cids)" >dag.json &&
	jq -e "type == \"object\"" dag.json &&
	jq -c "keys" dag.json >keys &&
	echo "[\"l\",\"n\",\"v\"]" >keys.want &&
	test_cmp keys.want keys
'

test_expect_success 'dag get of a later event does not link the previous one (v3)' '
	ipfs dag get "$(sed -n 2p cids)" >dag2.json &&
	jq -e ".v == 3 and (.l | length) == 0" dag2.json
'

test_expect_success 'the log pin is a retention DAG listing every event by seq' '
	root=$(ipfs pin ls --type=recursive --names | grep "threads/$T/" | cut -d" " -f1) &&
	ipfs dag get "$root" >root.json &&
	jq -e ".b == 0 and .s == $(wc -l <cids)" root.json &&
	ipfs dag get "$(jq -r ".p[0][\"/\"]" root.json)" | jq -r ".e[][\"/\"]" >listed &&
	test_cmp cids listed
'

test_expect_success 'dag get of the large event works too' '
	ipfs dag get "$CL" | jq -c keys >keysL &&
	test_cmp keys.want keysL
'

test_expect_success 'ipfs block stat <event> works (offline, local)' '
	while read -r c; do
		ipfs block stat --offline "$c" >stat || return 1
		grep -q "^Key: $c\$" stat || return 1
		grep -Eq "^Size: [1-9][0-9]*\$" stat || return 1
	done <cids
'

test_expect_success 'ipfs --offline block stat works as well' '
	ipfs --offline block stat "$(head -n1 cids)" >stat2 &&
	grep -q "^Size: " stat2
'

test_expect_success 'a large body is not inline: its event block is small' '
	size=$(ipfs block stat --offline "$CL" | sed -n "s/^Size: //p") &&
	test "$size" -lt 32768
'

test_expect_success 'ipfs repo gc right after adds keeps every event' '
	ipfs repo gc >gc1.out &&
	ipfs threads log "$T" >log.gc1 &&
	test_cmp log.before log.gc1 &&
	while read -r c; do
		ipfs block stat --offline "$c" >/dev/null || return 1
	done <cids
'

test_expect_success 'after gc, cat of the large body (a block of its own) still works' '
	ipfs threads cat "$T" "$CL" >large.gc &&
	cmp large large.gc &&
	ipfs threads cat "$T" "$(head -n1 cids)" >small.gc &&
	echo "event 1" >small.want &&
	cmp small.want small.gc
'

test_expect_success 'add-then-gc at once, ten times (pin lag vs GC): nothing lost' '
	for i in $(test_seq 5 14); do
		echo "racing $i" | ipfs threads add -q "$T" >>cids || return 1
		head -c 40000 /dev/urandom >big.$i &&
		ipfs threads add -q "$T" big.$i >>cids || return 1
		ipfs repo gc >/dev/null || return 1
	done &&
	test_line_count_is cids 24 &&
	ipfs threads log "$T" --enc=json >log.race &&
	jq -s -e "[.[].Seq] == [range(1; 25)]" log.race &&
	jq -r .Cid log.race >cids.race &&
	test_cmp cids cids.race &&
	for i in $(test_seq 5 14); do
		c=$(sed -n "$(( (i - 5) * 2 + 6 ))p" cids) &&
		ipfs threads cat "$T" "$c" >got.$i &&
		cmp big.$i got.$i || return 1
	done
'

test_expect_success 'after gc, listen replays every event' '
	start_listener listen.json "$T" --enc=json &&
	LP=$LISTEN_PID &&
	wait_lines listen.json 24 &&
	stop_listener "$LP" listen.json &&
	jq -r .Cid listen.json >cids.listen &&
	test_cmp cids cids.listen
'

test_expect_success 'rm the thread, then ipfs repo gc deletes its blocks' '
	ipfs threads rm "$T" &&
	ipfs repo gc >gc2.out &&
	while read -r c; do
		test_must_fail ipfs block stat --offline "$c" 2>err || return 1
		test_grep_i err "not found" || return 1
	done <cids
'

test_expect_success 'gc reported removing those blocks (listed as raw CIDs)' '
	while read -r c; do
		r=$(ipfs cid format --mc raw -b base32 "$c") &&
		grep -q "^removed $r\$" gc2.out || { echo "gc did not list $c ($r)"; return 1; }
	done <cids
'

test_expect_success 'the other thread kept its event through both gcs' '
	c=$(cat ucids) &&
	ipfs block stat --offline "$c" >/dev/null &&
	ipfs threads cat "$U" "$c" >ubody &&
	echo "in U" >uwant &&
	cmp uwant ubody
'

test_expect_success 'events added just before SIGKILL survive restart and gc' '
	for i in 1 2 3; do
		echo "pre-kill $i" | ipfs threads add -q "$U" >>ucids || return 1
	done &&
	kill -9 "$IPFS_DAEMON_PID" &&
	wait_until 10 "the killed daemon to exit" pid_dead "$IPFS_DAEMON_PID" &&
	{ wait "$IPFS_DAEMON_PID"; true; } &&
	lib_untrack_pid "$IPFS_DAEMON_PID" &&
	rm -f "$IPFS_PATH/api" &&
	ipfs_start_daemon &&
	ipfs repo gc >/dev/null &&
	ipfs threads log "$U" --enc=json | jq -r .Cid >ucids.after &&
	test_cmp ucids ucids.after &&
	while read -r c; do
		ipfs block stat --offline "$c" >/dev/null || return 1
	done <ucids
'

test_kill_daemon

test_expect_success 'offline (no daemon), gc keeps thread blocks too' '
	ipfs repo gc >/dev/null &&
	while read -r c; do
		ipfs block stat "$c" >/dev/null || return 1
	done <ucids
'

test_launch_daemon

test_expect_success 'after the offline gc, the thread reads back whole' '
	ipfs threads log "$U" --enc=json | jq -r .Cid >ucids.final &&
	test_cmp ucids ucids.final
'

test_kill_daemon

test_done
