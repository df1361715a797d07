package codec

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	mbase "github.com/multiformats/go-multibase"
)

func TestInviteOnlyOpensForTheInvitee(t *testing.T) {
	sk, pk, _ := crypto.GenerateEd25519Key(nil)
	other, _, _ := crypto.GenerateEd25519Key(nil)
	f, _ := NewKey()
	r, _ := NewKey()
	inv := &Invite{Thread: []byte("t"), Role: RoleRead, Follow: f.Bytes(), Read: r.Bytes(), Created: 7}
	s, err := SealInvite(inv, pk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenInvite(s, sk)
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != RoleRead || string(got.Read) != string(r.Bytes()) || got.Created != 7 {
		t.Fatalf("%+v", got)
	}
	if _, err := OpenInvite(s, other); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("foreign key: %v", err)
	}
	_, raw, _ := mbase.Decode(s)
	raw[len(raw)/2] ^= 1
	tampered, _ := mbase.Encode(mbase.Base32, raw)
	if _, err := OpenInvite(tampered, sk); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := OpenInvite("not an invite", sk); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("garbage: %v", err)
	}
	// A read invite without the read key is refused.
	bad, _ := SealInvite(&Invite{Role: RoleRead, Follow: f.Bytes()}, pk)
	if _, err := OpenInvite(bad, sk); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("missing key: %v", err)
	}
}
