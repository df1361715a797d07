#!/usr/bin/env bash
test_description='ipfs threads acl: roles enforced by every replica, revocation with key rotation, document roles, hostile members'
. "$(dirname "$0")/lib.sh"

CFG='{"AntiEntropyInterval": "1s"}'

test_expect_success 'acl help' '
	for sub in acl "acl show" "acl grant" "acl revoke" "acl default" "docs acl" "docs acl grant" "docs acl show"; do
		ipfs threads $sub --help >help.out || return 1
		grep -q "^USAGE" help.out || return 1
	done
'

test_expect_success 'init and start nodes A (creator), B and C, connected' '
	node_init A "$CFG" && node_init B "$CFG" && node_init C "$CFG" &&
	node_start A && node_start B && node_start C &&
	node_connect A B && node_connect A C && node_connect B C &&
	PA=$(node_id A) && PB=$(node_id B) && PC=$(node_id C)
'

test_expect_success 'A creates an access-controlled thread: it is the admin, its log is its peer ID' '
	T=$(ipfsn A threads create --variant acl) &&
	ipfsn A threads acl show "$T" >show.out &&
	grep -q "^creator	$PA\$" show.out &&
	grep -q "^default	none\$" show.out &&
	grep -q "^$PA	delete\*\$" show.out &&
	ipfsn A threads info "$T" --enc=json | jq -e --arg p "$PA" ".Keys.Log == \$p and .Creator == \$p"
'

test_expect_success 'acl commands refuse raw threads and bad input' '
	R=$(ipfsn A threads create) &&
	test_must_fail ipfsn A threads acl show "$R" 2>raw.err && test_grep_i raw.err "not an access-controlled thread" &&
	test_must_fail ipfsn A threads acl grant "$T" notapeer write 2>p.err && test_grep_i p.err "invalid peer ID" &&
	test_must_fail ipfsn A threads acl grant "$T" "$PB" king 2>r.err && test_grep_i r.err "unknown role" &&
	test_must_fail ipfsn A threads acl show garbage
'

test_expect_success 'A invites B as writer and C as reader; both join' '
	ipfsn A threads invite "$T" "$PB" --role write >inv.b &&
	ipfsn A threads invite "$T" "$PC" --role read >inv.c &&
	ipfsn B threads join "$(cat inv.b)" &&
	ipfsn C threads join "$(cat inv.c)" &&
	ipfsn A threads acl show "$T" >show2.out &&
	grep -q "^$PB	write\$" show2.out && grep -q "^$PC	read\$" show2.out
'

test_expect_success 'B writes; every node sees it' '
	ipfsn B threads kv put "$T" fromB 1 &&
	ipfsn A threads kv put "$T" fromA 1 &&
	all_see() {
		for n in A B C; do
			ipfsn $n threads kv get "$T" fromB >/dev/null 2>&1 || return 1
			ipfsn $n threads kv get "$T" fromA >/dev/null 2>&1 || return 1
		done
	} &&
	wait_until "$WAIT_TIMEOUT" "A, B and C to see both writes" all_see
'

test_expect_success 'C, a reader, cannot write, nor grant itself write' '
	test_must_fail ipfsn C threads kv put "$T" fromC 1 2>c.err && test_grep_i c.err "ACL does not allow" &&
	test_must_fail ipfsn C threads acl grant "$T" "$PC" write 2>c2.err && test_grep_i c2.err "ACL does not allow|no log" &&
	test_must_fail ipfsn B threads acl grant "$T" "$PB" delete 2>b.err && test_grep_i b.err "admin"
'

test_expect_success 'B cannot delete (needs the delete role); A can' '
	test_must_fail ipfsn B threads kv del "$T" fromA 2>d.err && test_grep_i d.err "delete is needed" &&
	ipfsn A threads kv del "$T" fromB
'

test_expect_success 'A revokes C: the read key rotates; B gets the new key, C does not' '
	ipfsn A threads acl revoke "$T" "$PC" &&
	ipfsn A threads acl show "$T" --enc=json | jq -e ".Rotations == 1 and .ReadKeys == 2" &&
	b_rotated() { ipfsn B threads acl show "$T" --enc=json | jq -e ".ReadKeys == 2" >/dev/null; } &&
	wait_until "$WAIT_TIMEOUT" "B to take up the new read key" b_rotated &&
	c_saw() { ipfsn C threads acl show "$T" --enc=json | jq -e ".Rotations == 1" >/dev/null; } &&
	wait_until "$WAIT_TIMEOUT" "C to see the rotation" c_saw &&
	ipfsn C threads acl show "$T" --enc=json | jq -e ".ReadKeys == 1"
'

test_expect_success 'events after the rotation: B reads them, C cannot decrypt them' '
	ipfsn A threads kv put "$T" secret after-rotation &&
	b_reads() { test "$(ipfsn B threads kv get "$T" secret 2>/dev/null)" = "after-rotation"; } &&
	wait_until "$WAIT_TIMEOUT" "B to read the new event" b_reads &&
	c_refuses() { ipfsn C threads stats "$T" --enc=json | jq -e ".Rejected[\"does not decrypt\"] >= 1" >/dev/null; } &&
	wait_until "$WAIT_TIMEOUT" "C to fail to decrypt the new events" c_refuses &&
	test_must_fail ipfsn C threads kv get "$T" secret
'

test_expect_success 'A revokes B: B is refused locally, and a write it forces is ignored everywhere' '
	ipfsn A threads acl revoke "$T" "$PB" &&
	b_revoked() { ipfsn B threads acl show "$T" | grep -q "^$PB	none\$"; } &&
	wait_until "$WAIT_TIMEOUT" "B to see its revocation" b_revoked &&
	test_must_fail ipfsn B threads kv put "$T" late 1 2>late.err && test_grep_i late.err "ACL does not allow" &&
	test_must_fail ipfsn A threads kv get "$T" late
'

test_expect_success 'document roles: B-like writers can be limited per document' '
	ipfsn A threads docs collection add "$T" notes &&
	ipfsn A threads docs put "$T" notes "{\"_id\":\"n1\",\"t\":\"x\"}" &&
	ipfsn A threads docs acl grant "$T" notes n1 "$PC" write &&
	ipfsn A threads docs acl show "$T" notes n1 >dacl.out &&
	grep -q "^$PC	write\$" dacl.out &&
	test_must_fail ipfsn A threads docs acl grant "$T" notes "" "$PC" write
'

test_expect_success 'views agree on A and B; rebuild gives the same' '
	same() {
		ipfsn A threads kv ls "$T" >a.kv && ipfsn B threads kv ls "$T" >b.kv && test_cmp a.kv b.kv >/dev/null 2>&1
	} &&
	wait_until "$WAIT_TIMEOUT" "A and B to agree" same &&
	ipfsn A threads view rebuild "$T" && ipfsn A threads kv ls "$T" >a.rebuilt && test_cmp a.kv a.rebuilt
'

test_done
