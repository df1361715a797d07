package codec

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// ErrNotSealedToUs is returned when sealed data does not open with this
// node's key.
var ErrNotSealedToUs = errors.New("not sealed to this node's key, or altered")

// sealedPrefix labels data sealed to a key (rotated read keys), so that an
// invite or a private event's key, sealed the same way, does not pass for
// it.
const sealedPrefix = "kubo-threads/sealed/v1\x00"

// SealToKey seals data to an Ed25519 public key: only the holder of the
// private key opens it.
func SealToKey(to crypto.PubKey, data []byte) ([]byte, error) {
	out, err := sealToPeer(append([]byte(sealedPrefix), data...), to)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}

// OpenWithKey opens data sealed with SealToKey.
func OpenWithKey(sk crypto.PrivKey, sealed []byte) ([]byte, error) {
	pt, ok, err := openFromPeer(sealed, sk)
	if err != nil {
		return nil, err
	}
	if !ok || len(pt) < len(sealedPrefix) || string(pt[:len(sealedPrefix)]) != sealedPrefix {
		return nil, ErrNotSealedToUs
	}
	return pt[len(sealedPrefix):], nil
}
