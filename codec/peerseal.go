package codec

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// Sealing to a peer: a NaCl sealed box (box.SealAnonymous) to the peer's
// Ed25519 libp2p key converted to X25519. Invites and private events use it;
// only the holder of the peer's private key opens what it seals.

// sealToPeer seals plaintext to the peer's Ed25519 public key.
func sealToPeer(plaintext []byte, to crypto.PubKey) ([]byte, error) {
	pub, err := x25519Public(to)
	if err != nil {
		return nil, err
	}
	return box.SealAnonymous(nil, plaintext, pub, rand.Reader)
}

// openFromPeer opens what sealToPeer sealed to sk's public key. ok is false
// when it was sealed to another key or altered; err reports an unusable key.
func openFromPeer(sealed []byte, sk crypto.PrivKey) (pt []byte, ok bool, err error) {
	pub, priv, err := x25519Pair(sk)
	if err != nil {
		return nil, false, err
	}
	pt, ok = box.OpenAnonymous(nil, sealed, pub, priv)
	return pt, ok, nil
}

// x25519Public converts an Ed25519 public key to its X25519 form.
func x25519Public(pk crypto.PubKey) (*[32]byte, error) {
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("sealing to a peer needs an Ed25519 key, got %s", pk.Type())
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
		return nil, nil, fmt.Errorf("sealing to a peer needs an Ed25519 key, got %s", sk.Type())
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
