// Package codectest writes event blocks as earlier versions of the codec
// did and seals events again as any holder of a thread's follow key can,
// for tests: of stored data in old formats that must stay readable, of old
// formats that must be refused from the network, and of re-sealing attacks.
// Nothing outside tests uses it.
package codectest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"filippo.io/edwards25519"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/box"

	"github.com/kubo-threads/kubo-threads/codec"
)

// envelope is the event block's DAG-CBOR map, in every version.
type envelope struct {
	V int          `cbor:"v"`
	L []codec.Link `cbor:"l"`
	N []byte       `cbor:"n"`
}

// signingDomainV1 is the signing domain of envelope versions 1 and 2.
const signingDomainV1 = "kubo-threads/event/v1\x00"

// SealLegacy seals an event as the codec did before envelope version 3:
// version 1 (the previous event listed among the envelope's links) or 2
// (only the body block listed); the node signed under the version 1 domain
// and sealed with the follow key itself under a random nonce, the links as
// associated data. c must have its header sealed (an ordinary event from
// codec.SealContent, or LegacyPrivateContent).
func SealLegacy(version int, sk crypto.PrivKey, follow *codec.Key, pos codec.Position, c codec.Content) (blocks.Block, error) {
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("legacy envelope version %d", version)
	}
	if c.Header == nil {
		return nil, fmt.Errorf("content without a sealed header")
	}
	n := codec.Node{
		Thread: pos.Thread.Bytes(), Log: []byte(pos.Log), Seq: pos.Seq, Clock: pos.Clock,
		Prev: codec.Link{Cid: pos.Prev}, Header: c.Header, Body: c.Body,
	}
	if c.BodyBlock != nil {
		n.BodyLink = codec.Link{Cid: c.BodyBlock.Cid()}
	}
	unsigned, err := codec.Marshal(&n)
	if err != nil {
		return nil, err
	}
	if n.Sig, err = sk.Sign(append([]byte(signingDomainV1), unsigned...)); err != nil {
		return nil, err
	}
	return sealLegacyNode(version, follow, n)
}

func sealLegacyNode(version int, follow *codec.Key, n codec.Node) (blocks.Block, error) {
	nb, err := codec.Marshal(&n)
	if err != nil {
		return nil, err
	}
	env := envelope{V: version, L: []codec.Link{}}
	if version == 1 && n.Prev.Defined() {
		env.L = append(env.L, n.Prev)
	}
	if n.BodyLink.Defined() {
		env.L = append(env.L, n.BodyLink)
	}
	ad, err := codec.Marshal(env.L)
	if err != nil {
		return nil, err
	}
	if env.N, err = follow.Seal(nb, ad); err != nil {
		return nil, err
	}
	return eventBlock(&env)
}

// Reseal seals an opened event's signed node again into a new block, as a
// follower can: in a version 2 envelope (a valid copy when the node was
// signed for version 1 or 2), or in a version 3 envelope under a random
// nonce instead of the derived one (which version 3 refuses).
func Reseal(ev *codec.Event, follow *codec.Key, version int) (blocks.Block, error) {
	switch version {
	case 1, 2:
		return sealLegacyNode(version, follow, ev.Node)
	case 3:
		nb, err := codec.Marshal(&ev.Node)
		if err != nil {
			return nil, err
		}
		links := []codec.Link{}
		if ev.BodyLink.Defined() {
			links = append(links, ev.BodyLink)
		}
		lb, err := codec.Marshal(links)
		if err != nil {
			return nil, err
		}
		ad := append([]byte("kubo-threads/event-node/v3\x00"), lb...)
		var key [32]byte
		kdf := hkdf.New(sha256.New, follow.Bytes(), nil, []byte("kubo-threads/follow/event-node/v3"))
		if _, err := io.ReadFull(kdf, key[:]); err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		return eventBlock(&envelope{V: 3, L: links, N: aead.Seal(nonce, nonce, nb, ad)})
	}
	return nil, fmt.Errorf("envelope version %d", version)
}

func eventBlock(env *envelope) (blocks.Block, error) {
	eb, err := codec.Marshal(env)
	if err != nil {
		return nil, err
	}
	c, err := cid.Prefix{Version: 1, Codec: codec.EventCodec, MhType: mh.SHA2_256, MhLength: -1}.Sum(eb)
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(eb, c)
}

// LegacyPrivateContent seals a private event's content as the codec did
// before sealed content keys were bound to their event: the content key
// alone sealed to the recipient, the body inline.
func LegacyPrivateContent(read *codec.Key, payload []byte, at time.Time, to crypto.PubKey) (codec.Content, error) {
	ck, err := codec.NewKey()
	if err != nil {
		return codec.Content{}, err
	}
	body, err := ck.Seal(payload, nil)
	if err != nil {
		return codec.Content{}, err
	}
	id, err := peer.IDFromPublicKey(to)
	if err != nil {
		return codec.Content{}, err
	}
	raw, err := to.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return codec.Content{}, fmt.Errorf("recipient key: %v", err)
	}
	p, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return codec.Content{}, err
	}
	var pub [32]byte
	copy(pub[:], p.BytesMontgomery())
	sealedKey, err := box.SealAnonymous(nil, append([]byte("kubo-threads/content-key/v1\x00"), ck.Bytes()...), &pub, rand.Reader)
	if err != nil {
		return codec.Content{}, err
	}
	hb, err := codec.Marshal(codec.Header{Time: at.UnixNano(), To: []byte(id), SealedKey: sealedKey})
	if err != nil {
		return codec.Content{}, err
	}
	header, err := read.Seal(hb, nil)
	if err != nil {
		return codec.Content{}, err
	}
	return codec.Content{Header: header, Body: body}, nil
}
