package threads

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// In an access-controlled thread the log a node writes is keyed by the
// node's own identity, so a log ID is the writer's peer ID and the ACL (a
// view, see package views) can speak of peers. The thread ID commits to its
// creator (ipel.NewACLThreadID), the ACL's first admin. The read key
// rotates when a reader is revoked: the engine keeps every read key it was
// given, seals new headers with the current one and opens headers with
// whichever fits.

// ErrNeedEd25519 is returned when an access-controlled thread needs the
// node's identity key and it is not Ed25519.
var ErrNeedEd25519 = errors.New("access-controlled threads need an Ed25519 node identity")

// identityLog returns the node's identity as a log identity.
func (s *Service) identityLog() (crypto.PrivKey, ipel.LogID, error) {
	sk := s.deps.Identity
	if sk == nil || sk.Type() != crypto.Ed25519 {
		return nil, "", ErrNeedEd25519
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, "", fmt.Errorf("identity: %w", err)
	}
	return sk, ipel.LogID(id), nil
}

// Self is this node's peer ID ("" without an identity).
func (s *Service) Self() peer.ID {
	if s.deps.Identity == nil {
		return ""
	}
	id, _ := peer.IDFromPrivateKey(s.deps.Identity)
	return id
}

// openHeader opens an event's header with the current read key, or an
// earlier one (events sealed before a rotation, or by a writer that had not
// yet seen it).
func (th *thread) openHeader(ev *codec.Event) (codec.Header, error) {
	h, err := ev.OpenHeader(th.read.Load())
	if err == nil {
		return h, nil
	}
	th.keysMu.Lock()
	old := th.oldRead
	th.keysMu.Unlock()
	for i := len(old) - 1; i >= 0; i-- {
		if h, oerr := ev.OpenHeader(old[i]); oerr == nil {
			return h, nil
		}
	}
	return codec.Header{}, err
}

// SetCurrentReadKey makes key the thread's current read key: headers of
// events this node appends are sealed with it. The keys held before stay
// for reading older events. Setting the current key again does nothing.
func (s *Service) SetCurrentReadKey(ctx context.Context, tid ipel.ThreadID, key *codec.Key) error {
	th, err := s.thread(tid)
	if err != nil {
		return err
	}
	th.keysMu.Lock()
	defer th.keysMu.Unlock()
	if th.read.Load() == nil {
		return fmt.Errorf("rotate read key of %s: %w", tid, ErrNoReadKey)
	}
	if th.read.Load().Equal(key) {
		return nil
	}
	old := append([]*codec.Key(nil), th.oldRead...)
	kept := old[:0]
	for _, k := range old {
		if !k.Equal(key) {
			kept = append(kept, k)
		}
	}
	kept = append(kept, th.read.Load())
	rec, err := s.loadThreadRecord(ctx, tid)
	if err != nil {
		return err
	}
	rec.Read = key.Bytes()
	rec.OldRead = rec.OldRead[:0]
	for _, k := range kept {
		rec.OldRead = append(rec.OldRead, k.Bytes())
	}
	if err := putCBOR(ctx, s.deps.Datastore, threadKey(tid), rec); err != nil {
		return err
	}
	if err := s.deps.Datastore.Sync(ctx, threadKey(tid)); err != nil {
		return err
	}
	th.read.Store(key)
	th.oldRead = kept
	return nil
}

func (s *Service) loadThreadRecord(ctx context.Context, tid ipel.ThreadID) (*threadRecord, error) {
	var rec threadRecord
	if err := getCBOR(ctx, s.deps.Datastore, threadKey(tid), &rec); err != nil {
		return nil, fmt.Errorf("thread %s: %w", tid, err)
	}
	return &rec, nil
}

// SealToPeer seals data (such as a rotated read key) to a peer's public
// key, which its peer ID embeds; only that peer's identity opens it.
func SealToPeer(to peer.ID, data []byte) ([]byte, error) {
	pk, err := to.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("seal to %s: the peer ID does not embed its public key: %w", to, err)
	}
	return codec.SealToKey(pk, data)
}

// OpenSealed opens data sealed to this node's identity.
func (s *Service) OpenSealed(sealed []byte) ([]byte, error) {
	if s.deps.Identity == nil {
		return nil, errors.New("this node has no identity key")
	}
	return codec.OpenWithKey(s.deps.Identity, sealed)
}

// newOwnLog makes the identity of the log this node writes in a thread: a
// fresh key, or the node's identity in an access-controlled thread.
func (s *Service) newOwnLog(tid ipel.ThreadID) (sk crypto.PrivKey, id ipel.LogID, identity bool, err error) {
	if tid.Variant() == ipel.VariantAccessControlled {
		sk, id, err = s.identityLog()
		return sk, id, true, err
	}
	sk, id, err = ipel.NewLogIdentity()
	return sk, id, false, err
}
