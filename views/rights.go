package views

// The role each content operation needs, in one table that both the
// replicas' enforcement (applyEnv.enforce) and a node's check of its own
// writes (Manager.checkOps) read, so a node refuses exactly what every
// replica would ignore.
//
//	key/value put                      write
//	key/value delete                   delete
//	document put                       write on the document (delete when it would hide a visible document)
//	document delete                    delete on the document
//	collection declaration or schema   delete (a schema can hide documents)
//	index declaration or drop          delete (each re-reads the collection)
//
// A document put that would hide a visible document (one that breaks the
// collection's schema) depends on the views' state, so the documents
// reducer judges it (docReducer.counts).

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
