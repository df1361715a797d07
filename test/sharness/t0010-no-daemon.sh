#!/usr/bin/env bash
test_description='ipfs threads without a running daemon says to start one'
. "$(dirname "$0")/lib.sh"

test_init_ipfs

test_expect_success 'no daemon is running' '
	test ! -e "$IPFS_PATH/api"
'

# Every command needs the daemon; none of them may succeed without it, and
# each must say what to do.
test_expect_success 'ipfs threads ls fails and says to start ipfs daemon' '
	test_must_fail ipfs threads ls >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "ipfs daemon"
'

test_expect_success 'ipfs threads create fails and says to start ipfs daemon' '
	test_must_fail ipfs threads create >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "ipfs daemon"
'

test_expect_success 'ipfs threads create --variant acl fails and says to start ipfs daemon' '
	test_must_fail ipfs threads create --variant acl 2>err &&
	test_grep_i err "ipfs daemon"
'

test_expect_success 'ipfs threads add (file) fails and says to start ipfs daemon' '
	echo hello >body &&
	test_must_fail ipfs threads add bafkqaaa body >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "ipfs daemon"
'

test_expect_success 'ipfs threads add (stdin) fails and says to start ipfs daemon' '
	echo hello | test_must_fail ipfs threads add bafkqaaa >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "ipfs daemon"
'

for cmd in "info x" "rm x" "log x" "cat x y" "listen x"; do
	test_expect_success "ipfs threads $cmd fails and says to start ipfs daemon" '
		test_must_fail ipfs threads '"$cmd"' >out 2>err &&
		test_must_be_empty out &&
		test_grep_i err "ipfs daemon"
	'
done

# The same commands work once the daemon runs: the failures above were the
# missing daemon, nothing else.
test_launch_daemon

test_expect_success 'with the daemon, ipfs threads ls and create succeed' '
	ipfs threads ls >out 2>err &&
	test_must_be_empty err &&
	tid=$(ipfs threads create) &&
	ipfs threads ls >out &&
	grep -q "^$tid	" out
'

test_kill_daemon

test_expect_success 'after shutdown, ipfs threads ls fails again with the hint' '
	test_must_fail ipfs threads ls 2>err &&
	test_grep_i err "ipfs daemon"
'

test_done
