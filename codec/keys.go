package codec

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"

	mbase "github.com/multiformats/go-multibase"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// KeySize is the size of every symmetric key: follow, read and content keys.
const KeySize = chacha20poly1305.KeySize

// ErrDecrypt is returned when a ciphertext does not open under a key: the key
// is wrong or the data was tampered with.
var ErrDecrypt = errors.New("decryption failed: wrong key or tampered data")

// Key is a symmetric XChaCha20-Poly1305 key.
type Key struct {
	aead cipher.AEAD
	raw  [KeySize]byte

	subOnce sync.Once
	sub     *subkeys // derived on first use; see subkeys
}

// subkeys are the keys a thread's follow key serves through, each derived
// with HKDF-SHA256 under a label of its own, so that no key material is
// used by two primitives: the AEAD that seals event nodes (envelope
// version 3), the key of the hash that derives those nodes' nonces, and the
// HMAC key of thread proofs. (Version 1 and 2 event nodes were sealed with
// the follow key itself, and still open with it.)
type subkeys struct {
	node  cipher.AEAD
	nonce [32]byte
	proof [32]byte
}

// HKDF labels of the follow key's subkeys.
const (
	labelEventNode   = "kubo-threads/follow/event-node/v3"
	labelEventNonce  = "kubo-threads/follow/event-nonce/v3"
	labelThreadProof = "kubo-threads/follow/thread-proof/v2"
)

// derive expands the key into 32 bytes of key material for one purpose.
func (k *Key) derive(label string) [32]byte {
	var out [32]byte
	// HKDF-SHA256 yields up to 255*32 bytes: reading 32 cannot fail.
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.raw[:], nil, []byte(label)), out[:]); err != nil {
		panic("hkdf: " + err.Error())
	}
	return out
}

func (k *Key) subkeys() *subkeys {
	k.subOnce.Do(func() {
		nk := k.derive(labelEventNode)
		aead, err := chacha20poly1305.NewX(nk[:])
		if err != nil {
			panic("xchacha20poly1305: " + err.Error()) // only on a wrong key size
		}
		k.sub = &subkeys{node: aead, nonce: k.derive(labelEventNonce), proof: k.derive(labelThreadProof)}
	})
	return k.sub
}

// sealDeterministic seals plaintext with aead under a nonce derived from
// the plaintext and ad (a keyed BLAKE2b hash): the same inputs give the same
// output, which reveals that two plaintexts are equal and nothing else. The
// output is nonce || ciphertext || tag, as Seal's.
func sealDeterministic(aead cipher.AEAD, nonceKey *[32]byte, plaintext, ad []byte) []byte {
	nonce := syntheticNonce(nonceKey, plaintext, ad)
	out := make([]byte, len(nonce), len(nonce)+len(plaintext)+aead.Overhead())
	copy(out, nonce)
	return aead.Seal(out, nonce, plaintext, ad)
}

// openDeterministic opens what sealDeterministic sealed and checks that the
// nonce is the one derived from the plaintext: a ciphertext sealed under
// any other nonce, even with the right key, does not open.
func openDeterministic(aead cipher.AEAD, nonceKey *[32]byte, sealed, ad []byte) ([]byte, error) {
	pt, err := openWith(aead, sealed, ad)
	if err != nil {
		return nil, err
	}
	if string(syntheticNonce(nonceKey, pt, ad)) != string(sealed[:aead.NonceSize()]) {
		return nil, ErrNonDeterministic
	}
	return pt, nil
}

// openWith opens nonce || ciphertext || tag.
func openWith(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is too short", ErrDecrypt, len(sealed))
	}
	pt, err := aead.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// ErrNonDeterministic is returned for a ciphertext that opens but was not
// sealed under the nonce its plaintext determines: someone holding the key
// sealed it again, differently.
var ErrNonDeterministic = errors.New("sealed under another nonce than its content determines")

func syntheticNonce(key *[32]byte, plaintext, ad []byte) []byte {
	h, err := blake2b.New(chacha20poly1305.NonceSizeX, key[:])
	if err != nil {
		panic("blake2b: " + err.Error()) // only on a wrong size
	}
	var n [8]byte
	for i := range n {
		n[i] = byte(uint64(len(ad)) >> (8 * i))
	}
	h.Write(n[:])
	h.Write(ad)
	h.Write(plaintext)
	return h.Sum(nil)
}

// NewKey makes a fresh random key.
func NewKey() (*Key, error) {
	var raw [KeySize]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("new key: %w", err)
	}
	return KeyFromBytes(raw[:])
}

// KeyFromBytes wraps raw key material.
func KeyFromBytes(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("key of %d bytes, want %d", len(b), KeySize)
	}
	k := &Key{}
	copy(k.raw[:], b)
	aead, err := chacha20poly1305.NewX(k.raw[:])
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	k.aead = aead
	return k, nil
}

// ParseKey decodes a key in any multibase.
func ParseKey(s string) (*Key, error) {
	_, b, err := mbase.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", s, err)
	}
	return KeyFromBytes(b)
}

// Bytes returns the raw key material.
func (k *Key) Bytes() []byte { return append([]byte(nil), k.raw[:]...) }

// String encodes the key in base32 multibase.
func (k *Key) String() string {
	s, _ := mbase.Encode(mbase.Base32, k.raw[:])
	return s
}

// Equal reports whether two keys hold the same material.
func (k *Key) Equal(o *Key) bool { return k != nil && o != nil && k.raw == o.raw }

// Seal encrypts plaintext with a fresh random nonce, binding ad. The output is
// nonce || ciphertext || tag.
func (k *Key) Seal(plaintext, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return k.aead.Seal(out, out[:ns], plaintext, ad), nil
}

// Open decrypts what Seal produced with the same ad.
func (k *Key) Open(sealed, ad []byte) ([]byte, error) { return openWith(k.aead, sealed, ad) }

// Overhead is how many bytes Seal adds to a plaintext.
func Overhead() int { return chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead }
