package iface

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/threads"
	"github.com/kubo-threads/kubo-threads/views"
)

// The kinds of errors of the API. Every error the caller can fix is of one
// kind; other errors (a disk failing, the node stopping) are of none.
var (
	// ErrNotFound: what the call names does not exist here (a thread, an
	// event, a log, a key, a collection, a document, an index, a snapshot).
	ErrNotFound = errors.New("not found")
	// ErrBadInput: an argument is malformed or does not apply (an empty
	// body, a document that breaks its schema, a bad filter, an invite for
	// another peer, an ACL call on a raw thread).
	ErrBadInput = errors.New("bad input")
	// ErrNotAllowed: this node may not do it (it holds no log or no read
	// key in the thread, its role in the ACL does not allow it, the event
	// is private to another peer).
	ErrNotAllowed = errors.New("not allowed")
)

// Errors of the API itself; their messages end the errors that wrap them.
var (
	// ErrPrivateEvent: the event's body is sealed to another peer.
	ErrPrivateEvent = errors.New("only that peer can read its body")
	// ErrNotAuthentic: a private event to this node whose sealed key was
	// made for another event (its writer copied it).
	ErrNotAuthentic = errors.New("its writer copied a private event sealed for another event")
)

// known lists the sentinel errors the API returns, with their kinds. Their
// messages are part of the API: the RPC API carries an error as its message
// alone, and ParseError finds them in it.
var known = []struct{ err, kind error }{
	{threads.ErrThreadNotFound, ErrNotFound},
	{threads.ErrEventNotFound, ErrNotFound},
	{threads.ErrLogNotFound, ErrNotFound},
	{threads.ErrNoSnapshot, ErrNotFound},
	{threads.ErrCompacted, ErrNotFound},
	{views.ErrUnknownCollection, ErrNotFound},
	{views.ErrDocNotFound, ErrNotFound},
	{views.ErrNoIndex, ErrNotFound},

	{threads.ErrEmptyBody, ErrBadInput},
	{threads.ErrBodyTooLarge, ErrBadInput},
	{threads.ErrBadRecipient, ErrBadInput},
	{threads.ErrNoReadRole, ErrBadInput},
	{threads.ErrNoCompaction, ErrBadInput},
	{threads.ErrAlreadyMember, ErrBadInput},
	{codec.ErrBadInvite, ErrBadInput},
	{views.ErrBadDocument, ErrBadInput},
	{views.ErrSchema, ErrBadInput},
	{views.ErrBadQuery, ErrBadInput},
	{views.ErrBadCollection, ErrBadInput},
	{views.ErrBadField, ErrBadInput},
	{views.ErrBadSchema, ErrBadInput},
	{views.ErrNotAccessControlled, ErrBadInput},
	{views.ErrNoCompaction, ErrBadInput},
	{views.ErrTooManyIndexes, ErrBadInput},
	{views.ErrTooManyOps, ErrBadInput},
	{views.ErrOverBudget, ErrBadInput},
	{views.ErrTooLarge, ErrBadInput},

	{threads.ErrNotWriter, ErrNotAllowed},
	{threads.ErrNoReadKey, ErrNotAllowed},
	{threads.ErrNeedEd25519, ErrNotAllowed},
	{views.ErrForbidden, ErrNotAllowed},
	{ErrPrivateEvent, ErrNotAllowed},
	{ErrNotAuthentic, ErrNotAllowed},
}

// kindError is an error marked with its kind; its message is the error's.
type kindError struct{ err, kind error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// Kind returns the kind of err: ErrNotFound, ErrBadInput, ErrNotAllowed,
// or nil.
func Kind(err error) error {
	for _, k := range []error{ErrNotFound, ErrBadInput, ErrNotAllowed} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// Classify marks err with the kind of the first sentinel error it wraps,
// keeping its message and what it wraps. It returns err as it is when it
// has a kind already, or wraps no sentinel error of the API.
func Classify(err error) error {
	if err == nil || Kind(err) != nil {
		return err
	}
	for _, k := range known {
		if errors.Is(err, k.err) {
			return &kindError{err: err, kind: k.kind}
		}
	}
	return err
}

// BadInput returns an error of kind ErrBadInput with the message that
// fmt.Errorf makes.
func BadInput(format string, args ...any) error {
	return &kindError{err: fmt.Errorf(format, args...), kind: ErrBadInput}
}

// remoteError is an error a node reported by its message: errors.Is holds
// for the sentinel errors the message names, and for their kind.
type remoteError struct {
	msg string
	is  []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.is }

// ParseError reads an error that crossed the RPC API, where an error is its
// message (and whether it is the caller's: HTTP 400). The result has the
// message, and errors.Is holds for every sentinel error of the API the
// message contains and for its kind; without one, a message that says
// "not found" is of kind ErrNotFound, and another error of the caller's
// is of kind ErrBadInput. This is how Kubo's own client reads
// ipld.ErrNotFound back from its messages; a message that quotes the
// caller's input could name a sentinel it does not come from.
func ParseError(msg string, callers bool) error {
	e := &remoteError{msg: msg}
	kinds := map[error]bool{}
	for _, k := range known {
		if strings.Contains(msg, k.err.Error()) {
			e.is = append(e.is, k.err)
			if !kinds[k.kind] {
				e.is, kinds[k.kind] = append(e.is, k.kind), true
			}
		}
	}
	switch {
	case len(e.is) > 0:
	case strings.Contains(msg, " "+ErrNotFound.Error()):
		e.is = []error{ErrNotFound}
	case callers:
		e.is = []error{ErrBadInput}
	}
	return e
}

// MarkBadInput marks err as being of kind ErrBadInput, keeping its message.
func MarkBadInput(err error) error {
	if err == nil || Kind(err) != nil {
		return err
	}
	return &kindError{err: err, kind: ErrBadInput}
}
