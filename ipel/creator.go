package ipel

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"
)

// An access-controlled thread's ID commits to its creator, the first holder
// of the ACL's admin role: its random part is a 16-byte nonce followed by
// the first 16 bytes of SHA-256(domain, nonce, creator's peer ID). Anyone
// told the creator can check the claim against the ID alone, so no member
// can pass itself off as the creator.

const creatorDomain = "kubo-threads/acl-creator/v1\x00"

const creatorNonceLen = 16

func creatorCommitment(nonce []byte, creator peer.ID) []byte {
	h := sha256.New()
	h.Write([]byte(creatorDomain))
	h.Write(nonce)
	h.Write([]byte(creator))
	return h.Sum(nil)[:16]
}

// NewACLThreadID makes a fresh access-controlled thread ID bound to its
// creator.
func NewACLThreadID(creator peer.ID) (ThreadID, error) {
	if creator == "" {
		return ThreadID{}, fmt.Errorf("new thread ID: no creator")
	}
	nonce := make([]byte, creatorNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return ThreadID{}, fmt.Errorf("new thread ID: %w", err)
	}
	buf := varint.ToUvarint(ThreadIDVersion)
	buf = append(buf, varint.ToUvarint(uint64(VariantAccessControlled))...)
	buf = append(buf, nonce...)
	buf = append(buf, creatorCommitment(nonce, creator)...)
	return ThreadID{raw: string(buf)}, nil
}

// CreatedBy reports whether an access-controlled thread's ID commits to
// this creator. It is false for other variants.
func (t ThreadID) CreatedBy(creator peer.ID) bool {
	if t.Variant() != VariantAccessControlled {
		return false
	}
	b := []byte(t.raw)
	_, n, _ := varint.FromUvarint(b)
	_, m, _ := varint.FromUvarint(b[n:])
	rnd := b[n+m:]
	if len(rnd) != creatorNonceLen+16 {
		return false
	}
	return subtle.ConstantTimeCompare(rnd[creatorNonceLen:], creatorCommitment(rnd[:creatorNonceLen], creator)) == 1
}
