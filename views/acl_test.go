package views

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
)

// testPeer returns the peer ID of a fixed Ed25519 key: the ACL names peers
// by their IDs and refuses anything else.
func testPeer(name string) string {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		panic(err)
	}
	return id.String()
}

func aclRec(author string, seq uint64, wall int64, op ACLOp) aclRecord {
	return aclRecord{Op: op, Author: author, Seq: seq, Version: Version{Clock: codec.Clock{Wall: wall}, Log: []byte(author), Seq: seq}}
}

func TestACLRolesAdminsAndBackdating(t *testing.T) {
	creator, alice, bob, mallory := testPeer("C"), testPeer("A"), testPeer("B"), testPeer("M")
	recs := []aclRecord{
		aclRec(creator, 1, 10, ACLOp{Kind: ACLSetRole, Peer: alice, Role: RoleWrite, From: 1}),
		aclRec(creator, 2, 20, ACLOp{Kind: ACLSetAdmin, Peer: alice, Admin: true, From: 1}),
		aclRec(alice, 1, 30, ACLOp{Kind: ACLSetRole, Peer: bob, Role: RoleRead, From: 1}),
		// Mallory, a non-admin, grants itself write: invalid.
		aclRec(mallory, 1, 35, ACLOp{Kind: ACLSetRole, Peer: mallory, Role: RoleWrite, From: 1}),
		// The creator revokes Alice's admin right from her seq 3 on.
		aclRec(creator, 3, 40, ACLOp{Kind: ACLSetAdmin, Peer: alice, Admin: false, From: 3}),
		// Alice, revoked, backdates an operation at seq 3 to before it: it
		// must not count.
		aclRec(alice, 3, 5, ACLOp{Kind: ACLSetRole, Peer: bob, Role: RoleDelete, From: 1}),
	}
	acl := ResolveACL(creator, recs)
	if got := acl.Role(bob, 100); got != RoleRead {
		t.Fatalf("bob: %s, want read (the backdated grant must be excluded)", got)
	}
	if got := acl.Role(mallory, 5); got != RoleNone {
		t.Fatalf("mallory granted itself %s", got)
	}
	if !acl.Admin(alice, 2) || acl.Admin(alice, 3) {
		t.Fatal("alice's admin right: want it at seq 2, not from seq 3")
	}
	if acl.Role(creator, 1) != RoleDelete || !acl.Admin(creator, 1) {
		t.Fatal("the creator starts as admin with delete")
	}
	if acl.Rejected != 2 {
		t.Fatalf("%d rejected, want 2", acl.Rejected)
	}
	// Write revoked from seq 7: events up to 6 keep write.
	recs = append(recs, aclRec(creator, 4, 50, ACLOp{Kind: ACLSetRole, Peer: alice, Role: RoleRead, From: 7}))
	acl = ResolveACL(creator, recs)
	if acl.Role(alice, 6) != RoleWrite || acl.Role(alice, 7) != RoleRead {
		t.Fatalf("alice at 6: %s, at 7: %s", acl.Role(alice, 6), acl.Role(alice, 7))
	}
}

// TestACLConvergenceProperty: concurrent grants and revokes by several
// admins, in random orders with duplicates, resolve to the same ACL.
func TestACLConvergenceProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	peers := []string{testPeer("C"), testPeer("A"), testPeer("B"), testPeer("D")}
	for round := 0; round < 200; round++ {
		var recs []aclRecord
		seqs := map[string]uint64{} // (log, seq) names one event
		for i := 0; i < 12; i++ {
			author := peers[rng.IntN(len(peers))]
			seqs[author] += uint64(1 + rng.IntN(2))
			op := ACLOp{Peer: peers[rng.IntN(len(peers))], From: uint64(rng.IntN(6))}
			switch rng.IntN(4) {
			case 0:
				op.Kind, op.Admin = ACLSetAdmin, rng.IntN(2) == 0
			case 1:
				op.Kind, op.Role = ACLSetDefault, Role(rng.IntN(5))
			default:
				op.Kind, op.Role = ACLSetRole, Role(rng.IntN(5))
			}
			recs = append(recs, aclRec(author, seqs[author], int64(rng.IntN(5)), op))
		}
		want := describeACL(ResolveACL(peers[0], recs), peers)
		for replica := 0; replica < 4; replica++ {
			order := append([]aclRecord(nil), recs...)
			for i := 0; i < 4; i++ {
				order = append(order, recs[rng.IntN(len(recs))])
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			if got := describeACL(ResolveACL(peers[0], order), peers); got != want {
				t.Fatalf("round %d: replica %d resolved\n%s\nwant\n%s", round, replica, got, want)
			}
		}
	}
}

func describeACL(a *ACL, peers []string) string {
	out := a.Default().String() + "\n"
	for _, p := range peers {
		for seq := uint64(0); seq < 10; seq++ {
			out += p + ":" + a.Role(p, seq).String()
			if a.Admin(p, seq) {
				out += "*"
			}
			out += " "
		}
		out += "\n"
	}
	return out
}

// TestACLExclusionSettles: a revoked admin's grant, dated before its
// revocation, stays excluded however many unrelated records come along
// (the fixpoint must not alternate).
func TestACLExclusionSettles(t *testing.T) {
	creator, alice, bob := testPeer("C"), testPeer("A"), testPeer("B")
	recs := []aclRecord{
		aclRec(creator, 1, 10, ACLOp{Kind: ACLSetAdmin, Peer: alice, Admin: true, From: 1}),
		aclRec(alice, 3, 30, ACLOp{Kind: ACLSetRole, Peer: bob, Role: RoleDelete, From: 1}),
		aclRec(creator, 2, 40, ACLOp{Kind: ACLSetAdmin, Peer: alice, Admin: false, From: 2}),
	}
	for extra := 0; extra < 6; extra++ {
		if got := ResolveACL(creator, recs).Role(bob, 10); got != RoleNone {
			t.Fatalf("with %d more records: bob has %s, want none", extra, got)
		}
		recs = append(recs, aclRec(creator, uint64(3+extra), int64(50+extra), ACLOp{Kind: ACLSetDefault, Role: RoleNone}))
	}
}
