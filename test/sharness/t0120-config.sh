#!/usr/bin/env bash
test_description='the plugin config: Plugins.Plugins.threads.Config'
. "$(dirname "$0")/lib.sh"

# set_threads_config JSON: sets the plugin config with ipfs config.
set_threads_config() {
	ipfs config --json Plugins.Plugins.threads.Config "$1"
}

# block_size CID: size of a local block.
block_size() {
	ipfs block stat --offline "$1" | sed -n "s/^Size: //p"
}

test_init_ipfs

test_expect_success 'set MaxBodySize 100 and InlineBodySize 64 KiB' '
	set_threads_config "{\"MaxBodySize\": 100, \"InlineBodySize\": 65536}" &&
	ipfs config Plugins.Plugins.threads.Config >cfg &&
	jq -e ".MaxBodySize == 100 and .InlineBodySize == 65536" cfg
'

test_launch_daemon

test_expect_success 'MaxBodySize 100: a 100-byte body is accepted' '
	T=$(ipfs threads create) &&
	head -c 100 /dev/urandom >b100 &&
	C100=$(ipfs threads add -q "$T" b100) &&
	ipfs threads cat "$T" "$C100" >got100 &&
	cmp b100 got100
'

test_expect_success 'MaxBodySize 100: a 101-byte body is refused, naming the limit' '
	head -c 101 /dev/urandom >b101 &&
	test_must_fail ipfs threads add "$T" b101 >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "too large" &&
	test_grep_i err "100 bytes" &&
	ipfs threads log "$T" | wc -l | grep -q "^ *1\$"
'

test_kill_daemon

test_expect_success 'set MaxBodySize 1 MiB, InlineBodySize 64 KiB' '
	set_threads_config "{\"MaxBodySize\": 1048576, \"InlineBodySize\": 65536}"
'

test_launch_daemon

test_expect_success 'InlineBodySize 64 KiB: a 40000-byte body is inside the event block' '
	head -c 40000 /dev/urandom >b40k &&
	C40=$(ipfs threads add -q "$T" b40k) &&
	size=$(block_size "$C40") &&
	test "$size" -gt 40000 &&
	ipfs threads cat "$T" "$C40" >got40k &&
	cmp b40k got40k
'

test_expect_success 'InlineBodySize 64 KiB: a 70000-byte body is a block of its own' '
	head -c 70000 /dev/urandom >b70k &&
	C70=$(ipfs threads add -q "$T" b70k) &&
	size=$(block_size "$C70") &&
	test "$size" -lt 4096 &&
	ipfs threads cat "$T" "$C70" >got70k &&
	cmp b70k got70k
'

test_kill_daemon

test_expect_success 'MaxBodySize over what one block holds (16 MiB) is refused at start' '
	set_threads_config "{\"MaxBodySize\": 16777216}" &&
	ipfs_daemon_must_fail big.out &&
	test_grep_i big.out "MaxBodySize 16777216 out of range"
'

test_expect_success 'set MaxBodySize to its maximum (2 MiB less 64 bytes)' '
	set_threads_config "{\"MaxBodySize\": 2097088}"
'

test_launch_daemon

test_expect_success 'maximum MaxBodySize: a 1.9 MB body is accepted and reads back' '
	head -c 1900000 /dev/urandom >b19m &&
	C19=$(ipfs threads add -q "$T" b19m) &&
	ipfs threads cat "$T" "$C19" >got19m &&
	cmp b19m got19m
'

test_expect_success 'maximum MaxBodySize: a body of exactly the limit is accepted' '
	head -c 2097088 /dev/urandom >bmax &&
	CMAX=$(ipfs threads add -q "$T" bmax) &&
	ipfs threads cat "$T" "$CMAX" >gotmax &&
	cmp bmax gotmax
'

test_expect_success 'maximum MaxBodySize: one byte more is refused, naming the limit' '
	head -c 2097089 /dev/urandom >bover &&
	test_must_fail ipfs threads add "$T" bover 2>errover &&
	test_grep_i errover "2097088"
'

test_expect_success 'earlier events are intact' '
	ipfs threads log "$T" --enc=json >log.json &&
	jq -r .Cid log.json >cids &&
	grep -q "^$C100\$" cids &&
	grep -q "^$C40\$" cids &&
	grep -q "^$C70\$" cids &&
	grep -q "^$C19\$" cids
'

test_kill_daemon

test_expect_success 'an out-of-range MaxBodySize (0) is written by ipfs config' '
	set_threads_config "{\"MaxBodySize\": 0}" &&
	jq -e ".Plugins.Plugins.threads.Config.MaxBodySize == 0" "$IPFS_PATH/config"
'

test_expect_success 'the daemon refuses to start, saying what is wrong' '
	ipfs_daemon_must_fail bad.out &&
	test_grep_i bad.out "MaxBodySize 0 out of range" &&
	test ! -e "$IPFS_PATH/api"
'

# A bad threads config stops the daemon only: every other command, the one
# that repairs it included, still works.
test_expect_success 'ipfs config can put the bad config right again' '
	set_threads_config "{}" 2>fix.err ||
	{ cat fix.err; false; }
'

test_expect_success '(repair the config by editing the file, for the rest of the test)' '
	jq ".Plugins.Plugins.threads.Config = {}" "$IPFS_PATH/config" >config.new &&
	cp config.new "$IPFS_PATH/config" &&
	ipfs config Plugins.Plugins.threads.Config >cfg &&
	jq -e ". == {}" cfg
'

test_expect_success 'an unknown config field makes the daemon refuse to start, naming it' '
	jq ".Plugins.Plugins.threads.Config = {\"MaxBodyBytes\": 10}" "$IPFS_PATH/config" >config.new &&
	cp config.new "$IPFS_PATH/config" &&
	ipfs_daemon_must_fail bad2.out &&
	test_grep_i bad2.out "MaxBodyBytes" &&
	jq ".Plugins.Plugins.threads.Config = {}" "$IPFS_PATH/config" >config.new &&
	cp config.new "$IPFS_PATH/config"
'

test_launch_daemon

test_expect_success 'back to the defaults: data intact, 1 MiB limit again' '
	ipfs threads log "$T" --enc=json | jq -r .Cid >cids.after &&
	test_cmp cids cids.after &&
	head -c 1048577 /dev/urandom >over &&
	test_must_fail ipfs threads add "$T" over 2>err &&
	test_grep_i err "more than 1048576 bytes"
'

test_kill_daemon

test_done
