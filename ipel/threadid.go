package ipel

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	mbase "github.com/multiformats/go-multibase"
	"github.com/multiformats/go-varint"
)

// ThreadIDVersion is the only thread ID version this package issues and accepts.
const ThreadIDVersion = 1

// Variant says how a thread is governed.
type Variant uint64

const (
	// VariantRaw is a thread whose members all hold the same keys and whose
	// writers are trusted equally.
	VariantRaw Variant = 0x55
	// VariantAccessControlled is a thread whose members' roles are decided by an
	// ACL that every replica enforces.
	VariantAccessControlled Variant = 0x70
)

// String names the variant as the CLI spells it.
func (v Variant) String() string {
	switch v {
	case VariantRaw:
		return "raw"
	case VariantAccessControlled:
		return "acl"
	default:
		return fmt.Sprintf("unknown(0x%x)", uint64(v))
	}
}

// ParseVariant reads a variant name as the CLI spells it ("raw" or "acl").
func ParseVariant(s string) (Variant, error) {
	switch s {
	case "raw", "":
		return VariantRaw, nil
	case "acl", "access-controlled":
		return VariantAccessControlled, nil
	default:
		return 0, fmt.Errorf("unknown thread variant %q (want raw or acl)", s)
	}
}

// Valid reports whether v is a known variant.
func (v Variant) Valid() bool {
	return v == VariantRaw || v == VariantAccessControlled
}

const (
	// MinRandomLen is the least number of random bytes a thread ID carries.
	MinRandomLen = 16
	// DefaultRandomLen is the number of random bytes NewThreadID uses.
	DefaultRandomLen = 32
	// maxRandomLen bounds what a decoder accepts, so that an ID cannot be used to
	// make a node store arbitrary data under its keys.
	maxRandomLen = 128
)

// ErrBadThreadID is wrapped by every thread ID parse error.
var ErrBadThreadID = errors.New("invalid thread ID")

// ThreadID identifies a thread: varint(version) varint(variant) random bytes.
// Its zero value is not a valid ID.
type ThreadID struct {
	raw string
}

// NewThreadID makes a fresh thread ID of the given variant with
// DefaultRandomLen random bytes.
func NewThreadID(v Variant) (ThreadID, error) {
	return NewThreadIDSize(v, DefaultRandomLen)
}

// NewThreadIDSize makes a fresh thread ID with n random bytes (n >= MinRandomLen).
func NewThreadIDSize(v Variant, n int) (ThreadID, error) {
	if !v.Valid() {
		return ThreadID{}, fmt.Errorf("new thread ID: unknown variant 0x%x", uint64(v))
	}
	if n < MinRandomLen || n > maxRandomLen {
		return ThreadID{}, fmt.Errorf("new thread ID: random part of %d bytes, want %d to %d", n, MinRandomLen, maxRandomLen)
	}
	buf := varint.ToUvarint(ThreadIDVersion)
	buf = append(buf, varint.ToUvarint(uint64(v))...)
	rnd := make([]byte, n)
	if _, err := rand.Read(rnd); err != nil {
		return ThreadID{}, fmt.Errorf("new thread ID: %w", err)
	}
	buf = append(buf, rnd...)
	return ThreadID{raw: string(buf)}, nil
}

// ThreadIDFromBytes validates and wraps the binary form of a thread ID.
func ThreadIDFromBytes(b []byte) (ThreadID, error) {
	version, n, err := varint.FromUvarint(b)
	if err != nil {
		return ThreadID{}, fmt.Errorf("%w: version: %v", ErrBadThreadID, err)
	}
	if version != ThreadIDVersion {
		return ThreadID{}, fmt.Errorf("%w: unsupported version %d", ErrBadThreadID, version)
	}
	variant, m, err := varint.FromUvarint(b[n:])
	if err != nil {
		return ThreadID{}, fmt.Errorf("%w: variant: %v", ErrBadThreadID, err)
	}
	if !Variant(variant).Valid() {
		return ThreadID{}, fmt.Errorf("%w: unknown variant 0x%x", ErrBadThreadID, variant)
	}
	rest := len(b) - n - m
	if rest < MinRandomLen {
		return ThreadID{}, fmt.Errorf("%w: random part of %d bytes, want at least %d", ErrBadThreadID, rest, MinRandomLen)
	}
	if rest > maxRandomLen {
		return ThreadID{}, fmt.Errorf("%w: random part of %d bytes, want at most %d", ErrBadThreadID, rest, maxRandomLen)
	}
	return ThreadID{raw: string(b)}, nil
}

// ParseThreadID decodes a thread ID written in any multibase.
func ParseThreadID(s string) (ThreadID, error) {
	if s == "" {
		return ThreadID{}, fmt.Errorf("%w: empty string", ErrBadThreadID)
	}
	_, b, err := mbase.Decode(s)
	if errors.Is(err, mbase.ErrUnsupportedEncoding) {
		return ThreadID{}, fmt.Errorf("%w %q: not a multibase string", ErrBadThreadID, clip(s))
	}
	if err != nil {
		return ThreadID{}, fmt.Errorf("%w %q: %v", ErrBadThreadID, clip(s), err)
	}
	id, err := ThreadIDFromBytes(b)
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), ErrBadThreadID.Error()+": ")
		return ThreadID{}, fmt.Errorf("%w %q: %s", ErrBadThreadID, clip(s), reason)
	}
	return id, nil
}

// clip shortens what a user typed for quoting in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// Bytes returns the binary form.
func (t ThreadID) Bytes() []byte { return []byte(t.raw) }

// Defined reports whether t holds an ID (the zero value does not).
func (t ThreadID) Defined() bool { return t.raw != "" }

// Variant returns the thread's variant.
func (t ThreadID) Variant() Variant {
	_, n, err := varint.FromUvarint([]byte(t.raw))
	if err != nil {
		return 0
	}
	v, _, err := varint.FromUvarint([]byte(t.raw[n:]))
	if err != nil {
		return 0
	}
	return Variant(v)
}

// String encodes the ID in base32 multibase, the default text form.
func (t ThreadID) String() string {
	if t.raw == "" {
		return ""
	}
	s, err := mbase.Encode(mbase.Base32, []byte(t.raw))
	if err != nil {
		// Encoding to a known base cannot fail.
		panic(err)
	}
	return s
}

// Encode writes the ID in the given multibase.
func (t ThreadID) Encode(base mbase.Encoding) (string, error) {
	return mbase.Encode(base, []byte(t.raw))
}
