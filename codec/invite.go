package codec

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	mbase "github.com/multiformats/go-multibase"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// Role is what an invite lets its holder do in a thread.
type Role string

const (
	// RoleFollow holds the follow key: replicate and serve, read nothing.
	RoleFollow Role = "follow"
	// RoleRead adds the read key: read everything, write nothing.
	RoleRead Role = "read"
	// RoleWrite adds a log of the holder's own.
	RoleWrite Role = "write"
)

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleFollow, RoleRead, RoleWrite:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want write, read or follow)", s)
}

// ErrBadInvite is wrapped by every error about an invite that does not open.
var ErrBadInvite = errors.New("invalid invite")

// Invite hands a peer a thread: its ID, where its logs are, and the keys of
// a role. It travels sealed to the invitee's libp2p public key.
type Invite struct {
	Thread  []byte   `cbor:"t"`
	Role    Role     `cbor:"r"`
	Follow  []byte   `cbor:"f"`
	Read    []byte   `cbor:"k,omitempty"`
	Addrs   [][]byte `cbor:"a"` // log addresses, binary multiaddrs
	Inviter []byte   `cbor:"i"` // the inviting peer
	Invitee []byte   `cbor:"e"` // the peer it is sealed to
	Created int64    `cbor:"c"`
	// OldRead are the read keys before the current one (Read), for events
	// sealed before a rotation.
	OldRead [][]byte `cbor:"ok,omitempty"`
	// Creator is an access-controlled thread's creator, which the thread ID
	// commits to.
	Creator []byte `cbor:"o,omitempty"`
}

// invitePrefix marks the plaintext, so a sealed box of something else does
// not pass as an invite.
const invitePrefix = "kubo-threads/invite/v1\x00"

// SealInvite encodes an invite sealed to the invitee's Ed25519 libp2p key
// and returns its text form (base32 multibase).
func SealInvite(inv *Invite, to crypto.PubKey) (string, error) {
	pub, err := x25519Public(to)
	if err != nil {
		return "", err
	}
	pt, err := encMode.Marshal(inv)
	if err != nil {
		return "", fmt.Errorf("encode invite: %w", err)
	}
	sealed, err := box.SealAnonymous(nil, append([]byte(invitePrefix), pt...), pub, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("seal invite: %w", err)
	}
	return mbase.Encode(mbase.Base32, sealed)
}

// OpenInvite opens an invite's text form with the invitee's private key.
func OpenInvite(s string, sk crypto.PrivKey) (*Invite, error) {
	_, sealed, err := mbase.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not multibase: %v", ErrBadInvite, err)
	}
	if len(sealed) > 64<<10 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadInvite, len(sealed))
	}
	pub, priv, err := x25519Pair(sk)
	if err != nil {
		return nil, err
	}
	pt, ok := box.OpenAnonymous(nil, sealed, pub, priv)
	if !ok {
		return nil, fmt.Errorf("%w: it is not sealed to this node, or it was altered", ErrBadInvite)
	}
	if len(pt) < len(invitePrefix) || string(pt[:len(invitePrefix)]) != invitePrefix {
		return nil, fmt.Errorf("%w: not an invite", ErrBadInvite)
	}
	var inv Invite
	if err := decMode.Unmarshal(pt[len(invitePrefix):], &inv); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	if _, err := ParseRole(string(inv.Role)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	if len(inv.Follow) != KeySize || (inv.Role != RoleFollow && len(inv.Read) != KeySize) {
		return nil, fmt.Errorf("%w: keys missing for role %s", ErrBadInvite, inv.Role)
	}
	return &inv, nil
}

// x25519Public converts an Ed25519 public key to its X25519 form.
func x25519Public(pk crypto.PubKey) (*[32]byte, error) {
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("invites need an Ed25519 peer key, got %s", pk.Type())
	}
	raw, err := pk.Raw()
	if err != nil {
		return nil, err
	}
	p, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("peer key: %w", err)
	}
	var out [32]byte
	copy(out[:], p.BytesMontgomery())
	return &out, nil
}

// x25519Pair converts an Ed25519 private key to an X25519 key pair (RFC 8032
// scalar derivation; X25519 clamps it).
func x25519Pair(sk crypto.PrivKey) (pub, priv *[32]byte, err error) {
	if sk.Type() != crypto.Ed25519 {
		return nil, nil, fmt.Errorf("invites need an Ed25519 peer key, got %s", sk.Type())
	}
	raw, err := sk.Raw()
	if err != nil {
		return nil, nil, err
	}
	h := sha512.Sum512(raw[:ed25519.SeedSize])
	priv = new([32]byte)
	copy(priv[:], h[:32])
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return nil, nil, err
	}
	pub = new([32]byte)
	copy(pub[:], p)
	return pub, priv, nil
}
