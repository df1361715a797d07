#!/usr/bin/env bash
test_description='appends are durable on every datastore layout: the daemon says how it makes blocks durable'
. "$(dirname "$0")/lib.sh"

# start_logged: starts the daemon with the threads log at info level.
start_logged() {
	GOLOG_LOG_LEVEL=threads=info && export GOLOG_LOG_LEVEL &&
	ipfs_start_daemon
	_rc=$?
	unset GOLOG_LOG_LEVEL
	return $_rc
}

test_init_ipfs

test_expect_success 'the default repo keeps blocks on flatfs without sync' '
	ipfs config --json Datastore.Spec.mounts >mounts &&
	jq -e ".[] | select(.mountpoint == \"/blocks\") | (.child // .) | .type == \"flatfs\" and .sync == false" mounts
'

test_expect_success 'start the daemon (threads log at info)' '
	start_logged
'

test_expect_success 'on flatfs without sync the engine journals blocks and fsyncs their files itself' '
	grep "blocks on flatfs without sync: the engine journals each event.s blocks with its head and fsyncs their files" "$IPFS_DAEMON_OUT"
'

test_expect_success 'appends of small and large bodies are acknowledged and read back' '
	T=$(ipfs threads create) &&
	echo small | ipfs threads add -q "$T" >cids &&
	head -c 204800 /dev/urandom >large &&
	ipfs threads add -q "$T" large >>cids &&
	C=$(tail -1 cids) &&
	ipfs threads cat "$T" "$C" >got &&
	cmp large got
'

test_kill_daemon

test_expect_success 'restart the daemon (threads log at info)' '
	start_logged
'

test_expect_success 'after a clean stop nothing is restored, and the events read back' '
	test_must_fail grep "restored .* blocks from the block journal" "$IPFS_DAEMON_OUT" &&
	ipfs threads log "$T" --enc=json | jq -s length >n &&
	test "$(cat n)" = 2 &&
	ipfs threads cat "$T" "$C" >got2 &&
	cmp large got2
'

test_kill_daemon

test_expect_success 'a pebbleds repo: one store for blocks and state' '
	rm -rf "$IPFS_PATH" &&
	ipfs init --profile=test,pebbleds >init.out 2>&1
'

test_expect_success 'start the daemon on pebbleds (threads log at info)' '
	start_logged
'

test_expect_success 'on pebbleds the head commit syncs the blocks too' '
	grep "blocks and state share one pebbleds datastore" "$IPFS_DAEMON_OUT" &&
	T=$(ipfs threads create) &&
	echo small | ipfs threads add -q "$T"
'

test_kill_daemon

test_done
