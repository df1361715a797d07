#!/usr/bin/env bash
test_description='ipfs threads stats and the Prometheus metrics'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'a thread with three events' '
	T=$(ipfs threads create) &&
	for i in 1 2 3; do echo "e$i" | ipfs threads add -q "$T" >/dev/null || return 1; done
'

test_expect_success 'stats (text and json) count the logs and events' '
	ipfs threads stats "$T" >stats.out &&
	grep -q "^Events: *3\$" stats.out &&
	grep -q "^Logs: *1\$" stats.out &&
	ipfs threads stats "$T" --enc=json | jq -e ".Events == 3 and .Logs == 1 and .Equivocations == 0"
'

test_expect_success 'stats of a malformed or unknown thread fails' '
	test_must_fail ipfs threads stats garbage &&
	ipfs threads rm "$(ipfs threads create)" >/dev/null &&
	test_must_fail ipfs threads stats bafku2afr5utflszh7unixsgd3o2xzjq7neovs5ycub5diwbktygzvxy
'

test_expect_success 'Kubo serves the threads metrics at /debug/metrics/prometheus' '
	curl -s "http://$(api_hostport)/debug/metrics/prometheus" >metrics &&
	grep -Eq "^threads_events_appended_total 3\$" metrics &&
	grep -q "^# TYPE threads_pull_seconds histogram" metrics &&
	grep -q "^# TYPE threads_view_apply_seconds histogram" metrics
'

test_kill_daemon

test_done
