package threads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bstore "github.com/ipfs/boxo/blockstore"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dsq "github.com/ipfs/go-datastore/query"
	logging "github.com/ipfs/go-log/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

var log = logging.Logger("threads")

var (
	// ErrThreadNotFound is returned for a thread this node does not hold.
	ErrThreadNotFound = errors.New("thread not found")
	// ErrEventNotFound is returned for an event that is not part of the thread.
	ErrEventNotFound = errors.New("event not found in thread")
	// ErrLogNotFound is returned for a log that is not part of the thread.
	ErrLogNotFound = errors.New("log not found in thread")
	// ErrEmptyBody is returned when appending an empty body.
	ErrEmptyBody = errors.New("empty event body")
	// ErrBodyTooLarge is returned when a body exceeds the configured limit.
	ErrBodyTooLarge = errors.New("event body too large")
	// ErrNotWriter is returned when appending to a thread this node has no log in.
	ErrNotWriter = errors.New("this node has no log in the thread (follower or reader)")
	// ErrNoReadKey is returned when reading content of a thread whose read key
	// this node does not hold.
	ErrNoReadKey = errors.New("this node does not hold the thread's read key")
	// ErrClosed is returned by a closed service.
	ErrClosed = errors.New("threads service closed")
)

// Pinner keeps logs alive across garbage collection by pinning each log's
// head recursively; the event codec exposes the links to earlier events.
// Kubo's pinner implements it.
type Pinner interface {
	PinWithMode(ctx context.Context, c cid.Cid, mode pin.Mode, name string) error
	Unpin(ctx context.Context, c cid.Cid, recursive bool) error
	IsPinnedWithType(ctx context.Context, c cid.Cid, mode pin.Mode) (string, bool, error)
}

// Config tunes the engine.
type Config struct {
	// MaxBodySize is the largest body Append accepts, in bytes.
	MaxBodySize int
	// InlineBodySize is the largest sealed body kept inside the event block;
	// larger bodies are stored as a block of their own.
	InlineBodySize int
	// AntiEntropyInterval is how often every thread is synced with every
	// peer the address book knows for it.
	AntiEntropyInterval time.Duration
	// AddrTTL is how long an announced log address stays valid.
	AddrTTL time.Duration
	// AcceptFollowInvites makes this node follow (replicate and serve,
	// without reading) any thread whose follow invite is delivered to it.
	AcceptFollowInvites bool
}

// DefaultConfig returns the defaults: 1 MiB bodies, inline up to 32 KiB,
// anti-entropy every 30 s, addresses valid for 24 h.
func DefaultConfig() Config {
	return Config{MaxBodySize: 1 << 20, InlineBodySize: 32 << 10, AntiEntropyInterval: 30 * time.Second, AddrTTL: 24 * time.Hour}
}

// Deps are the effects the engine works through.
type Deps struct {
	// Datastore holds the engine's state; give it a namespace of its own.
	Datastore ds.Batching
	// Blockstore holds event and body blocks.
	Blockstore bstore.Blockstore
	// Pinner protects logs from garbage collection.
	Pinner Pinner
	// GCLocker, when set, keeps garbage collection out while an append writes
	// blocks and moves pins.
	GCLocker bstore.GCLocker
	// SyncBlocks, when set, makes blocks written to Blockstore durable. The
	// engine then keeps a journal: each commit that moves a head also
	// writes copies of the blocks it names, and a checkpoint in the
	// background (at most a second later) calls SyncBlocks for them and
	// drops the copies; a start after a crash puts back what the
	// blockstore lost. Without it the engine relies on the Datastore's Sync
	// covering the blocks too (one store for both) or on a blockstore that
	// syncs its writes. See FlatfsSync.
	SyncBlocks func(ctx context.Context, cids []cid.Cid) error
	// Now reads the wall clock; time.Now when nil.
	Now func() time.Time
	// Host, when set, connects the engine to other nodes.
	Host host.Host
	// PubSub, when set (with Host), carries new events on each thread's topic.
	PubSub *pubsub.PubSub
	// Identity is the node's libp2p private key, which opens invites.
	Identity crypto.PrivKey
	// Metrics, when set, receives the engine's Prometheus metrics.
	Metrics prometheus.Registerer
	// Faults, for tests only, drops and reorders this node's outgoing
	// pushes and publications.
	Faults Faults
}

// Service is the engine of one node.
type Service struct {
	cfg   Config
	deps  Deps
	clock *hybridClock
	pins  *pinKeeper
	net   *network // nil without a host
	met   *metrics
	// invites counts the invites received and the threads followed
	// automatically.
	invites *inviteInbox
	// journal keeps copies of new blocks until the blockstore's are
	// durable; nil when the blockstore's writes need no sync.
	journal *blockJournal

	mu      sync.RWMutex
	threads map[ipel.ThreadID]*thread
	joining map[ipel.ThreadID]bool // threads a join is adding (JoinWith)
	closed  bool
}

// thread is a thread's in-memory state.
type thread struct {
	id      ipel.ThreadID
	created time.Time
	follow  *codec.Key
	read    atomic.Pointer[codec.Key] // the current read key; nil on followers
	creator peer.ID                   // access-controlled threads: the ACL's first admin
	keysMu  sync.Mutex
	oldRead []*codec.Key // earlier read keys, oldest first (under keysMu)

	mu      sync.Mutex
	logs    map[ipel.LogID]*logState
	own     *logState                    // the log this node writes, or nil
	changed chan struct{}                // closed and replaced whenever a head moves
	lag     uint64                       // events a peer had that this node lacked, at the last sync
	blocked map[ipel.LogID]*CatchUpError // logs that cannot catch up (catchup.go)
	removed bool                         // removed or closed: no more appends or listeners
	deleted bool                         // removed: its pins are released, not moved

	// group commit: appenders queue requests; one of them at a time commits
	// every queued request and signals idle when it is done.
	queue      []*appendReq
	committing bool
	idle       *sync.Cond

	// ingestMu serialises ingestion into the thread's logs.
	ingestMu sync.Mutex
}

func newThread(tid ipel.ThreadID, created time.Time) *thread {
	th := &thread{id: tid, created: created, logs: map[ipel.LogID]*logState{}, changed: make(chan struct{})}
	th.idle = sync.NewCond(&th.mu)
	return th
}

// logState is a log's identity and head.
type logState struct {
	id ipel.LogID
	sk crypto.PrivKey // only for the log this node writes
	// identity: sk is the node's identity (access-controlled threads).
	identity bool
	head     cid.Cid
	seq      uint64
	pinned   cid.Cid // root of the retention DAG as last pinned
	// headClock is the head's hybrid clock (zero when unknown: a log
	// fast-forwarded to a snapshot's cursor); the next event's must be
	// later.
	headClock codec.Clock

	// base is the last compacted seq: events base+1..seq are held; baseCid
	// is the event at base (the prev of event base+1).
	base    uint64
	baseCid cid.Cid
	// compacted counts what compactions dropped (events, block bytes).
	compactedEvents, compactedBytes uint64

	ret *retention // the retention DAG in memory; nil until built
}

// New opens the engine on its stores and loads every thread.
func New(ctx context.Context, deps Deps, cfg Config) (*Service, error) {
	if deps.Datastore == nil || deps.Blockstore == nil || deps.Pinner == nil {
		return nil, errors.New("threads: datastore, blockstore and pinner are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if err := deps.Faults.validate(); err != nil {
		return nil, err
	}
	def := DefaultConfig()
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = def.MaxBodySize
	}
	// A sealed body is one block.
	cfg.MaxBodySize = min(cfg.MaxBodySize, codec.MaxBlockSize-codec.Overhead())
	if cfg.InlineBodySize <= 0 {
		cfg.InlineBodySize = def.InlineBodySize
	}
	if cfg.AntiEntropyInterval <= 0 {
		cfg.AntiEntropyInterval = def.AntiEntropyInterval
	}
	if cfg.AddrTTL <= 0 {
		cfg.AddrTTL = def.AddrTTL
	}
	s := &Service{cfg: cfg, deps: deps, clock: newHybridClock(deps.Now), threads: map[ipel.ThreadID]*thread{}, joining: map[ipel.ThreadID]bool{}}
	s.pins = newPinKeeper(s, deps.GCLocker)
	s.met = newMetrics(deps.Metrics)
	if deps.SyncBlocks != nil {
		if err := s.recoverBlocks(ctx); err != nil {
			return nil, err
		}
		s.journal = newBlockJournal(s)
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	invites, err := loadInbox(ctx, deps.Datastore)
	if err != nil {
		return nil, err
	}
	s.invites = invites
	if deps.Host != nil {
		book, err := ipel.NewAddrBook(ctx, namespace.Wrap(deps.Datastore, ds.NewKey("/ab")), deps.Now)
		if err != nil {
			return nil, err
		}
		s.net = newNetwork(s, deps.Host, deps.PubSub, book)
		deps.Faults.install(s.net)
		ths, _ := s.allThreads()
		s.net.start(ths)
	}
	return s, nil
}

func (s *Service) load(ctx context.Context) error {
	res, err := s.deps.Datastore.Query(ctx, dsq.Query{Prefix: "/m/"})
	if err != nil {
		return fmt.Errorf("load threads: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return fmt.Errorf("load threads: %w", err)
	}
	for _, e := range entries {
		var rec threadRecord
		if err := codec.Unmarshal(e.Value, &rec); err != nil {
			return fmt.Errorf("load thread %s: %w", e.Key, err)
		}
		th, err := s.openThread(ctx, &rec)
		if err != nil {
			return err
		}
		s.threads[th.id] = th
	}
	return nil
}

func (s *Service) openThread(ctx context.Context, rec *threadRecord) (*thread, error) {
	tid, err := ipel.ThreadIDFromBytes(rec.ID)
	if err != nil {
		return nil, fmt.Errorf("load thread: %w", err)
	}
	th := newThread(tid, time.Unix(0, rec.Created))
	th.creator = peer.ID(rec.Creator)
	if tid.Variant() == ipel.VariantAccessControlled && !tid.CreatedBy(th.creator) {
		log.Warnf("thread %s: access-controlled, but its record names no valid creator: its ACL has no admin", tid)
	}
	if th.follow, err = codec.KeyFromBytes(rec.Follow); err != nil {
		return nil, fmt.Errorf("thread %s: follow key: %w", tid, err)
	}
	if rec.Read != nil {
		read, err := codec.KeyFromBytes(rec.Read)
		if err != nil {
			return nil, fmt.Errorf("thread %s: read key: %w", tid, err)
		}
		th.read.Store(read)
		for _, b := range rec.OldRead {
			k, err := codec.KeyFromBytes(b)
			if err != nil {
				return nil, fmt.Errorf("thread %s: earlier read key: %w", tid, err)
			}
			th.oldRead = append(th.oldRead, k)
		}
	}
	res, err := s.deps.Datastore.Query(ctx, dsq.Query{Prefix: "/lg/" + tid.String() + "/"})
	if err != nil {
		return nil, fmt.Errorf("thread %s: load logs: %w", tid, err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("thread %s: load logs: %w", tid, err)
	}
	for _, e := range entries {
		var lr logRecord
		if err := codec.Unmarshal(e.Value, &lr); err != nil {
			return nil, fmt.Errorf("thread %s: log %s: %w", tid, e.Key, err)
		}
		st, err := lr.toState()
		if err != nil {
			return nil, fmt.Errorf("thread %s: %w", tid, err)
		}
		if lr.Identity {
			sk, id, err := s.identityLog()
			if err != nil || id != st.id {
				return nil, fmt.Errorf("thread %s: log %s is keyed by a node identity this node no longer has", tid, st.id)
			}
			st.sk, st.identity = sk, true
		}
		th.logs[st.id] = st
		// Records written before head clocks were kept: read the head's.
		save := lr.HeadClock == nil && st.head.Defined() && s.readHeadClock(ctx, th, st)
		if st.sk != nil {
			th.own = st
			// This node's next event in the log must be later than its head,
			// whatever the wall clock says now.
			s.clock.Advance(st.headClock)
		}
		// A crash between the head commit and the pin update leaves the
		// retention DAG behind the head: bring it up to date from the index.
		if st.head.Defined() {
			before := st.pinned
			if err := s.repin(ctx, th, st); err != nil {
				log.Warnf("thread %s: log %s: re-pin head: %s", tid, st.id, err)
			} else if !before.Equals(st.pinned) {
				save = true
			}
		}
		if save {
			if err := s.saveLog(ctx, th.id, st); err != nil {
				return nil, err
			}
		}
	}
	return th, nil
}

// readHeadClock sets a log's head clock from its head event, and reports
// whether it could (a log whose head is its compacted base has no event to
// read it from: the clock stays unknown, zero).
func (s *Service) readHeadClock(ctx context.Context, th *thread, st *logState) bool {
	if st.seq <= st.base {
		return false
	}
	blk, err := s.deps.Blockstore.Get(ctx, st.head)
	if err == nil {
		var ev *codec.Event
		if ev, err = codec.OpenStored(blk, th.follow); err == nil {
			st.headClock = ev.Clock
			return true
		}
	}
	log.Warnf("thread %s: log %s: read the head's clock: %s", th.id, st.id, err)
	return false
}

// Close stops the service. Appends and reads in flight finish or fail with
// ErrClosed; listeners return.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.net != nil {
		s.net.close()
	}
	s.mu.Lock()
	for _, th := range s.threads {
		th.mu.Lock()
		for th.committing {
			th.idle.Wait()
		}
		if !th.removed {
			th.removed = true
			close(th.changed)
		}
		th.mu.Unlock()
	}
	s.mu.Unlock()
	// Pins catch up with the heads, and GC is let in again.
	s.pins.flush(context.Background())
	if s.journal != nil {
		// Kubo may close the repo before its plugins: what the last
		// checkpoint could not finish is done at the next start.
		if err := s.journal.close(context.Background()); err != nil {
			log.Infof("block journal: %s: its blocks are checked at the next start", err)
		}
	}
	return nil
}

func (s *Service) thread(tid ipel.ThreadID) (*thread, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	th, ok := s.threads[tid]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrThreadNotFound, tid)
	}
	return th, nil
}

// ThreadInfo describes a thread as this node holds it.
type ThreadInfo struct {
	ID      ipel.ThreadID
	Variant ipel.Variant
	Created time.Time
	// HasFollowKey, HasReadKey: which thread keys this node holds.
	HasFollowKey bool
	HasReadKey   bool
	// OwnLog is the log this node writes, if any.
	OwnLog ipel.LogID
	// Creator is an access-controlled thread's creator, the ACL's first
	// admin.
	Creator peer.ID
	// ReadKeys is how many read keys this node holds: one, plus one for
	// each rotation it took part in.
	ReadKeys int
	Logs     []LogInfo
}

// LogInfo describes one log of a thread.
type LogInfo struct {
	ID   ipel.LogID
	Head cid.Cid
	Seq  uint64
	Own  bool
	// Base is the last compacted seq (0: nothing compacted); the log holds
	// events Base+1..Seq. CompactedEvents and CompactedBytes count what
	// compactions dropped.
	Base            uint64
	CompactedEvents uint64
	CompactedBytes  uint64
	// CatchUp, when set, says that the log cannot catch up: the peers that
	// serve it compacted the events this node lacks (see CatchUpError).
	CatchUp *CatchUpError
}

// CreateThread makes a new thread of the given variant with fresh follow and
// read keys and a log for this node.
func (s *Service) CreateThread(ctx context.Context, variant ipel.Variant) (ThreadInfo, error) {
	var tid ipel.ThreadID
	var creator peer.ID
	var err error
	if variant == ipel.VariantAccessControlled {
		creator = s.Self()
		if _, _, err := s.identityLog(); err != nil {
			return ThreadInfo{}, fmt.Errorf("create thread: %w", err)
		}
		tid, err = ipel.NewACLThreadID(creator)
	} else {
		tid, err = ipel.NewThreadID(variant)
	}
	if err != nil {
		return ThreadInfo{}, err
	}
	follow, err := codec.NewKey()
	if err != nil {
		return ThreadInfo{}, err
	}
	read, err := codec.NewKey()
	if err != nil {
		return ThreadInfo{}, err
	}
	sk, logID, identity, err := s.newOwnLog(tid)
	if err != nil {
		return ThreadInfo{}, err
	}
	now := s.deps.Now()
	rec := &threadRecord{ID: tid.Bytes(), Created: now.UnixNano(), Follow: follow.Bytes(), Read: read.Bytes(), Creator: []byte(creator)}
	own := &logState{id: logID, sk: sk, identity: identity}
	lr, err := own.record()
	if err != nil {
		return ThreadInfo{}, err
	}
	b, err := s.deps.Datastore.Batch(ctx)
	if err != nil {
		return ThreadInfo{}, fmt.Errorf("create thread: %w", err)
	}
	if err := putCBOR(ctx, b, threadKey(tid), rec); err != nil {
		return ThreadInfo{}, err
	}
	if err := putCBOR(ctx, b, logKey(tid, logID), lr); err != nil {
		return ThreadInfo{}, err
	}
	if err := s.commit(ctx, b); err != nil {
		return ThreadInfo{}, fmt.Errorf("create thread %s: %w", tid, err)
	}
	th := newThread(tid, now)
	th.follow, th.own, th.creator = follow, own, creator
	th.read.Store(read)
	th.logs[logID] = own
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ThreadInfo{}, ErrClosed
	}
	s.threads[tid] = th
	if s.net != nil {
		s.net.subscribe(th)
	}
	return th.info(), nil
}

// saveLog writes a log's record on its own.
func (s *Service) saveLog(ctx context.Context, tid ipel.ThreadID, st *logState) error {
	rec, err := st.record()
	if err != nil {
		return err
	}
	return putCBOR(ctx, s.deps.Datastore, logKey(tid, st.id), rec)
}

// commit commits a batch and makes it durable.
func (s *Service) commit(ctx context.Context, b ds.Batch) error {
	if err := b.Commit(ctx); err != nil {
		return err
	}
	return s.deps.Datastore.Sync(ctx, ds.NewKey("/"))
}

func (th *thread) info() ThreadInfo {
	th.mu.Lock()
	defer th.mu.Unlock()
	ti := ThreadInfo{ID: th.id, Variant: th.id.Variant(), Created: th.created, HasFollowKey: th.follow != nil, HasReadKey: th.read.Load() != nil, Creator: th.creator}
	if ti.HasReadKey {
		th.keysMu.Lock()
		ti.ReadKeys = 1 + len(th.oldRead)
		th.keysMu.Unlock()
	}
	if th.own != nil {
		ti.OwnLog = th.own.id
	}
	for _, st := range th.logs {
		ti.Logs = append(ti.Logs, LogInfo{ID: st.id, Head: st.head, Seq: st.seq, Own: st == th.own,
			Base: st.base, CompactedEvents: st.compactedEvents, CompactedBytes: st.compactedBytes, CatchUp: th.catchUpOf(st)})
	}
	sort.Slice(ti.Logs, func(i, j int) bool { return ti.Logs[i].ID < ti.Logs[j].ID })
	return ti
}

// Config returns the configuration in force.
func (s *Service) Config() Config { return s.cfg }

// Threads lists every thread this node holds, ordered by ID.
func (s *Service) Threads() ([]ThreadInfo, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	ths := make([]*thread, 0, len(s.threads))
	for _, th := range s.threads {
		ths = append(ths, th)
	}
	s.mu.RUnlock()
	out := make([]ThreadInfo, 0, len(ths))
	for _, th := range ths {
		out = append(out, th.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out, nil
}

// Info describes one thread.
func (s *Service) Info(tid ipel.ThreadID) (ThreadInfo, error) {
	th, err := s.thread(tid)
	if err != nil {
		return ThreadInfo{}, err
	}
	return th.info(), nil
}

// RemoveThread forgets a thread: its keys, logs, index and pins. Its blocks
// stay in the blockstore until the next garbage collection.
func (s *Service) RemoveThread(ctx context.Context, tid ipel.ThreadID) error {
	th, err := s.thread(tid)
	if err != nil {
		return err
	}
	// Wait for commits in flight, then mark it removed so none start.
	th.mu.Lock()
	for th.committing {
		th.idle.Wait()
	}
	if th.removed { // removed or closed meanwhile
		th.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrThreadNotFound, tid)
	}
	th.removed, th.deleted = true, true
	close(th.changed)
	th.mu.Unlock()
	// Ingestion in flight finishes (and later ones refuse a removed thread).
	th.ingestMu.Lock()
	th.ingestMu.Unlock() //nolint:staticcheck // a barrier, not a critical section

	s.mu.Lock()
	delete(s.threads, tid)
	s.mu.Unlock()
	// Let a pin move in flight finish, so the pins read below are the last.
	s.pins.flush(context.WithoutCancel(ctx))
	s.invites.dropInvites(tid)
	s.invites.unfollow(tid)
	if s.net != nil {
		s.net.dropPending(tid)
	}
	s.met.lag.DeleteLabelValues(tid.String())
	if s.net != nil {
		s.net.unsubscribe(tid)
		if err := s.net.book.RemoveThread(ctx, tid); err != nil {
			return fmt.Errorf("remove thread %s: %w", tid, err)
		}
	}

	// The thread record goes first: a crash after it leaves only unreachable
	// keys, never a thread without its logs.
	if err := s.deps.Datastore.Delete(ctx, threadKey(tid)); err != nil {
		return fmt.Errorf("remove thread %s: %w", tid, err)
	}
	if err := s.deps.Datastore.Sync(ctx, ds.NewKey("/")); err != nil {
		return fmt.Errorf("remove thread %s: %w", tid, err)
	}
	th.mu.Lock()
	logs := make([]logState, 0, len(th.logs))
	for _, st := range th.logs {
		logs = append(logs, *st)
	}
	th.mu.Unlock()
	for _, st := range logs {
		if st.pinned.Defined() {
			if err := s.deps.Pinner.Unpin(ctx, st.pinned, true); err != nil && !errors.Is(err, pin.ErrNotPinned) {
				return fmt.Errorf("remove thread %s: unpin log %s: %w", tid, st.id, err)
			}
		}
	}
	if rec, err := s.snapshotRecord(ctx, tid); err == nil {
		if root, err := cid.Cast(rec.Root); err == nil {
			if err := s.deps.Pinner.Unpin(ctx, root, true); err != nil && !errors.Is(err, pin.ErrNotPinned) {
				return fmt.Errorf("remove thread %s: unpin snapshot: %w", tid, err)
			}
		}
		if err := s.deps.Datastore.Delete(ctx, snapshotRecordKey(tid)); err != nil {
			return fmt.Errorf("remove thread %s: %w", tid, err)
		}
	}
	for _, p := range threadPrefixes(tid) {
		if err := deletePrefix(ctx, s.deps.Datastore, p); err != nil {
			return fmt.Errorf("remove thread %s: %w", tid, err)
		}
	}
	return nil
}

// pinName names the pin of a log's head in `ipfs pin ls --names`.
func pinName(tid ipel.ThreadID, log ipel.LogID) string {
	return "threads/" + tid.String() + "/" + log.String()
}

// repin brings a log's retention DAG up to its head and moves the log's pin
// to the DAG's new root: it pins the new root recursively (without
// fetching: the blocks are local) and unpins the old one. It does not use
// the pinner's Update, which walks both DAGs. It does not write the log
// record: the next commit records the new pin, and until then a restart
// finds the pin behind and moves it again, which is harmless.
func (s *Service) repin(ctx context.Context, th *thread, st *logState) error {
	th.mu.Lock()
	old := st.pinned
	th.mu.Unlock()
	root, err := s.updateRetention(ctx, th, st)
	if err != nil {
		return err
	}
	if old.Equals(root) {
		return nil
	}
	_, pinned, err := s.deps.Pinner.IsPinnedWithType(ctx, root, pin.Recursive)
	if err != nil {
		return fmt.Errorf("pin %s: %w", root, err)
	}
	if !pinned {
		if err := s.deps.Pinner.PinWithMode(ctx, root, pin.Recursive, pinName(th.id, st.id)); err != nil {
			return fmt.Errorf("pin %s: %w", root, err)
		}
	}
	if old.Defined() {
		if err := s.deps.Pinner.Unpin(ctx, old, true); err != nil && !errors.Is(err, pin.ErrNotPinned) {
			log.Warnf("thread %s: unpin %s: %s", th.id, old, err)
		}
	}
	th.mu.Lock()
	st.pinned = root
	th.mu.Unlock()
	return nil
}
