#!/usr/bin/env bash
test_description='views against heavy and hostile members: large batches, malformed operations, a writer hiding a document, index and ACL rights'
. "$(dirname "$0")/lib.sh"

CFG='{"AntiEntropyInterval": "1s"}'

# ops_body NODE JSON FILE: writes the view operations JSON (dag-json: bytes
# as {"/":{"bytes":...}}) to FILE as the CBOR event body modified software
# would append, through ipfs dag put (DAG-CBOR puts the shortest key, "m",
# first, as the views' encoder does).
ops_body() {
	_ops_cid=$(printf "%s" "$2" | ipfsn "$1" dag put --input-codec dag-json --store-codec dag-cbor) &&
		ipfsn "$1" block get "$_ops_cid" >"$3"
}

# b64 TEXT: TEXT in base64 without padding, as dag-json bytes want it.
b64() {
	printf "%s" "$1" | base64 -w0 | tr -d =
}

test_expect_success 'init and start nodes A and B, connected' '
	node_init A "$CFG" && node_init B "$CFG" &&
	node_start A && node_start B &&
	node_connect A B
'

test_expect_success 'a put of more documents than one event carries stores them all' '
	R=$(ipfsn A threads create) &&
	ipfsn A threads docs collection add "$R" big &&
	jq -nc "[range(5000) | {_id: (\"d\" + tostring)}]" >big.json &&
	ipfsn A threads docs put "$R" big <big.json >big.ids &&
	test_line_count_is big.ids 5000 &&
	ipfsn A threads docs query "$R" big --enc=json | jq -e ".Docs | length == 5000" &&
	test "$(ipfsn A threads info "$R" --enc=json | jq ".Logs[0].Seq")" = 3
'

test_expect_success 'a body with the operations marker that does not decode is counted, not ignored' '
	jq -nc "{m: \"kubo-threads/views/1\", kv: [range(4097) | {k: (\"/k\" + tostring)}]}" >over.json &&
	ops_body A "$(cat over.json)" over.cbor &&
	ipfsn A threads add "$R" over.cbor &&
	ipfsn A threads kv put "$R" after 1 &&
	ipfsn A threads stats "$R" --enc=json | jq -e ".ViewsSkipped.malformed == 1" &&
	ipfsn A threads stats "$R" >stats.out &&
	grep -q "malformed: *1" stats.out &&
	test_must_fail ipfsn A threads kv get "$R" k0
'

test_expect_success 'A creates an access-controlled thread; B joins as a writer' '
	PA=$(node_id A) && PB=$(node_id B) &&
	T=$(ipfsn A threads create --variant acl) &&
	ipfsn A threads invite "$T" "$PB" --role write >inv.b &&
	ipfsn B threads join "$(cat inv.b)" &&
	ipfsn A threads docs collection add "$T" notes --schema "{\"properties\":{\"n\":{\"type\":\"number\"}}}" &&
	ipfsn A threads docs put "$T" notes "{\"_id\":\"n1\",\"n\":1}" &&
	b_sees() { test "$(ipfsn B threads docs get "$T" notes n1 2>/dev/null)" = "{\"_id\":\"n1\",\"n\":1}"; } &&
	wait_until "$WAIT_TIMEOUT" "B to see n1" b_sees
'

test_expect_success 'B cannot hide n1: its schema-breaking put is refused, and ignored everywhere when forced' '
	test_must_fail ipfsn B threads docs put "$T" notes "{\"_id\":\"n1\",\"n\":\"gone\"}" 2>hide.err &&
	test_grep_i hide.err "schema" &&
	ops_body B "{\"m\":\"kubo-threads/views/1\",\"dc\":[{\"t\":1,\"c\":\"notes\",\"i\":\"n1\",\"j\":{\"/\":{\"bytes\":\"$(b64 "{\"_id\":\"n1\",\"n\":\"gone\"}")\"}}}]}" hide.cbor &&
	ipfsn B threads add "$T" hide.cbor &&
	ipfsn B threads kv put "$T" b-after 1 &&
	a_applied() { ipfsn A threads kv get "$T" b-after >/dev/null 2>&1; } &&
	wait_until "$WAIT_TIMEOUT" "A to apply B events" a_applied &&
	for n in A B; do
		test "$(ipfsn $n threads docs get "$T" notes n1)" = "{\"_id\":\"n1\",\"n\":1}" || return 1
	done &&
	ipfsn A threads stats "$T" --enc=json | jq -e ".ViewsSkipped.malformed == null"
'

test_expect_success 'indexes need the delete role; A adds one and drops it' '
	test_must_fail ipfsn B threads docs index add "$T" notes n 2>idx.err &&
	test_grep_i idx.err "delete is needed" &&
	ipfsn A threads docs index add "$T" notes n &&
	ipfsn A threads docs collection ls "$T" | grep -q "^notes	n	schema\$" &&
	test_must_fail ipfsn B threads docs index rm "$T" notes n 2>rm.err &&
	test_grep_i rm.err "delete is needed" &&
	ipfsn A threads docs index rm "$T" notes n >rm.out &&
	test_grep_i rm.out "dropped the index of notes on n" &&
	ipfsn A threads docs collection ls "$T" | grep -q "^notes	-	schema\$" &&
	test_must_fail ipfsn A threads docs index rm "$T" notes n 2>rm2.err &&
	test_grep_i rm2.err "no such index" &&
	b_dropped() { ipfsn B threads docs collection ls "$T" | grep -q "^notes	-	schema\$"; } &&
	wait_until "$WAIT_TIMEOUT" "B to see the index dropped" b_dropped
'

test_expect_success 'the creator cannot be revoked; B cannot change roles on n1' '
	test_must_fail ipfsn A threads acl revoke "$T" "$PA" 2>rev.err &&
	test_grep_i rev.err "creator" &&
	test_must_fail ipfsn B threads docs acl grant "$T" notes n1 "$PB" delete 2>dr.err &&
	test_grep_i dr.err "ACL does not allow" &&
	ipfsn A threads acl show "$T" | grep -q "^$PA	delete\*\$"
'

test_expect_success 'ACL operations B may not make are counted, not kept' '
	ops_body B "{\"m\":\"kubo-threads/views/1\",\"acl\":[{\"t\":3,\"p\":\"$PB\",\"a\":true,\"f\":1}]}" admin.cbor &&
	ipfsn B threads add "$T" admin.cbor &&
	ipfsn B threads kv put "$T" b-after2 1 &&
	a_applied2() { ipfsn A threads kv get "$T" b-after2 >/dev/null 2>&1; } &&
	wait_until "$WAIT_TIMEOUT" "A to apply B events" a_applied2 &&
	ipfsn A threads stats "$T" --enc=json | jq -e ".ViewsSkipped[\"acl-not-allowed\"] == 1" &&
	ipfsn A threads acl show "$T" --enc=json | jq -e --arg b "$PB" ".Ignored == 1 and (.Peers[] | select(.Peer == \$b) | .Admin | not)"
'

test_done
