package views

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Every replica applies every member's events, so what one event may ask of
// a replica is bounded, by counts and sizes (never time, so that every
// replica decides alike):
//
//   - an event carries at most MaxEventOps operations, whose payloads
//     (keys, values, documents as stored, schemas, IDs) come to at most
//     MaxEventBytes, and whose documents hold at most MaxEventValues JSON
//     values (validating each costs at most MaxSchemaCost schema visits);
//     an event over any is skipped whole;
//   - an operation whose own content breaks a limit (a document or value
//     too large or too deep, a key or ID too long, a schema whose cost can
//     blow up) is refused alone, like an operation the ACL refuses.
//
// Skipped events and refused operations change nothing but the cursor, on
// every replica alike; each node counts them (Manager.Stats) and logs them.
// Work that depends on the state an event meets rather than on the event
// (a schema change re-checking a collection, a new index filling in, an ACL
// change re-judging applied events) cannot be judged alike everywhere, as
// replicas meet an event in different states; it is bounded per document
// instead, coalesced per batch and done in bounded chunks (see recheck.go).
//
// MaxEventOps (ops.go) is the same bound as the decoder's and the writers'
// splitting: an event over it is never written by this software.
const (
	// MaxEventBytes bounds the payload of an event's operations; documents
	// count three times their size, as the canonical form of invalid UTF-8
	// is up to three times larger.
	MaxEventBytes = 8 << 20
	// MaxEventValues bounds the JSON values of the documents an event
	// puts, counted from their text.
	MaxEventValues = 1 << 16
	// MaxDocSize bounds a document's canonical JSON, and a key/value
	// entry's value, so that every view entry fits a snapshot page.
	MaxDocSize = 1 << 20
	// MaxDocDepth bounds the nesting of documents (and filters).
	MaxDocDepth = 100
	// MaxKeySize bounds document IDs and key/value keys, in bytes.
	MaxKeySize = 1024
	// maxNumberLen bounds the digits of a JSON number, whose exact value
	// schemas compare with arbitrary-precision arithmetic.
	maxNumberLen = 128
)

// Why an event is skipped or an operation refused, as Stats counts them.
const (
	// SkipMalformed counts events that carry the view operations' marker
	// but do not decode (too many operations in one list, unknown
	// fields...).
	SkipMalformed     = "malformed"
	SkipTooManyOps    = "event: too many operations"
	SkipTooManyBytes  = "event: too many bytes"
	SkipTooManyValues = "event: too many document values"
	SkipPanic         = "event: failed to apply"
	RefuseSchema      = "op: schema refused"
	RefuseDocSize     = "op: document too large"
	RefuseDocShape    = "op: document malformed or too deep"
	RefuseKeySize     = "op: key or ID too long"
	RefuseValueSize   = "op: value too large"
	RefuseIndexField  = "op: bad index field"
	RefuseCollection  = "op: bad collection name"
	RefuseMismatchID  = "op: document _id differs from its ID"
	RefuseUnknownKind = "op: unknown operation"
	RefuseACL         = "op: not allowed by the ACL"
	// RefuseHide counts puts that would hide a document (break the
	// collection's schema) from a writer without the delete role on it.
	RefuseHide = "op: would hide without the delete role"
	// SkipACLNotAllowed counts ACL operations whose author may not make
	// them (at that point, by the ACL as it stands), or malformed ones.
	SkipACLNotAllowed = "acl-not-allowed"
	// SkipACLOverCap counts document-role changes of a non-admin past
	// MaxDocRolesPerAuthor.
	SkipACLOverCap = "acl-over-cap"
)

var (
	// ErrOverBudget is wrapped by errors about writes larger than one
	// event may be (see MaxEventOps, MaxEventBytes).
	ErrOverBudget = errors.New("over the work budget of one event")
	// ErrTooLarge is wrapped by errors about keys and values over their
	// limits (see MaxKeySize, MaxDocSize).
	ErrTooLarge = errors.New("over the size limit of one operation")
)

// eventCost is what an event's operations ask of a replica, before any is
// applied: a function of the event alone.
type eventCost struct {
	ops    int
	bytes  int
	values int
}

func costOf(ops Ops) eventCost {
	c := eventCost{ops: len(ops.KV) + len(ops.Docs) + len(ops.ACL)}
	for _, op := range ops.KV {
		c.bytes += len(op.Key) + len(op.Value)
	}
	for _, op := range ops.Docs {
		c.bytes += len(op.Coll) + len(op.ID) + 3*len(op.JSON) + len(op.Field)
		if op.Kind == DocPut {
			c.values += jsonValues(op.JSON)
		}
	}
	for _, op := range ops.ACL {
		c.bytes += len(op.Peer) + len(op.Coll) + len(op.ID)
		for p, k := range op.Keys {
			c.bytes += len(p) + len(k)
		}
	}
	return c
}

// overBudget says why an event must be skipped whole, or "".
func (c eventCost) overBudget() string {
	switch {
	case c.ops > MaxEventOps:
		return SkipTooManyOps
	case c.bytes > MaxEventBytes:
		return SkipTooManyBytes
	case c.values > MaxEventValues:
		return SkipTooManyValues
	}
	return ""
}

// jsonValues bounds from above the values in a JSON text, without parsing
// it: one, plus one for each comma and each opening bracket or brace outside
// strings.
func jsonValues(b []byte) int {
	n, inString, escaped := 1, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ',' || c == '[' || c == '{':
			n++
		}
	}
	return n
}

// checkLimits is the local pre-check of a write: it refuses, with the
// reason, what every replica would skip or refuse (documents are checked
// where they are prepared, see Docs.Put; schemas where they are declared).
func checkLimits(ops Ops) error {
	for _, op := range ops.KV {
		switch {
		case len(op.Key) > MaxKeySize:
			return fmt.Errorf("%w: key of %d bytes, at most %d", ErrTooLarge, len(op.Key), MaxKeySize)
		case len(op.Value) > MaxDocSize:
			return fmt.Errorf("%w: value of %d bytes, at most %d", ErrTooLarge, len(op.Value), MaxDocSize)
		}
	}
	c := costOf(ops)
	switch c.overBudget() {
	case SkipTooManyOps:
		return fmt.Errorf("%w: %w: %d, at most %d", ErrOverBudget, ErrTooManyOps, c.ops, MaxEventOps)
	case SkipTooManyBytes:
		return fmt.Errorf("%w: %d bytes of operations, at most %d", ErrOverBudget, c.bytes, MaxEventBytes)
	case SkipTooManyValues:
		return fmt.Errorf("%w: documents of about %d JSON values, at most %d", ErrOverBudget, c.values, MaxEventValues)
	}
	return nil
}

// applyReport is what applying one event skipped or refused.
type applyReport struct {
	skipped string         // why the whole event was skipped; "" if it was not
	detail  string         // more on why, for the log
	refused map[string]int // refused operations, by reason
}

func (r *applyReport) refuse(reason string) {
	if r.refused == nil {
		r.refused = map[string]int{}
	}
	r.refused[reason]++
}

func (r *applyReport) empty() bool { return r.skipped == "" && len(r.refused) == 0 }

// String describes the report for the log.
func (r *applyReport) String() string {
	if r.skipped != "" && r.detail != "" {
		return "skipped (" + r.skipped + ": " + r.detail + ")"
	}
	if r.skipped != "" {
		return "skipped (" + r.skipped + ")"
	}
	reasons := make([]string, 0, len(r.refused))
	for k := range r.refused {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%d %s", r.refused[k], strings.TrimPrefix(k, "op: "))
	}
	return "operations refused: " + strings.Join(parts, ", ")
}
