#!/usr/bin/env bash
test_description='ipfs threads: the limits on what one event may ask of the views (schema cost, work budget, document size), refused locally and counted by stats when another writer skips the local checks'
. "$(dirname "$0")/lib.sh"

# blowup_schema N: levels of allOf each holding two $refs to the next level,
# so that validating one value takes 2^N schema visits.
blowup_schema() {
	printf '{"$ref":"#/$defs/l0","$defs":{'
	for i in $(seq 0 $(($1 - 1))); do
		printf '"l%d":{"allOf":[{"$ref":"#/$defs/l%d"},{"$ref":"#/$defs/l%d"}]},' "$i" $((i + 1)) $((i + 1))
	done
	printf '"l%d":{"type":"object"}}}' "$1"
}

# numbers_doc N: a document holding an array of N numbers.
numbers_doc() {
	printf '{"_id":"many","a":['
	yes 0 | head -n "$1" | paste -sd, | tr -d '\n'
	printf ']}'
}

# A raw event body holding view operations, written as another writer's
# modified software would (the local checks skipped): CBOR, by hand.
cbor_head() { # major type, length
	if test "$2" -lt 24; then
		printf "\\x$(printf %02x $(($1 * 32 + $2)))"
	elif test "$2" -lt 256; then
		printf "\\x$(printf %02x $(($1 * 32 + 24)))\\x$(printf %02x "$2")"
	elif test "$2" -lt 65536; then
		printf "\\x$(printf %02x $(($1 * 32 + 25)))\\x$(printf %02x $(($2 >> 8)))\\x$(printf %02x $(($2 & 255)))"
	else
		printf "\\x$(printf %02x $(($1 * 32 + 26)))"
		for shift in 24 16 8 0; do printf "\\x$(printf %02x $((($2 >> shift) & 255)))"; done
	fi
}
cbor_text() { cbor_head 3 ${#1} && printf '%s' "$1"; }
# doc_op_body KIND COLL ID JSONFILE: one document operation (put: 1,
# collection: 3) as the body of an event.
doc_op_body() {
	cbor_head 5 2 && cbor_text m && cbor_text "kubo-threads/views/1" &&
		cbor_text dc && cbor_head 4 1 &&
		if test -n "$3"; then cbor_head 5 4; else cbor_head 5 3; fi &&
		cbor_text c && cbor_text "$2" &&
		if test -n "$3"; then cbor_text i && cbor_text "$3"; fi &&
		cbor_text j && cbor_head 2 "$(wc -c <"$4")" && cat "$4" &&
		cbor_text t && cbor_head 0 "$1"
}

views_skipped() { # thread reason: the count stats shows
	ipfs threads stats "$1" --enc=json | jq -r --arg r "$2" '.ViewsSkipped[$r] // 0'
}
views_skipped_is() { # thread reason count: stats shows that count (read anew each call)
	test "$(views_skipped "$1" "$2")" = "$3"
}

test_init_ipfs
test_launch_daemon

test_expect_success 'a thread with a collection' '
	T=$(ipfs threads create) &&
	ipfs threads docs collection add "$T" c >/dev/null &&
	ipfs threads stats "$T" >stats.out &&
	grep -A1 "^Views skipped:" stats.out | grep -q "none"
'

test_expect_success 'a schema whose validation cost can blow up is refused' '
	blowup_schema 24 >blowup.json &&
	test "$(wc -c <blowup.json)" -lt 2000 &&
	test_must_fail ipfs threads docs collection add "$T" slow --schema "$(cat blowup.json)" 2>err &&
	test_grep_i err "bad JSON Schema" &&
	test_grep_i err "schema visits" &&
	test_must_fail ipfs threads docs collection add "$T" cyc --schema "{\"\$ref\":\"#/\$defs/a\",\"\$defs\":{\"a\":{\"allOf\":[{\"\$ref\":\"#/\$defs/a\"}]}}}" 2>err &&
	test_grep_i err "cycle"
'

test_expect_success 'a document over the work budget or too deep is refused' '
	numbers_doc 70000 >many.json &&
	test_must_fail ipfs threads docs put "$T" c <many.json 2>err &&
	test_grep_i err "over the work budget of one event" &&
	deep=$(printf "%0.s[" $(seq 101))1$(printf "%0.s]" $(seq 101)) &&
	test_must_fail ipfs threads docs put "$T" c "{\"_id\":\"deep\",\"x\":$deep}" 2>err &&
	test_grep_i err "nested more than 100 levels"
'

test_expect_success 'a declaration of that schema written past the local checks is refused, and counted' '
	doc_op_body 3 slow "" blowup.json >decl.cbor &&
	ipfs threads add "$T" decl.cbor >/dev/null &&
	wait_until 30 "the refused schema counted" views_skipped_is "$T" "op: schema refused" 1 &&
	ipfs threads docs collection ls "$T" >ls.out &&
	! grep -q "^slow" ls.out
'

test_expect_success 'an event over the work budget written past the local checks is skipped, and counted' '
	doc_op_body 1 c many many.json >many.cbor &&
	ipfs threads add "$T" many.cbor >/dev/null &&
	wait_until 30 "the skipped event counted" views_skipped_is "$T" "event: too many document values" 1 &&
	test_must_fail ipfs threads docs get "$T" c many &&
	ipfs threads stats "$T" >stats.out &&
	grep -q "^  event: too many document values: *1\$" stats.out &&
	grep -q "^  op: schema refused: *1\$" stats.out
'

test_expect_success 'a document too large as stored, written past the local checks, is refused, and snapshots still work' '
	{ printf "{\"_id\":\"big\",\"s\":\"" && head -c 800000 /dev/zero | tr "\\0" "\\377" && printf "\"}"; } >big.json &&
	doc_op_body 1 c big big.json >big.cbor &&
	ipfs threads add "$T" big.cbor >/dev/null &&
	wait_until 30 "the refused document counted" views_skipped_is "$T" "op: document too large" 1 &&
	test_must_fail ipfs threads docs get "$T" c big &&
	ipfs threads snapshot "$T" --create --enc=json | jq -e ".Entries > 0"
'

test_expect_success 'the views go on: later writes apply, a rebuild does not count again' '
	ipfs threads docs put "$T" c "{\"_id\":\"after\"}" >/dev/null &&
	ipfs threads docs get "$T" c after >/dev/null &&
	ipfs threads view rebuild "$T" >/dev/null &&
	test "$(views_skipped "$T" "event: too many document values")" = 1 &&
	test_must_fail ipfs threads docs get "$T" c many
'

test_kill_daemon

test_done
