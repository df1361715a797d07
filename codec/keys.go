package codec

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	mbase "github.com/multiformats/go-multibase"
	"golang.org/x/crypto/chacha20poly1305"
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
func (k *Key) Open(sealed, ad []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is too short", ErrDecrypt, len(sealed))
	}
	pt, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Overhead is how many bytes Seal adds to a plaintext.
func Overhead() int { return chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead }
