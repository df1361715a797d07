package views

import "github.com/libp2p/go-libp2p/core/peer"

// The role each content operation needs, in one table that the replicas'
// enforcement (ACL.allowed, also what re-judging compares), and a node's
// check of its own writes (Manager.checkOps) read, so a node refuses
// exactly what every replica would ignore.
//
//	key/value put                      write
//	key/value delete                   delete
//	document put                       write on the document (delete when it would hide a visible document)
//	document delete                    delete on the document
//	collection declaration or schema   delete (a schema can hide documents)
//	index declaration or drop          delete (one that changes the indexes fills or empties one)
//
// A document put that would hide a visible document (one that breaks the
// collection's schema) depends on the views' state, so the documents
// reducer judges it (docReducer.counts, by ACL.mayHide), not ACL.allowed:
// what ACL.allowed says is a function of the ACL and the event alone.

// kvNeeds is the role a key/value operation needs.
func kvNeeds(op KVOp) Role {
	if op.Delete {
		return RoleDelete
	}
	return RoleWrite
}

// docNeeds is the role a document operation needs; onDoc says whether it
// is judged by the author's role on the document rather than in the
// thread.
func docNeeds(op DocOp) (need Role, onDoc bool) {
	switch op.Kind {
	case DocPut:
		return RoleWrite, true
	case DocDelete:
		return RoleDelete, true
	}
	return RoleDelete, false
}

// judgeDoc returns the role a peer's event at seq holds for a document
// operation, and the role the operation needs.
func (a *ACL) judgeDoc(peer string, seq uint64, op DocOp) (got, need Role) {
	need, onDoc := docNeeds(op)
	if onDoc {
		return a.DocRole(op.Coll, op.ID, peer, seq), need
	}
	return a.Role(peer, seq), need
}

// allowed returns an event's content operations with those its writer may
// not make at its seq blanked, by the table above.
func (a *ACL) allowed(author string, seq uint64, ops Ops) Ops {
	role := a.Role(author, seq)
	kv := append([]KVOp(nil), ops.KV...)
	for i, op := range kv {
		if role < kvNeeds(op) {
			kv[i] = KVOp{}
		}
	}
	docs := append([]DocOp(nil), ops.Docs...)
	for i, op := range docs {
		if got, need := a.judgeDoc(author, seq, op); got < need {
			docs[i] = DocOp{}
		}
	}
	ops.KV, ops.Docs = kv, docs
	return ops
}

// mayHide says whether the author of a write may hide a document: the
// delete role on it, at the write's seq.
func (a *ACL) mayHide(coll, id string, v Version) bool {
	return a.DocRole(coll, id, peer.ID(v.Log).String(), v.Seq) >= RoleDelete
}
