#!/usr/bin/env bash
test_description='ipfs threads cat returns the exact bytes added'
. "$(dirname "$0")/lib.sh"

test_init_ipfs
test_launch_daemon

test_expect_success 'create a thread and make test bodies' '
	T=$(ipfs threads create) &&
	printf "hello\n" >small &&
	head -c 5000 /dev/urandom >binary &&
	head -c 204800 /dev/urandom >large &&
	printf "\000\001\002\000\377\376\r\n\000" >nuls &&
	head -c 1048576 /dev/urandom >max &&
	head -c 32768 /dev/urandom >inline32k &&
	test $(wc -c <large) = 204800 &&
	test $(wc -c <max) = 1048576
'

test_expect_success 'add each body' '
	CS=$(ipfs threads add -q "$T" small) &&
	CB=$(ipfs threads add -q "$T" binary) &&
	CL=$(ipfs threads add -q "$T" large) &&
	CN=$(ipfs threads add -q "$T" <nuls) &&
	CM=$(ipfs threads add -q "$T" max) &&
	CI=$(ipfs threads add -q "$T" inline32k) &&
	test -n "$CS" && test -n "$CB" && test -n "$CL" &&
	test -n "$CN" && test -n "$CM" && test -n "$CI"
'

test_expect_success 'cat of a small text body' '
	ipfs threads cat "$T" "$CS" >got.small &&
	cmp small got.small
'

test_expect_success 'cat of a 5000-byte binary body' '
	ipfs threads cat "$T" "$CB" >got.binary &&
	cmp binary got.binary
'

test_expect_success 'cat of a 200 KiB body (stored outside the event block)' '
	ipfs threads cat "$T" "$CL" >got.large &&
	cmp large got.large
'

test_expect_success 'cat of a body with NULs, CR and high bytes (added from stdin)' '
	ipfs threads cat "$T" "$CN" >got.nuls &&
	cmp nuls got.nuls
'

test_expect_success 'cat of a body of exactly MaxBodySize (1 MiB)' '
	ipfs threads cat "$T" "$CM" >got.max &&
	cmp max got.max
'

test_expect_success 'cat of a body at the inline size (32 KiB)' '
	ipfs threads cat "$T" "$CI" >got.inline32k &&
	cmp inline32k got.inline32k
'

test_expect_success 'log --enc=json bodies equal the files too' '
	ipfs threads log "$T" --enc=json >log.json &&
	jq -r --arg c "$CL" "select(.Cid == \$c) | .Body" log.json | base64 -d >log.large &&
	cmp large log.large &&
	jq -r --arg c "$CB" "select(.Cid == \$c) | .Body" log.json | base64 -d >log.binary &&
	cmp binary log.binary &&
	jq -s -c "[.[].Seq]" log.json >seqs &&
	echo "[1,2,3,4,5,6]" >seqs.want &&
	test_cmp seqs.want seqs
'

test_expect_success 'log (text) quotes a binary body on one line' '
	ipfs threads log "$T" >log.txt &&
	test_line_count_is log.txt 6 &&
	sed -n 4p log.txt | cut -f5 >nuls.quoted &&
	grep -q "^\".*\"\$" nuls.quoted
'

test_expect_success 'cat through the RPC API returns the same bytes' '
	hp=$(api_hostport) &&
	curl -s -f -X POST "http://$hp/api/v0/threads/cat?arg=$T&arg=$CL" >rpc.large &&
	cmp large rpc.large
'

test_kill_daemon

test_done
