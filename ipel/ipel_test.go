package ipel

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	mbase "github.com/multiformats/go-multibase"
)

func TestThreadIDRoundTrip(t *testing.T) {
	for _, v := range []Variant{VariantRaw, VariantAccessControlled} {
		id, err := NewThreadID(v)
		if err != nil {
			t.Fatal(err)
		}
		if id.Variant() != v {
			t.Fatalf("variant %v, want %v", id.Variant(), v)
		}
		if len(id.Bytes()) != 2+DefaultRandomLen {
			t.Fatalf("len %d", len(id.Bytes()))
		}
		s := id.String()
		if s[0] != 'b' {
			t.Fatalf("default text form %q is not base32 multibase", s)
		}
		back, err := ParseThreadID(s)
		if err != nil || back != id {
			t.Fatalf("parse %q: %v %v", s, back, err)
		}
		// Any multibase decodes to the same ID.
		for _, enc := range []mbase.Encoding{mbase.Base58BTC, mbase.Base64url, mbase.Base16} {
			other, _ := id.Encode(enc)
			back, err := ParseThreadID(other)
			if err != nil || back != id {
				t.Fatalf("parse %q: %v", other, err)
			}
		}
	}
}

func TestThreadIDRandomness(t *testing.T) {
	a, _ := NewThreadID(VariantRaw)
	b, _ := NewThreadID(VariantRaw)
	if a == b {
		t.Fatal("two fresh IDs are equal")
	}
}

func TestThreadIDErrors(t *testing.T) {
	short, _ := mbase.Encode(mbase.Base32, append([]byte{1, 0x55}, make([]byte, 15)...))
	badVersion, _ := mbase.Encode(mbase.Base32, append([]byte{2, 0x55}, make([]byte, 32)...))
	badVariant, _ := mbase.Encode(mbase.Base32, append([]byte{1, 0x56}, make([]byte, 32)...))
	for name, in := range map[string]string{
		"empty":         "",
		"not multibase": "!!!",
		"bad base32":    "b1111",
		"short random":  short,
		"bad version":   badVersion,
		"bad variant":   badVariant,
	} {
		_, err := ParseThreadID(in)
		if !errors.Is(err, ErrBadThreadID) {
			t.Errorf("%s: error %v, want ErrBadThreadID", name, err)
		}
	}
	// Multibase's own wording ("selected encoding not supported") would not
	// tell a user what is wrong with the ID.
	if _, err := ParseThreadID("xyz"); err == nil || err.Error() != `invalid thread ID "xyz": not a multibase string` {
		t.Errorf("error for xyz: %v", err)
	}
	if _, err := NewThreadIDSize(VariantRaw, 15); err == nil {
		t.Error("15 random bytes accepted")
	}
	if _, err := NewThreadIDSize(Variant(9), 32); err == nil {
		t.Error("unknown variant accepted")
	}
	if id, err := NewThreadIDSize(VariantRaw, 16); err != nil || len(id.Bytes()) != 18 {
		t.Errorf("16 random bytes: %v", err)
	}
}

func TestParseVariant(t *testing.T) {
	if v, err := ParseVariant("acl"); err != nil || v != VariantAccessControlled {
		t.Fatal(v, err)
	}
	if v, err := ParseVariant("raw"); err != nil || v != VariantRaw {
		t.Fatal(v, err)
	}
	if _, err := ParseVariant("other"); err == nil {
		t.Fatal("unknown variant accepted")
	}
}

func TestLogAddr(t *testing.T) {
	_, logID, err := NewLogIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, peerID, _ := NewLogIdentity()
	tcp := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	addrs, err := LogAddr{Peer: peer.AddrInfo{ID: peerID, Addrs: []ma.Multiaddr{tcp}}, Log: logID}.Multiaddrs()
	if err != nil {
		t.Fatal(err)
	}
	want := "/ip4/127.0.0.1/tcp/4001/p2p/" + peerID.String() + "/ipel/" + logID.String()
	if len(addrs) != 1 || addrs[0].String() != want {
		t.Fatalf("got %v, want %s", addrs, want)
	}
	info, back, err := ParseLogAddr(want)
	if err != nil {
		t.Fatal(err)
	}
	if back != logID || info.ID != peerID || len(info.Addrs) != 1 || !info.Addrs[0].Equal(tcp) {
		t.Fatalf("split: %v %v", info, back)
	}
	// Binary round trip through go-multiaddr.
	parsed, err := ma.NewMultiaddrBytes(addrs[0].Bytes())
	if err != nil || !parsed.Equal(addrs[0]) {
		t.Fatalf("bytes round trip: %v", err)
	}
	// Without transport addresses.
	bare, err := LogAddr{Peer: peer.AddrInfo{ID: peerID}, Log: logID}.Multiaddrs()
	if err != nil || len(bare) != 1 || !strings.HasPrefix(bare[0].String(), "/p2p/") {
		t.Fatalf("bare: %v %v", bare, err)
	}
}

func TestLogAddrErrors(t *testing.T) {
	_, peerID, _ := NewLogIdentity()
	for _, s := range []string{
		"/ipel/notapeerid",
		"/ip4/127.0.0.1/tcp/1/p2p/" + peerID.String() + "/ipel/xyz",
		"/ip4/127.0.0.1/tcp/1/p2p/" + peerID.String(),
		"/ip4/127.0.0.1/tcp/1/ipel/" + peerID.String(),
	} {
		if _, _, err := ParseLogAddr(s); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
	if _, err := ParseLogID("nope"); !errors.Is(err, ErrBadLogID) {
		t.Errorf("bad log ID: %v", err)
	}
}

func TestLogPublicKey(t *testing.T) {
	sk, id, _ := NewLogIdentity()
	pk, err := LogPublicKey(id)
	if err != nil || !pk.Equals(sk.GetPublic()) {
		t.Fatalf("%v", err)
	}
}

func TestThreadIDErrorQuotesAShortInput(t *testing.T) {
	long := "b" + strings.Repeat("z", 10_000)
	_, err := ParseThreadID(long)
	if err == nil || len(err.Error()) > 200 || !strings.HasPrefix(err.Error(), "invalid thread ID \"bzz") {
		t.Fatalf("error %q", err)
	}
}

func TestACLThreadIDCommitsToItsCreator(t *testing.T) {
	_, alice, _ := NewLogIdentity()
	_, bob, _ := NewLogIdentity()
	tid, err := NewACLThreadID(peer.ID(alice))
	if err != nil {
		t.Fatal(err)
	}
	if tid.Variant() != VariantAccessControlled {
		t.Fatalf("variant %s", tid.Variant())
	}
	back, err := ParseThreadID(tid.String())
	if err != nil || back != tid {
		t.Fatalf("round trip: %v", err)
	}
	if !back.CreatedBy(peer.ID(alice)) {
		t.Fatal("the creator is not recognised")
	}
	if back.CreatedBy(peer.ID(bob)) {
		t.Fatal("another peer passes for the creator")
	}
	raw, _ := NewThreadID(VariantAccessControlled)
	if raw.CreatedBy(peer.ID(alice)) {
		t.Fatal("an ID without a commitment names a creator")
	}
	flipped := []byte(tid.raw)
	flipped[len(flipped)-1] ^= 1
	if (ThreadID{raw: string(flipped)}).CreatedBy(peer.ID(alice)) {
		t.Fatal("a tampered ID still names the creator")
	}
}
