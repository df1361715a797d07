#!/usr/bin/env bash
test_description='ipfs threads with the plugin disabled in the config'
. "$(dirname "$0")/lib.sh"

test_init_ipfs

test_expect_success 'disable the threads plugin' '
	ipfs config --json Plugins.Plugins.threads.Disabled true &&
	test "$(ipfs config Plugins.Plugins.threads.Disabled)" = true
'

test_launch_daemon

test_expect_success 'the daemon runs (ipfs id works)' '
	ipfs id >id.json &&
	jq -e ".ID | length > 0" id.json
'

test_expect_success 'ipfs threads ls fails and says threads is disabled' '
	test_must_fail ipfs threads ls >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "disabled" &&
	test_grep_i err "Plugins.Plugins.threads.Disabled"
'

test_expect_success 'ipfs threads create fails and says threads is disabled' '
	test_must_fail ipfs threads create >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "disabled"
'

test_expect_success 'ipfs threads add fails and says threads is disabled' '
	echo hi | test_must_fail ipfs threads add bafkqaaa >out 2>err &&
	test_must_be_empty out &&
	test_grep_i err "disabled"
'

test_expect_success 'the RPC API refuses too (non-200, disabled)' '
	hp=$(api_hostport) &&
	code=$(curl -s -o rpc.out -w "%{http_code}" -X POST "http://$hp/api/v0/threads/ls") &&
	test "$code" != 200 &&
	test_grep_i rpc.out "disabled"
'

test_kill_daemon

test_expect_success 'without the daemon, a disabled plugin still says disabled' '
	test_must_fail ipfs threads ls 2>err &&
	test_grep_i err "disabled"
'

test_expect_success 're-enable the threads plugin' '
	ipfs config --json Plugins.Plugins.threads.Disabled false &&
	test "$(ipfs config Plugins.Plugins.threads.Disabled)" = false
'

test_launch_daemon

test_expect_success 're-enabled: create, add and ls work' '
	tid=$(ipfs threads create) &&
	echo hello | ipfs threads add -q "$tid" >cid &&
	ipfs threads ls >ls &&
	grep -q "^$tid	raw	1 logs	1 events\$" ls
'

test_kill_daemon

test_done
