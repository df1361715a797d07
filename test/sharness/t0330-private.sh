#!/usr/bin/env bash
test_description='three daemons: private events (ipfs threads add --to), what each member sees, bad input'
. "$(dirname "$0")/lib.sh"

# A creates a thread; B and C join as writers. A adds an ordinary
# event and a private event sealed to B. Everyone sees both events in the
# log; B reads the private body, C and A (the sender) see
# "(private to <B>)" and cat fails for them.

CFG='{"AntiEntropyInterval": "1s"}'

# bad PATTERN CMD...: CMD fails, prints nothing on stdout, and its stderr
# matches PATTERN (case-insensitive extended regexp).
bad() {
	_pat=$1
	shift
	test_must_fail "$@" >out 2>err &&
	test_must_be_empty out &&
	test -s err &&
	test_grep_i err "$_pat"
}

test_expect_success 'add --help describes --to and private events' '
	ipfs threads add --help >help.out &&
	grep -q -- "--to" help.out &&
	test_grep_i help.out "private" &&
	ipfs threads cat --help >cat.help &&
	test_grep_i cat.help "private"
'

test_expect_success 'init and start A, B and C; connect them' '
	node_init A "$CFG" &&
	node_init B "$CFG" &&
	node_init C "$CFG" &&
	AID=$(node_id A) && BID=$(node_id B) && CID=$(node_id C) &&
	node_start A &&
	node_start B &&
	node_start C &&
	node_connect A B &&
	node_connect A C &&
	node_connect B C
'

test_expect_success 'A creates thread T; B and C join as writers' '
	T=$(ipfsn A threads create) &&
	ipfsn A threads invite "$T" "$BID" --role write --enc=json | jq -r .Invite >inv.b &&
	ipfsn A threads invite "$T" "$CID" --role write --enc=json | jq -r .Invite >inv.c &&
	ipfsn B threads join "$(cat inv.b)" >/dev/null &&
	ipfsn C threads join "$(cat inv.c)" >/dev/null
'

test_expect_success 'A adds an ordinary event and one private to B' '
	printf "for everyone" | ipfsn A threads add -q "$T" >pub.cid &&
	printf "for B only" >secret &&
	ipfsn A threads add "$T" --to "$BID" secret >priv.out &&
	grep -Eq "^b[a-z2-7]+ 2\$" priv.out &&
	PRIV=$(cut -d" " -f1 priv.out) &&
	PUB=$(cat pub.cid)
'

# has_two NAME: node NAME lists two events of T.
has_two() {
	test "$(ipfsn "$1" threads log "$T" --enc=json 2>/dev/null | jq -s length)" = 2
}

test_expect_success 'B and C replicate both events' '
	wait_until "$WAIT_TIMEOUT" "B to have both events" has_two B &&
	wait_until "$WAIT_TIMEOUT" "C to have both events" has_two C
'

test_expect_success 'B (the recipient) reads the private body with cat' '
	ipfsn B threads cat "$T" "$PRIV" >b.body &&
	test_cmp secret b.body &&
	ipfsn B threads cat "$T" "$PUB" >b.pub &&
	printf "for everyone" >pub.want &&
	test_cmp pub.want b.pub
'

test_expect_success 'B: log shows the body, JSON has To, not Private' '
	ipfsn B threads log "$T" >b.log &&
	test_line_count_is b.log 2 &&
	grep -q "^[^	]*	2	$PRIV	.*	for B only\$" b.log &&
	ipfsn B threads log "$T" --enc=json >b.json &&
	jq -se --arg c "$PRIV" --arg b "$BID" "map(select(.Cid == \$c))[0] | .To == \$b and has(\"Private\") == false and (.Body | @base64d) == \"for B only\"" b.json &&
	jq -se --arg c "$PUB" "map(select(.Cid == \$c))[0] | has(\"To\") == false and has(\"Private\") == false" b.json
'

for n in C A; do
	test_expect_success "$n: log marks the private event, JSON has To, Private and no body" '
		ipfsn '$n' threads log "$T" >'$n'.log &&
		test_line_count_is '$n'.log 2 &&
		grep -q "	$PRIV	.*	(private to $BID)\$" '$n'.log &&
		grep -q "	$PUB	.*	for everyone\$" '$n'.log &&
		ipfsn '$n' threads log "$T" --enc=json >'$n'.json &&
		jq -se --arg c "$PRIV" --arg b "$BID" "map(select(.Cid == \$c))[0] | .To == \$b and .Private == true and .Body == null" '$n'.json
	'

	test_expect_success "$n: cat of the private event fails, naming the recipient" '
		bad "private to $BID" ipfsn '$n' threads cat "$T" "$PRIV" &&
		ipfsn '$n' threads cat "$T" "$PUB" >'$n'.pub &&
		test_cmp pub.want '$n'.pub
	'
done

test_expect_success 'C: listen shows the private event marked' '
	IPFS_PATH=$(node_path C) start_listener C.listen "$T" &&
	wait_lines C.listen 2 &&
	stop_listener "$LISTEN_PID" C.listen &&
	test_line_count_is C.listen 2 &&
	grep -q "	$PRIV	.*	(private to $BID)\$" C.listen
'

test_expect_success 'B: a private event is no view operation (kv stays empty)' '
	ipfsn B threads kv ls "$T" >kv.out &&
	test_must_be_empty kv.out
'

test_expect_success 'bad --to: not a peer ID' '
	bad "invalid --to peer ID" ipfsn A threads add "$T" --to nonsense secret
'

test_expect_success 'bad --to: a secp256k1 peer ID (not Ed25519)' '
	SECP=$(ipfsn A key gen --type=secp256k1 secpkey) &&
	bad "Ed25519" ipfsn A threads add "$T" --to "$SECP" secret
'

test_expect_success 'bad --to: an RSA peer ID (a hash, no embedded key)' '
	RSA=$(ipfsn A key gen --type=rsa --size=2048 rsakey) &&
	bad "does not embed a public key" ipfsn A threads add "$T" --to "$RSA" secret
'

test_expect_success 'bad input wrote nothing: A still has two events' '
	has_two A
'

test_done
