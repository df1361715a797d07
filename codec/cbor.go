package codec

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// cidTag is the CBOR tag DAG-CBOR uses for links.
const cidTag = 42

// Link is a CID that encodes as a DAG-CBOR link (tag 42, 0x00 || CID bytes).
type Link struct{ cid.Cid }

// MarshalCBOR implements cbor.Marshaler.
func (l Link) MarshalCBOR() ([]byte, error) {
	if !l.Defined() {
		return []byte{0xf6}, nil // null
	}
	raw := append([]byte{0}, l.Bytes()...)
	return encMode.Marshal(cbor.Tag{Number: cidTag, Content: raw})
}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (l *Link) UnmarshalCBOR(data []byte) error {
	if len(data) == 1 && data[0] == 0xf6 {
		l.Cid = cid.Undef
		return nil
	}
	var tag cbor.RawTag
	if err := decMode.Unmarshal(data, &tag); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if tag.Number != cidTag {
		return fmt.Errorf("link: tag %d, want %d", tag.Number, cidTag)
	}
	var raw []byte
	if err := decMode.Unmarshal(tag.Content, &raw); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if len(raw) < 2 || raw[0] != 0 {
		return fmt.Errorf("link: missing multibase identity prefix")
	}
	c, err := cid.Cast(raw[1:])
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	l.Cid = c
	return nil
}

// encMode writes canonical CBOR (RFC 7049 key order), which is also the key
// order DAG-CBOR requires, so that every encoding is deterministic.
var encMode = func() cbor.EncMode {
	m, err := cbor.EncOptions{
		Sort:          cbor.SortCanonical,
		IndefLength:   cbor.IndefLengthForbidden,
		ShortestFloat: cbor.ShortestFloatNone,
		Time:          cbor.TimeUnix,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// MaxContainerLen is the most entries a decoded array or map may hold;
// encoders of data that crosses the network keep under it.
const MaxContainerLen = 4096

// decMode rejects anything a canonical encoder would not have produced
// where it matters: duplicate keys, indefinite lengths, unknown fields, and
// oversized containers.
var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxArrayElements:  MaxContainerLen,
		MaxMapPairs:       MaxContainerLen,
		MaxNestedLevels:   16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// lenientDecMode is decMode that skips fields the target does not name: for
// reading a few fields of a larger structure.
var lenientDecMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
		MaxNestedLevels:  16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// Marshal encodes v as deterministic CBOR.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// Unmarshal decodes strict CBOR into v.
func Unmarshal(data []byte, v any) error { return decMode.Unmarshal(data, v) }
