package ipel

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrBadLogID is wrapped by every log ID parse error.
var ErrBadLogID = errors.New("invalid log ID")

// LogID identifies a single-writer log: the libp2p peer ID of the log's
// Ed25519 identity key.
type LogID = peer.ID

// ParseLogID decodes a log ID in any of the text forms of a peer ID.
func ParseLogID(s string) (LogID, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty string", ErrBadLogID)
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrBadLogID, clip(s), err)
	}
	return id, nil
}

// LogIDFromBytes validates the binary form of a log ID.
func LogIDFromBytes(b []byte) (LogID, error) {
	id, err := peer.IDFromBytes(b)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadLogID, err)
	}
	return id, nil
}

// NewLogIdentity makes a fresh Ed25519 identity for a log.
func NewLogIdentity() (crypto.PrivKey, LogID, error) {
	sk, pk, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, "", fmt.Errorf("generate log key: %w", err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return nil, "", fmt.Errorf("derive log ID: %w", err)
	}
	return sk, id, nil
}

// LogPublicKey extracts the public key embedded in an Ed25519 log ID.
func LogPublicKey(id LogID) (crypto.PubKey, error) {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("log %s: public key: %w", id, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("log %s: key type %s, want Ed25519", id, pk.Type())
	}
	return pk, nil
}
