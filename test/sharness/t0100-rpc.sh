#!/usr/bin/env bash
test_description='the threads commands on the RPC API (/api/v0/threads/...)'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

# rpc PATH [CURL ARGS...]: POSTs to the API; body to rpc.out, status printed.
rpc() {
	_path=$1
	shift
	curl -s -o rpc.out -w "%{http_code}" -X POST "$@" "http://$HP$_path"
}

test_expect_success 'the API address comes from $IPFS_PATH/api' '
	HP=$(api_hostport) &&
	echo "$HP" | grep -Eq "^127\.0\.0\.1:[0-9]+\$"
'

test_expect_success 'POST /api/v0/threads/ls returns JSON (no threads yet)' '
	code=$(rpc /api/v0/threads/ls) &&
	test "$code" = 200 &&
	jq -e ".Threads == []" rpc.out
'

test_expect_success 'GET is refused (405)' '
	code=$(curl -s -o /dev/null -w "%{http_code}" "http://$HP/api/v0/threads/ls") &&
	test "$code" = 405
'

test_expect_success 'POST /api/v0/threads/create makes a raw thread' '
	code=$(rpc /api/v0/threads/create) &&
	test "$code" = 200 &&
	jq -e ".Variant == \"raw\" and .Keys.Follow and .Keys.Read" rpc.out &&
	T=$(jq -r .ID rpc.out) &&
	ipfs threads info "$T" --enc=json | jq -e --arg id "$T" ".ID == \$id"
'

test_expect_success 'POST /api/v0/threads/create?variant=acl makes an acl thread' '
	code=$(rpc "/api/v0/threads/create?variant=acl") &&
	test "$code" = 200 &&
	jq -e ".Variant == \"acl\"" rpc.out &&
	A=$(jq -r .ID rpc.out)
'

test_expect_success 'create?variant=bogus is a 400 with the error message' '
	code=$(rpc "/api/v0/threads/create?variant=bogus") &&
	test "$code" = 400 &&
	jq -e ".Type == \"error\"" rpc.out &&
	jq -r .Message rpc.out | grep -q "bogus"
'

test_expect_success 'ls over RPC lists both threads, like the CLI' '
	code=$(rpc /api/v0/threads/ls) &&
	test "$code" = 200 &&
	jq -S . rpc.out >rpc.ls &&
	ipfs threads ls --enc=json | jq -S . >cli.ls &&
	test_cmp cli.ls rpc.ls &&
	jq -e ".Threads | length == 2" rpc.out
'

test_expect_success 'add over RPC (multipart file) appends an event' '
	printf "over rpc" >body &&
	code=$(rpc "/api/v0/threads/add?arg=$T" -F "file=@body") &&
	test "$code" = 200 &&
	jq -e ".Seq == 1" rpc.out &&
	C=$(jq -r .Cid rpc.out) &&
	ipfs threads cat "$T" "$C" >got &&
	cmp body got
'

test_expect_success 'add over RPC without a file is a 400' '
	code=$(rpc "/api/v0/threads/add?arg=$T") &&
	test "$code" = 400
'

test_expect_success 'info over RPC has the event as head' '
	code=$(rpc "/api/v0/threads/info?arg=$T") &&
	test "$code" = 200 &&
	jq -e --arg c "$C" ".Logs[0].Head == \$c and .Logs[0].Seq == 1" rpc.out
'

test_expect_success 'log over RPC returns the event' '
	code=$(rpc "/api/v0/threads/log?arg=$T") &&
	test "$code" = 200 &&
	jq -s -e --arg c "$C" "length == 1 and .[0].Cid == \$c and .[0].Seq == 1" rpc.out &&
	jq -r .Body rpc.out | base64 -d >logbody &&
	cmp body logbody
'

test_expect_success 'cat over RPC returns the body bytes' '
	code=$(rpc "/api/v0/threads/cat?arg=$T&arg=$C") &&
	test "$code" = 200 &&
	cmp body rpc.out
'

test_expect_success 'info?arg=garbage is a non-200 (400) with an error message' '
	code=$(rpc "/api/v0/threads/info?arg=garbage") &&
	test "$code" != 200 &&
	test "$code" = 400 &&
	jq -r .Message rpc.out | grep -q "invalid thread ID"
'

test_expect_success 'info of a removed thread is a 400 "not found"' '
	R=$(ipfs threads create) &&
	ipfs threads rm "$R" &&
	code=$(rpc "/api/v0/threads/info?arg=$R") &&
	test "$code" = 400 &&
	jq -r .Message rpc.out | grep -q "not found"
'

test_expect_success 'info without an argument is a 400' '
	code=$(rpc "/api/v0/threads/info") &&
	test "$code" = 400
'

test_expect_success 'cat of a non-event CID over RPC is not a 200' '
	code=$(rpc "/api/v0/threads/cat?arg=$T&arg=bafkqaaa") &&
	test "$code" != 200
'

test_expect_success 'caller errors over RPC are 400 with a message, and change nothing' '
	: >empty &&
	code=$(rpc "/api/v0/threads/add?arg=$T" -F "file=@empty") &&
	test "$code" = 400 && jq -r .Message rpc.out | grep -q "empty" &&
	head -c 2000000 /dev/urandom >big &&
	code=$(rpc "/api/v0/threads/add?arg=$T" -F "file=@big") &&
	test "$code" = 400 && jq -r .Message rpc.out | grep -q "too large" &&
	code=$(rpc "/api/v0/threads/add?arg=$R" -F "file=@body") &&
	test "$code" = 400 && jq -r .Message rpc.out | grep -q "not found" &&
	code=$(rpc "/api/v0/threads/cat?arg=$T&arg=junk") &&
	test "$code" = 400 && jq -r .Message rpc.out | grep -q "invalid event CID" &&
	code=$(rpc "/api/v0/threads/log?arg=$T&log=junk") &&
	test "$code" = 400 && jq -r .Message rpc.out | grep -q "log ID" &&
	code=$(rpc "/api/v0/threads/listen?arg=$R") &&
	test "$code" = 400 && jq -r .Message rpc.out | grep -q "not found" &&
	ipfs threads log "$T" --enc=json | jq -s -e --arg c "$C" "length == 1 and .[0].Cid == \$c"
'

test_expect_success 'rm over RPC removes the thread' '
	code=$(rpc "/api/v0/threads/rm?arg=$A") &&
	test "$code" = 200 &&
	jq -e --arg a "$A" ".Removed == \$a" rpc.out &&
	test_must_fail ipfs threads info "$A" 2>/dev/null
'

test_expect_success 'listen over RPC streams what was added' '
	curl -s -N -X POST "http://$HP/api/v0/threads/listen?arg=$T" >listen.out 2>/dev/null </dev/null 3>&- 4>&- 5>&- 6>&- &
	LP=$! &&
	lib_track_pid "$LP" &&
	wait_lines listen.out 1 &&
	echo second | ipfs threads add -q "$T" >c2 &&
	wait_lines listen.out 2 &&
	stop_listener "$LP" &&
	jq -s -c "[.[].Seq]" listen.out >seqs &&
	echo "[1,2]" >seqs.want &&
	test_cmp seqs.want seqs
'

test_kill_daemon

test_done
