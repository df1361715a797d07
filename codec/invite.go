package codec

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	mbase "github.com/multiformats/go-multibase"
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

const (
	// MaxSealedInvite bounds a sealed invite, in bytes.
	MaxSealedInvite = 64 << 10
	// MaxInviteText bounds an invite's text form: MaxSealedInvite bytes in
	// base32, with the multibase prefix.
	MaxInviteText = 1 + (MaxSealedInvite*8+4)/5
)

// invitePrefix marks the plaintext, so a sealed box of something else does
// not pass as an invite.
const invitePrefix = "kubo-threads/invite/v1\x00"

// SealInvite encodes an invite sealed to the invitee's Ed25519 libp2p key
// and returns its text form (base32 multibase).
func SealInvite(inv *Invite, to crypto.PubKey) (string, error) {
	pt, err := encMode.Marshal(inv)
	if err != nil {
		return "", fmt.Errorf("encode invite: %w", err)
	}
	sealed, err := sealToPeer(append([]byte(invitePrefix), pt...), to)
	if err != nil {
		return "", fmt.Errorf("seal invite: %w", err)
	}
	if len(sealed) > MaxSealedInvite {
		return "", fmt.Errorf("seal invite: %d bytes exceeds %d", len(sealed), MaxSealedInvite)
	}
	return mbase.Encode(mbase.Base32, sealed)
}

// OpenInvite opens an invite's text form with the invitee's private key.
func OpenInvite(s string, sk crypto.PrivKey) (*Invite, error) {
	if len(s) > MaxInviteText {
		return nil, fmt.Errorf("%w: %d characters", ErrBadInvite, len(s))
	}
	_, sealed, err := mbase.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not multibase: %v", ErrBadInvite, err)
	}
	if len(sealed) > MaxSealedInvite {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadInvite, len(sealed))
	}
	pt, ok, err := openFromPeer(sealed, sk)
	if err != nil {
		return nil, err
	}
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
