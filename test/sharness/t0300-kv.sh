#!/usr/bin/env bash
test_description='ipfs threads kv and view rebuild, on one node and across two'
. "$(dirname "$0")/lib.sh"

CFG='{"AntiEntropyInterval": "1s"}'

test_expect_success 'kv and view help' '
	for sub in kv "kv put" "kv get" "kv del" "kv ls" view "view rebuild"; do
		ipfs threads $sub --help >help.out || return 1
		grep -q "^USAGE" help.out || return 1
	done
'

test_expect_success 'init and start nodes A and B, connected' '
	node_init A "$CFG" && node_init B "$CFG" &&
	node_start A && node_start B &&
	node_connect A B
'

test_expect_success 'A creates a thread and puts keys (argument and stdin)' '
	T=$(ipfsn A threads create) &&
	ipfsn A threads kv put "$T" color blue >put.out &&
	test "$(cat put.out)" = "/color" &&
	printf "from stdin" | ipfsn A threads kv put "$T" a/b &&
	ipfsn A threads kv put "$T" a/c 3 &&
	ipfsn A threads kv put "$T" ab x
'

test_expect_success 'get writes the value; ls lists in key order; --prefix is by path' '
	test "$(ipfsn A threads kv get "$T" color)" = "blue" &&
	test "$(ipfsn A threads kv get "$T" /a/b)" = "from stdin" &&
	ipfsn A threads kv ls "$T" >ls.out &&
	printf "/a/b\tfrom stdin\n/a/c\t3\n/ab\tx\n/color\tblue\n" >ls.exp &&
	test_cmp ls.exp ls.out &&
	ipfsn A threads kv ls "$T" --prefix /a -k >pre.out &&
	printf "/a/b\n/a/c\n" >pre.exp &&
	test_cmp pre.exp pre.out
'

test_expect_success 'ls --enc=json carries base64 values' '
	ipfsn A threads kv ls "$T" --enc=json | jq -r "select(.Key == \"/color\") | .Value" | base64 -d >v &&
	test "$(cat v)" = "blue"
'

test_expect_success 'each write is an event of the log' '
	ipfsn A threads info "$T" --enc=json | jq -e ".Logs[0].Seq == 4"
'

test_expect_success 'del deletes (a tombstone event); get and del of a missing key fail' '
	ipfsn A threads kv del "$T" ab &&
	test_must_fail ipfsn A threads kv get "$T" ab 2>err &&
	test_grep_i err "not found" &&
	test_must_fail ipfsn A threads kv del "$T" nothere 2>err2 &&
	test_grep_i err2 "not found" &&
	ipfsn A threads info "$T" --enc=json | jq -e ".Logs[0].Seq == 5"
'

test_expect_success 'bad input fails: malformed thread, unknown thread, empty key' '
	test_must_fail ipfsn A threads kv put garbage k v &&
	test_must_fail ipfsn A threads kv ls bafku2afr5utflszh7unixsgd3o2xzjq7neovs5ycub5diwbktygzvxy &&
	test_must_fail ipfsn A threads kv put "$T" "" v 2>err &&
	test_grep_i err "invalid key"
'

test_expect_success 'B joins as a writer and both converge on the same view' '
	INV=$(ipfsn A threads invite "$T" "$(node_id B)") &&
	ipfsn B threads join "$INV" &&
	ipfsn B threads kv put "$T" fromb yes &&
	same_view() {
		ipfsn A threads kv ls "$T" >a.view &&
		ipfsn B threads kv ls "$T" >b.view &&
		test_cmp a.view b.view >/dev/null 2>&1 &&
		grep -q "^/fromb	yes\$" a.view &&
		grep -q "^/color	blue\$" b.view
	} &&
	wait_until "$WAIT_TIMEOUT" "the same view on A and B" same_view
'

test_expect_success 'concurrent writes to one key resolve the same way on both' '
	ipfsn A threads kv put "$T" race a >/dev/null & pa=$!
	ipfsn B threads kv put "$T" race b >/dev/null & pb=$!
	wait $pa && wait $pb &&
	same_race() {
		va=$(ipfsn A threads kv get "$T" race) &&
		vb=$(ipfsn B threads kv get "$T" race) &&
		test "$va" = "$vb" &&
		ipfsn A threads kv ls "$T" >a.view && ipfsn B threads kv ls "$T" >b.view &&
		test_cmp a.view b.view >/dev/null 2>&1
	} &&
	wait_until "$WAIT_TIMEOUT" "A and B to agree on race" same_race
'

test_expect_success 'view rebuild gives the same view' '
	ipfsn A threads kv ls "$T" >before &&
	ipfsn A threads view rebuild "$T" >rb.out &&
	test_grep_i rb.out "rebuilt" &&
	ipfsn A threads kv ls "$T" >after &&
	test_cmp before after
'

test_expect_success 'the view survives a restart' '
	node_stop A && node_start A &&
	ipfsn A threads kv ls "$T" >after.restart &&
	test_cmp before after.restart
'

test_done
