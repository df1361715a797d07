package codec

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/nacl/box"
)

// ErrNotSealedToUs is returned when sealed data does not open with this
// node's key.
var ErrNotSealedToUs = errors.New("not sealed to this node's key, or altered")

// sealedPrefix separates data sealed to a key from invites, which are
// sealed the same way.
const sealedPrefix = "kubo-threads/sealed/v1\x00"

// SealToKey seals data to an Ed25519 public key (converted to X25519, NaCl
// anonymous sealed box): only the holder of the private key opens it.
func SealToKey(to crypto.PubKey, data []byte) ([]byte, error) {
	pub, err := x25519Public(to)
	if err != nil {
		return nil, err
	}
	out, err := box.SealAnonymous(nil, append([]byte(sealedPrefix), data...), pub, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}

// OpenWithKey opens data sealed with SealToKey.
func OpenWithKey(sk crypto.PrivKey, sealed []byte) ([]byte, error) {
	pub, priv, err := x25519Pair(sk)
	if err != nil {
		return nil, err
	}
	pt, ok := box.OpenAnonymous(nil, sealed, pub, priv)
	if !ok || len(pt) < len(sealedPrefix) || string(pt[:len(sealedPrefix)]) != sealedPrefix {
		return nil, ErrNotSealedToUs
	}
	return pt[len(sealedPrefix):], nil
}
