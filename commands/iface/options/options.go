// Package options holds the functional options of the threads API
// (commands/iface), in the style of Kubo's coreiface/options: each method's
// options are built by a namespace variable (options.Log.Since(4)) and read
// by the implementations through the matching ...Options function, which
// applies them to the defaults.
package options

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/ipel"
)

// apply runs opts on s in order and returns the first error.
func apply[S any, O ~func(*S) error](s *S, opts []O) (*S, error) {
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ThreadCreateSettings are the options of Threads().Create.
type ThreadCreateSettings struct {
	Variant ipel.Variant
}

// ThreadCreateOption sets an option of Threads().Create.
type ThreadCreateOption func(*ThreadCreateSettings) error

// ThreadCreateOptions applies opts to the defaults: a raw thread.
func ThreadCreateOptions(opts ...ThreadCreateOption) (*ThreadCreateSettings, error) {
	return apply(&ThreadCreateSettings{Variant: ipel.VariantRaw}, opts)
}

type threadOpts struct{}

// Thread builds the options of Threads().Create.
var Thread threadOpts

// Variant makes a thread of the variant: ipel.VariantRaw (every member
// holds the same keys) or ipel.VariantAccessControlled (roles in an ACL).
func (threadOpts) Variant(v ipel.Variant) ThreadCreateOption {
	return func(s *ThreadCreateSettings) error {
		if !v.Valid() {
			return fmt.Errorf("unknown thread variant %s (want raw or acl)", v)
		}
		s.Variant = v
		return nil
	}
}

// EventAddSettings are the options of Events().Add.
type EventAddSettings struct {
	// To, when set, seals the body to that peer: a private event.
	To peer.ID
}

// EventAddOption sets an option of Events().Add.
type EventAddOption func(*EventAddSettings) error

// EventAddOptions applies opts to the defaults: an ordinary event.
func EventAddOptions(opts ...EventAddOption) (*EventAddSettings, error) {
	return apply(&EventAddSettings{}, opts)
}

type eventOpts struct{}

// Event builds the options of Events().Add.
var Event eventOpts

// To seals the event's body to one peer (its peer ID must embed an Ed25519
// key): every member sees the event, only that peer reads its body.
func (eventOpts) To(p peer.ID) EventAddOption {
	return func(s *EventAddSettings) error {
		s.To = p
		return nil
	}
}

// LogSettings are the options of Events().Log.
type LogSettings struct {
	// Log, when set, keeps that log's events only.
	Log ipel.LogID
	// Since skips each log's events up to and including this seq.
	Since uint64
	// Limit caps the number of events (0: all).
	Limit int
}

// LogOption sets an option of Events().Log.
type LogOption func(*LogSettings) error

// LogOptions applies opts to the defaults: every event of every log.
func LogOptions(opts ...LogOption) (*LogSettings, error) {
	return apply(&LogSettings{}, opts)
}

type logOpts struct{}

// Log builds the options of Events().Log.
var Log logOpts

// Of keeps one log's events.
func (logOpts) Of(log ipel.LogID) LogOption {
	return func(s *LogSettings) error {
		s.Log = log
		return nil
	}
}

// Since skips each log's events up to and including seq.
func (logOpts) Since(seq uint64) LogOption {
	return func(s *LogSettings) error {
		s.Since = seq
		return nil
	}
}

// ErrNegativeLimit is returned for a negative limit.
var ErrNegativeLimit = errors.New("limit must not be negative")

// Limit returns at most n events (0: all).
func (logOpts) Limit(n int) LogOption {
	return func(s *LogSettings) error {
		if n < 0 {
			return ErrNegativeLimit
		}
		s.Limit = n
		return nil
	}
}

// ListenSettings are the options of Events().Listen.
type ListenSettings struct {
	// Since starts after this seq in each log.
	Since uint64
}

// ListenOption sets an option of Events().Listen.
type ListenOption func(*ListenSettings) error

// ListenOptions applies opts to the defaults: from each log's first event.
func ListenOptions(opts ...ListenOption) (*ListenSettings, error) {
	return apply(&ListenSettings{}, opts)
}

type listenOpts struct{}

// Listen builds the options of Events().Listen.
var Listen listenOpts

// Since starts after seq in each log.
func (listenOpts) Since(seq uint64) ListenOption {
	return func(s *ListenSettings) error {
		s.Since = seq
		return nil
	}
}

// InviteSettings are the options of Sharing().Invite.
type InviteSettings struct {
	// Role names the invitee's role: write, follow, and in
	// access-controlled threads also read and delete.
	Role string
}

// InviteOption sets an option of Sharing().Invite.
type InviteOption func(*InviteSettings) error

// InviteOptions applies opts to the defaults: a writer.
func InviteOptions(opts ...InviteOption) (*InviteSettings, error) {
	return apply(&InviteSettings{Role: "write"}, opts)
}

type inviteOpts struct{}

// Invite builds the options of Sharing().Invite.
var Invite inviteOpts

// Role invites as write, follow, and in access-controlled threads also
// read or delete.
func (inviteOpts) Role(name string) InviteOption {
	return func(s *InviteSettings) error {
		s.Role = name
		return nil
	}
}

// JoinSettings are the options of Sharing().Join.
type JoinSettings struct {
	// Snapshot starts a raw thread from the inviter's latest snapshot.
	Snapshot bool
}

// JoinOption sets an option of Sharing().Join.
type JoinOption func(*JoinSettings) error

// JoinOptions applies opts to the defaults: take the inviter's snapshot.
func JoinOptions(opts ...JoinOption) (*JoinSettings, error) {
	return apply(&JoinSettings{Snapshot: true}, opts)
}

type joinOpts struct{}

// Join builds the options of Sharing().Join.
var Join joinOpts

// Snapshot says whether a raw thread starts from the inviter's latest
// snapshot (true, the default) or replays the whole history (false).
func (joinOpts) Snapshot(use bool) JoinOption {
	return func(s *JoinSettings) error {
		s.Snapshot = use
		return nil
	}
}

// KVListSettings are the options of KV().List.
type KVListSettings struct {
	// Prefix keeps the keys under it ("/a" matches "/a/b", not "/ab").
	Prefix string
	// KeysOnly lists keys without values.
	KeysOnly bool
}

// KVListOption sets an option of KV().List.
type KVListOption func(*KVListSettings) error

// KVListOptions applies opts to the defaults: every key, with its value.
func KVListOptions(opts ...KVListOption) (*KVListSettings, error) {
	return apply(&KVListSettings{}, opts)
}

type kvOpts struct{}

// KV builds the options of KV().List.
var KV kvOpts

// Prefix keeps the keys under prefix.
func (kvOpts) Prefix(prefix string) KVListOption {
	return func(s *KVListSettings) error {
		s.Prefix = prefix
		return nil
	}
}

// KeysOnly lists keys without their values.
func (kvOpts) KeysOnly(only bool) KVListOption {
	return func(s *KVListSettings) error {
		s.KeysOnly = only
		return nil
	}
}

// CollectionSettings are the options of Docs().AddCollection.
type CollectionSettings struct {
	// Schema is the collection's JSON Schema; none when empty.
	Schema []byte
}

// CollectionOption sets an option of Docs().AddCollection.
type CollectionOption func(*CollectionSettings) error

// CollectionOptions applies opts to the defaults: no schema.
func CollectionOptions(opts ...CollectionOption) (*CollectionSettings, error) {
	return apply(&CollectionSettings{}, opts)
}

type collectionOpts struct{}

// Collection builds the options of Docs().AddCollection.
var Collection collectionOpts

// Schema sets the JSON Schema that every document of the collection must
// meet.
func (collectionOpts) Schema(schema []byte) CollectionOption {
	return func(s *CollectionSettings) error {
		s.Schema = schema
		return nil
	}
}

// QuerySettings are the options of Docs().Query.
type QuerySettings struct {
	// Filter is a JSON filter (views.ParseFilter); every document when
	// empty.
	Filter []byte
	// Sort orders by fields, "-field" for descending.
	Sort []string
	// Limit keeps at most that many documents (0: all); Skip drops that
	// many first.
	Limit int
	Skip  int
}

// QueryOption sets an option of Docs().Query.
type QueryOption func(*QuerySettings) error

// QueryOptions applies opts to the defaults: every document, in _id order.
func QueryOptions(opts ...QueryOption) (*QuerySettings, error) {
	return apply(&QuerySettings{}, opts)
}

type queryOpts struct{}

// Query builds the options of Docs().Query.
var Query queryOpts

// Filter selects the documents that match a JSON filter, such as
// {"age": {"$gt": 30}}.
func (queryOpts) Filter(filter string) QueryOption {
	return func(s *QuerySettings) error {
		s.Filter = []byte(filter)
		return nil
	}
}

// Sort orders by the fields, in turn ("-field": descending).
func (queryOpts) Sort(fields ...string) QueryOption {
	return func(s *QuerySettings) error {
		s.Sort = append(s.Sort, fields...)
		return nil
	}
}

// Limit keeps at most n documents (0: all).
func (queryOpts) Limit(n int) QueryOption {
	return func(s *QuerySettings) error {
		s.Limit = n
		return nil
	}
}

// Skip drops the first n documents.
func (queryOpts) Skip(n int) QueryOption {
	return func(s *QuerySettings) error {
		s.Skip = n
		return nil
	}
}

// ChangesSettings are the options of Docs().Listen.
type ChangesSettings struct {
	// Since starts after this change number.
	Since uint64
}

// ChangesOption sets an option of Docs().Listen.
type ChangesOption func(*ChangesSettings) error

// ChangesOptions applies opts to the defaults: from the first change.
func ChangesOptions(opts ...ChangesOption) (*ChangesSettings, error) {
	return apply(&ChangesSettings{}, opts)
}

type changesOpts struct{}

// Changes builds the options of Docs().Listen.
var Changes changesOpts

// Since starts after change number n.
func (changesOpts) Since(n uint64) ChangesOption {
	return func(s *ChangesSettings) error {
		s.Since = n
		return nil
	}
}

// GrantSettings are the options of ACL().Grant.
type GrantSettings struct {
	// Admin also makes the peer an admin of the ACL.
	Admin bool
}

// GrantOption sets an option of ACL().Grant.
type GrantOption func(*GrantSettings) error

// GrantOptions applies opts to the defaults: the role alone.
func GrantOptions(opts ...GrantOption) (*GrantSettings, error) {
	return apply(&GrantSettings{}, opts)
}

type grantOpts struct{}

// Grant builds the options of ACL().Grant.
var Grant grantOpts

// Admin also makes the peer an admin of the ACL.
func (grantOpts) Admin(admin bool) GrantOption {
	return func(s *GrantSettings) error {
		s.Admin = admin
		return nil
	}
}

// RevokeSettings are the options of ACL().Revoke.
type RevokeSettings struct {
	// AdminOnly takes only the admin right, not the role.
	AdminOnly bool
}

// RevokeOption sets an option of ACL().Revoke.
type RevokeOption func(*RevokeSettings) error

// RevokeOptions applies opts to the defaults: the role and the admin right.
func RevokeOptions(opts ...RevokeOption) (*RevokeSettings, error) {
	return apply(&RevokeSettings{}, opts)
}

type revokeOpts struct{}

// Revoke builds the options of ACL().Revoke.
var Revoke revokeOpts

// AdminOnly takes only the admin right.
func (revokeOpts) AdminOnly(only bool) RevokeOption {
	return func(s *RevokeSettings) error {
		s.AdminOnly = only
		return nil
	}
}
