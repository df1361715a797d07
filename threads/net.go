package threads

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	p2pnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// ProtocolID is the libp2p protocol of thread sync: one request and one
// response per stream, each a frame (see codec.WriteMessage). Version 2
// proves membership under a subkey of the follow key (codec.ThreadAuth) and
// checks a small header before reading a body; version 1 peers cannot.
const ProtocolID = protocol.ID("/kubo-threads/sync/2.0.0")

// serviceName is the libp2p resource manager service of the sync streams:
// `ipfs swarm resources` shows the memory they hold as svc:threads.
const serviceName = "threads"

const (
	// streamTimeout bounds one request/response exchange.
	streamTimeout = 30 * time.Second
	// pullBatch is how many events a pull asks for at once.
	pullBatch = 1024
	// maxBatchBytes bounds the events of one response or push.
	maxBatchBytes = 4 << 20
	// peerFrameBudget bounds the memory held for the frames of one peer at
	// a time (see frameReserve), its requests and its answers to this
	// node's requests together: one frame of the largest size, and small
	// ones beside it. A peer's frames beyond it wait (within their
	// stream's deadline).
	peerFrameBudget = codec.MaxMessageSize + 1<<20
	// maxErrorText bounds the reason of an error answer.
	maxErrorText = 1 << 10
)

// Body limits of the sync protocol's frames, by type.
const (
	smallBody    = 1 << 10   // pull, snapshot request, OK, compacted
	errorBody    = 2 << 10   // error answers
	headsBody    = 1 << 20   // heads: about 20,000 logs
	announceBody = 256 << 10 // maxAnnounceLogs entries, maxPeerAddrs addresses each
	blocksAsk    = 64 << 10  // CIDs of snapshot blocks asked for
)

// requestLimit is the largest body of a request of type t; 0 for types that
// are not requests.
func requestLimit(t codec.MsgType) int {
	switch t {
	case codec.MsgPush:
		return codec.MaxMessageSize
	case codec.MsgHeads:
		return headsBody
	case codec.MsgAnnounce:
		return announceBody
	case codec.MsgInvite:
		return codec.MaxInviteText + smallBody
	case codec.MsgBlocks:
		return blocksAsk
	case codec.MsgPull, codec.MsgSnapshot:
		return smallBody
	default:
		return 0
	}
}

// frameReserve is the memory reserved for a frame whose body is size bytes,
// and whose answer needs answer bytes: twice the body (the bytes read, and
// what is decoded from them), and the answer, at most a peer's whole share.
func frameReserve(size uint64, answer int) int {
	return int(min(2*size+uint64(answer), peerFrameBudget))
}

// answerReserve is the memory reserved, beyond the request's body, for
// building and writing the answer to a request of type t.
func answerReserve(t codec.MsgType) int {
	switch t {
	case codec.MsgPull, codec.MsgSnapshot, codec.MsgBlocks:
		return codec.MaxMessageSize
	case codec.MsgHeads:
		return headsBody
	default:
		return 0
	}
}

// answerLimit is the largest body of an answer of type ans to a request of
// type req, and whether that answer is admitted at all.
func answerLimit(req, ans codec.MsgType) (int, bool) {
	switch {
	case ans == codec.MsgError:
		return errorBody, true
	case ans == codec.MsgOK:
		return smallBody, req == codec.MsgPush || req == codec.MsgAnnounce || req == codec.MsgInvite
	case req == codec.MsgHeads && ans == codec.MsgHeads:
		return headsBody, true
	case req == codec.MsgPull && ans == codec.MsgEvents:
		return codec.MaxMessageSize, true
	case req == codec.MsgPull && ans == codec.MsgCompacted:
		return smallBody, true
	case req == codec.MsgSnapshot && ans == codec.MsgSnapshot, req == codec.MsgBlocks && ans == codec.MsgBlocks:
		return codec.MaxMessageSize, true
	default:
		return 0, false
	}
}

// network is the engine's side of libp2p: the sync protocol, pushes,
// pubsub, pulls and anti-entropy. It exists only when the service has a host.
type network struct {
	s    *Service
	host host.Host
	ps   *pubsub.PubSub
	book *ipel.AddrBook

	ctx    context.Context
	cancel context.CancelFunc
	// lifeMu guards closing; wg counts the goroutines and stream handlers
	// close waits for, which only start while closing is false.
	lifeMu  sync.Mutex
	closing bool
	wg      sync.WaitGroup

	frames *peerBudget // frame memory per peer

	mu       sync.Mutex
	outboxes map[peer.ID]*outbox
	topics   map[ipel.ThreadID]*topicSub
	backoff  map[peer.ID]backoffState
	syncing  map[syncKey]bool
	// synced records, per thread and peer, this node's heads after the
	// last successful sync and when it ended (see antiEntropy).
	synced map[syncKey]syncedState
	held   *heldBack // events ahead of their log's head

	stats netStats

	// dropPush, when set (tests), decides to drop an outgoing push or
	// publication, simulating a lossy network.
	dropPush func() bool
	// reorder, when set (tests), permutes the pushes about to be sent to a
	// peer, simulating a network that reorders messages.
	reorder func([]threadMsg)
}

type syncKey struct {
	thread ipel.ThreadID
	peer   peer.ID
}

type backoffState struct {
	failures int
	until    time.Time
}

// netStats counts what the network did; Rejected is by reason. The counts
// also feed the Prometheus metrics.
type netStats struct {
	met      *metrics
	mu       sync.Mutex
	rejected map[string]uint64
	received atomic.Uint64
	pushed   atomic.Uint64
	pulled   atomic.Uint64
	syncs    atomic.Uint64 // syncs with a peer started by this node
}

// reject counts and logs input refused from a peer.
func (st *netStats) reject(from peer.ID, reason string, err error) {
	st.mu.Lock()
	if st.rejected == nil {
		st.rejected = map[string]uint64{}
	}
	st.rejected[reason]++
	st.mu.Unlock()
	st.met.rejected.WithLabelValues(reason).Inc()
	log.Infow("rejected input", "reason", reason, "peer", from, "error", err)
}

// stored counts events received from the network and stored.
func (st *netStats) stored(n int) {
	st.received.Add(uint64(n))
	st.met.received.Add(float64(n))
}

// NetStats is a snapshot of the network counters.
type NetStats struct {
	Received uint64            // events stored from the network
	Pushed   uint64            // events pushed to peers
	Pulled   uint64            // events pulled from peers
	Rejected map[string]uint64 // messages and events refused, by reason
}

// NetStats returns the network counters; zero without a network.
func (s *Service) NetStats() NetStats {
	if s.net == nil {
		return NetStats{Rejected: map[string]uint64{}}
	}
	st := &s.net.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	out := NetStats{Received: st.received.Load(), Pushed: st.pushed.Load(), Pulled: st.pulled.Load(), Rejected: map[string]uint64{}}
	for k, v := range st.rejected {
		out.Rejected[k] = v
	}
	return out
}

func newNetwork(s *Service, h host.Host, ps *pubsub.PubSub, book *ipel.AddrBook) *network {
	ctx, cancel := context.WithCancel(context.Background())
	n := &network{
		s: s, host: h, ps: ps, book: book, ctx: ctx, cancel: cancel,
		outboxes: map[peer.ID]*outbox{}, topics: map[ipel.ThreadID]*topicSub{},
		backoff: map[peer.ID]backoffState{}, syncing: map[syncKey]bool{}, synced: map[syncKey]syncedState{},
		held:   newHeldBack(s.deps.Now),
		frames: newPeerBudget(peerFrameBudget),
	}
	n.stats.met = s.met
	h.SetStreamHandler(ProtocolID, n.handleStream)
	return n
}

// start begins the background work: anti-entropy, and a subscription per
// thread.
func (n *network) start(threads []*thread) {
	for _, th := range threads {
		n.subscribe(th)
	}
	n.spawn(n.antiEntropy)
}

// close stops everything the network started, stream handlers in flight
// among them, and waits for it.
func (n *network) close() {
	n.lifeMu.Lock()
	n.closing = true
	n.lifeMu.Unlock()
	n.host.RemoveStreamHandler(ProtocolID)
	n.cancel()
	n.mu.Lock()
	for tid, t := range n.topics {
		t.close()
		delete(n.topics, tid)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// enter registers work that close waits for; false once close began.
func (n *network) enter() bool {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Add(1)
	return true
}

// leave ends work registered by enter.
func (n *network) leave() { n.wg.Done() }

// spawn runs f in the background, tracked for close; false once close
// began.
func (n *network) spawn(f func()) bool {
	if !n.enter() {
		return false
	}
	go func() {
		defer n.leave()
		f()
	}()
	return true
}

func (n *network) self() peer.ID { return n.host.ID() }

// auth proves to peer `to` that this node holds the thread's follow key.
func (n *network) auth(th *thread, to peer.ID) []byte {
	return codec.ThreadAuth(th.follow, th.id.Bytes(), []byte(n.self()), []byte(to))
}

// request sends one message to a peer and returns the answer. An answer is
// read as a request is (see readRequest): its header first, which must be
// of a type the request admits and, when it carries data of a thread,
// prove that the peer holds the thread's follow key; then its body, within
// the type's limit and a reservation of the peer's share, held while the
// answer is read. An error answer is returned as an error.
func (n *network) request(ctx context.Context, p peer.ID, m *codec.Message) (*codec.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	st, err := n.host.NewStream(p2pnet.WithAllowLimitedConn(ctx, serviceName), p, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open stream to %s: %w", p, err)
	}
	defer st.Close()
	if err := st.Scope().SetService(serviceName); err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("stream to %s: %w", p, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if err := codec.WriteMessage(st, m); err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("send to %s: %w", p, err)
	}
	if err := st.CloseWrite(); err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("send to %s: %w", p, err)
	}
	r := bufio.NewReader(st)
	h, err := codec.ReadHeader(r)
	if err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("answer from %s: %w", p, err)
	}
	limit, err := n.checkAnswer(p, m, h)
	if err != nil {
		n.stats.reject(p, "unexpected answer", err)
		_ = st.Reset()
		return nil, fmt.Errorf("answer from %s: %w", p, err)
	}
	release, err := n.reserve(ctx, st, p, frameReserve(h.Size, 0))
	if err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("answer from %s: %w", p, err)
	}
	defer release()
	resp, err := codec.ReadBody(r, h, limit)
	if err != nil {
		n.stats.reject(p, "malformed message", err)
		_ = st.Reset()
		return nil, fmt.Errorf("answer from %s: %w", p, err)
	}
	if resp.Type == codec.MsgError {
		return nil, fmt.Errorf("%s refused: %s", p, resp.Error)
	}
	return resp, nil
}

// checkAnswer returns the body limit of an answer to req, or why it is
// refused: a type the request does not admit, or a missing or wrong proof.
func (n *network) checkAnswer(p peer.ID, req *codec.Message, h *codec.FrameHeader) (int, error) {
	limit, ok := answerLimit(req.Type, h.Type)
	if !ok {
		return 0, fmt.Errorf("answer of type %d to a request of type %d", h.Type, req.Type)
	}
	if h.Type == codec.MsgOK || h.Type == codec.MsgError {
		return limit, nil
	}
	tid, err := ipel.ThreadIDFromBytes(req.Thread)
	if err != nil {
		return 0, err
	}
	th, err := n.s.thread(tid)
	if err != nil {
		return 0, err
	}
	if !th.proves(h.Auth, p, n.self()) {
		return 0, errNotMember
	}
	return limit, nil
}

// reserve holds size bytes of memory for a frame of peer p: from the peer's
// share (waiting, within ctx, while the peer's other frames hold it) and
// from the stream's scope in the libp2p resource manager. The returned
// function releases both.
func (n *network) reserve(ctx context.Context, st p2pnet.Stream, p peer.ID, size int) (func(), error) {
	if size == 0 {
		return func() {}, nil
	}
	if err := n.frames.acquire(ctx, p, size); err != nil {
		return nil, fmt.Errorf("memory for %d bytes: %w", size, err)
	}
	if err := st.Scope().ReserveMemory(size, p2pnet.ReservationPriorityMedium); err != nil {
		n.frames.release(p, size)
		return nil, fmt.Errorf("memory for %d bytes: %w", size, err)
	}
	return func() {
		st.Scope().ReleaseMemory(size)
		n.frames.release(p, size)
	}, nil
}

// closeGrace is how long an answer may take to go out once Close began.
const closeGrace = time.Second

// handleStream serves one request, unless the network is closing. While it
// waits on the peer (reading the request) a stream does not hold Close up:
// Close resets it. A request read is served to the end, and its answer
// goes out within closeGrace of Close.
func (n *network) handleStream(st p2pnet.Stream) {
	if !n.enter() {
		_ = st.Reset()
		return
	}
	defer n.leave()
	defer st.Close()
	from := st.Conn().RemotePeer()
	if err := st.Scope().SetService(serviceName); err != nil {
		n.stats.reject(from, "resource limit", err)
		_ = st.Reset()
		return
	}
	_ = st.SetDeadline(time.Now().Add(streamTimeout))
	stop := context.AfterFunc(n.ctx, func() { _ = st.Reset() })
	req, resp := n.readRequest(st, bufio.NewReader(st), from)
	if !stop() {
		if req != nil {
			req.release()
		}
		return // reset by Close
	}
	if req != nil {
		defer req.release()
		resp = n.serveRequest(req, from)
	}
	if resp == nil {
		_ = st.Reset()
		return
	}
	defer context.AfterFunc(n.ctx, func() { _ = st.SetWriteDeadline(time.Now().Add(closeGrace)) })()
	if err := codec.WriteMessage(st, resp); err != nil {
		_ = st.Reset()
	}
}

// inbound is a request read from a stream, with the memory reserved for it
// and its answer.
type inbound struct {
	th      *thread // nil for an invite
	m       *codec.Message
	release func()
}

// readRequest reads a request: it returns the request, or the answer that
// refuses it, or neither (reset the stream). Nothing large is read before
// the sender is known to be allowed: the header (at most
// codec.MaxHeaderSize bytes) must prove membership of its thread, or be an
// invite the sender may still deliver; the body must fit its type's limit,
// and memory for it (and for a large answer) is reserved before it is
// read.
func (n *network) readRequest(st p2pnet.Stream, r *bufio.Reader, from peer.ID) (*inbound, *codec.Message) {
	h, err := codec.ReadHeader(r)
	if err != nil {
		n.stats.reject(from, "malformed message", err)
		return nil, nil
	}
	th, err := n.admit(from, h)
	if err != nil {
		return nil, errorAnswer(err)
	}
	limit := requestLimit(h.Type)
	if h.Size > uint64(limit) {
		err := fmt.Errorf("%w: type %d, %d bytes, at most %d", codec.ErrTooLarge, h.Type, h.Size, limit)
		n.stats.reject(from, "oversized message", err)
		return nil, errorAnswer(err)
	}
	wait, cancel := context.WithTimeout(n.ctx, streamTimeout)
	defer cancel()
	release, err := n.reserve(wait, st, from, frameReserve(h.Size, answerReserve(h.Type)))
	if err != nil {
		n.stats.reject(from, "no memory", err)
		return nil, errorAnswer(err)
	}
	m, err := codec.ReadBody(r, h, limit)
	if err != nil {
		release()
		n.stats.reject(from, "malformed message", err)
		return nil, nil
	}
	return &inbound{th: th, m: m, release: release}, nil
}

// serveRequest answers a request read by readRequest; an answer with data
// of a thread carries this node's proof.
func (n *network) serveRequest(req *inbound, from peer.ID) *codec.Message {
	resp, err := n.serve(context.WithoutCancel(n.ctx), req.th, from, req.m)
	if err != nil {
		log.Debugf("sync: refused %d from %s: %s", req.m.Type, from, err)
		return errorAnswer(err)
	}
	if req.th != nil && resp.Type != codec.MsgOK && resp.Type != codec.MsgError {
		resp.Auth = n.auth(req.th, from)
	}
	return resp
}

// errorAnswer is a refusal, its reason cut to fit the error answer's limit.
func errorAnswer(err error) *codec.Message {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	return &codec.Message{Type: codec.MsgError, Error: msg}
}

// admit checks a request's header: an invite the sender may deliver, or a
// request of a known type about a thread the sender proves to be a member
// of, which it returns.
func (n *network) admit(from peer.ID, h *codec.FrameHeader) (*thread, error) {
	if h.Type == codec.MsgInvite {
		if err := n.s.invites.admit(from); err != nil {
			n.stats.reject(from, "invite quota", err)
			return nil, err
		}
		return nil, nil
	}
	if requestLimit(h.Type) == 0 {
		err := fmt.Errorf("unexpected message type %d", h.Type)
		n.stats.reject(from, "unexpected message", err)
		return nil, err
	}
	return n.member(h.Thread, h.Auth, from, n.self())
}

var errNotMember = errors.New("not a member of the thread (bad thread proof)")

// member returns a thread if a message's sender proved to hold the thread's
// follow key (to is this node, or empty for a broadcast).
func (n *network) member(thread, auth []byte, from, to peer.ID) (*thread, error) {
	tid, err := ipel.ThreadIDFromBytes(thread)
	if err != nil {
		n.stats.reject(from, "bad thread ID", err)
		return nil, err
	}
	th, err := n.s.thread(tid)
	if err != nil {
		n.stats.reject(from, "unknown thread", err)
		return nil, err
	}
	if !th.proves(auth, from, to) {
		n.stats.reject(from, "not a member", errNotMember)
		return nil, errNotMember
	}
	return th, nil
}

// proves reports whether auth is the thread proof of `from` to `to`.
func (th *thread) proves(auth []byte, from, to peer.ID) bool {
	return codec.CheckThreadAuth(th.follow, auth, th.id.Bytes(), []byte(from), []byte(to))
}

// serve answers a request admitted by admit (th is nil for an invite).
func (n *network) serve(ctx context.Context, th *thread, from peer.ID, m *codec.Message) (*codec.Message, error) {
	if m.Type == codec.MsgInvite {
		return n.receiveInvite(ctx, from, m)
	}
	ok := &codec.Message{Type: codec.MsgOK}
	switch m.Type {
	case codec.MsgPush:
		n.receiveEvents(ctx, th, from, m)
		return ok, nil
	case codec.MsgHeads:
		// The asker tells its own heads: when it holds more, pull from it.
		if aheadOf(th, m.Heads) && !n.inBackoff(from) {
			n.syncSoon(th, from)
		}
		return &codec.Message{Type: codec.MsgHeads, Heads: th.heads()}, nil
	case codec.MsgPull:
		return n.servePull(ctx, th, from, m)
	case codec.MsgAnnounce:
		n.receiveAnnounce(ctx, th, from, m.Addrs)
		return ok, nil
	case codec.MsgSnapshot:
		return n.serveSnapshot(ctx, th)
	case codec.MsgBlocks:
		return n.serveBlocks(ctx, th, m)
	default:
		err := fmt.Errorf("unexpected message type %d", m.Type)
		n.stats.reject(from, "unexpected message", err)
		return nil, err
	}
}

// heads lists the thread's logs and seqs.
func (th *thread) heads() []codec.Head {
	th.mu.Lock()
	defer th.mu.Unlock()
	out := make([]codec.Head, 0, len(th.logs))
	for id, st := range th.logs {
		out = append(out, codec.Head{Log: []byte(id), Seq: st.seq})
	}
	return out
}

// receiveEvents ingests pushed or published events of one log. A gap or an
// unknown log starts a pull from the sender.
func (n *network) receiveEvents(ctx context.Context, th *thread, from peer.ID, m *codec.Message) {
	if len(m.Events) == 0 {
		return
	}
	evBlocks, bodies, err := decodeBlocks(m)
	if err != nil {
		n.stats.reject(from, "malformed event", err)
		return
	}
	res, err := n.ingest(ctx, th, from, evBlocks, bodies)
	switch {
	case err == nil:
	case errors.Is(err, ErrGap):
		n.holdBack(th, from, evBlocks[res.Stored+res.Duplicates:], bodies)
		n.syncSoon(th, from)
	default:
		log.Debugf("sync: events from %s: %s", from, err)
	}
}

// ingest stores events from a member, adding their log to the thread when it
// is new (in a raw thread every member may write).
func (n *network) ingest(ctx context.Context, th *thread, from peer.ID, evBlocks []blocks.Block, bodies map[cid.Cid]blocks.Block) (IngestResult, error) {
	res, err := n.s.Ingest(ctx, th.id, evBlocks, bodies)
	if errors.Is(err, ErrLogNotFound) {
		if logID, seq, ok := firstLog(th, evBlocks[res.Stored+res.Duplicates:]); ok {
			// A log whose first event comes first has an event at once;
			// one that starts with a gap stays empty until it is pulled.
			add := n.s.addLearntLog
			if seq == 1 {
				add = n.s.addLog
			}
			if aerr := add(ctx, th, logID); aerr != nil {
				if errors.Is(aerr, errTooManyEmptyLogs) {
					n.stats.reject(from, "too many empty logs", aerr)
				}
				return res, aerr
			}
			_ = n.book.Add(ctx, th.id, logID, peer.AddrInfo{ID: from, Addrs: n.host.Peerstore().Addrs(from)}, n.s.cfg.AddrTTL)
			more, err2 := n.s.Ingest(ctx, th.id, evBlocks[res.Stored+res.Duplicates:], bodies)
			res.Stored += more.Stored
			res.Duplicates += more.Duplicates
			err = err2
		}
	}
	n.stats.stored(res.Stored)
	if err != nil && !errors.Is(err, ErrGap) {
		n.stats.reject(from, rejectReason(err), err)
	}
	if res.Stored > 0 {
		n.release(ctx, th)
	}
	return res, err
}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, codec.ErrBadSignature):
		return "bad signature"
	case errors.Is(err, codec.ErrWrongLog):
		return "wrong thread or log"
	case errors.Is(err, codec.ErrDecrypt):
		return "does not decrypt"
	case errors.Is(err, codec.ErrMalformed):
		return "malformed event"
	case errors.Is(err, codec.ErrObsoleteFormat):
		return "obsolete format"
	case errors.Is(err, ErrClockAhead):
		return "clock ahead"
	case errors.Is(err, ErrClockBackwards):
		return "clock goes backwards"
	case errors.Is(err, ErrEquivocation):
		return "equivocation"
	case errors.Is(err, ErrMissingBody):
		return "missing body"
	default:
		return "other"
	}
}

// firstLog returns the log and seq the first event block claims, if it
// opens.
func firstLog(th *thread, evBlocks []blocks.Block) (ipel.LogID, uint64, bool) {
	if len(evBlocks) == 0 {
		return "", 0, false
	}
	ev, err := openReceived(th, evBlocks[0])
	if err != nil {
		return "", 0, false
	}
	id, err := ev.LogID()
	return id, ev.Seq, err == nil
}

func decodeBlocks(m *codec.Message) ([]blocks.Block, map[cid.Cid]blocks.Block, error) {
	evBlocks := make([]blocks.Block, 0, len(m.Events))
	for _, b := range m.Events {
		c, err := eventPrefix.Sum(b)
		if err != nil {
			return nil, nil, err
		}
		blk, err := blocks.NewBlockWithCid(b, c)
		if err != nil {
			return nil, nil, err
		}
		evBlocks = append(evBlocks, blk)
	}
	var bodies map[cid.Cid]blocks.Block
	if len(m.Bodies) > 0 {
		bodies = make(map[cid.Cid]blocks.Block, len(m.Bodies))
		for _, b := range m.Bodies {
			c, err := bodyPrefix.Sum(b)
			if err != nil {
				return nil, nil, err
			}
			blk, err := blocks.NewBlockWithCid(b, c)
			if err != nil {
				return nil, nil, err
			}
			bodies[c] = blk
		}
	}
	return evBlocks, bodies, nil
}

var (
	eventPrefix = cid.Prefix{Version: 1, Codec: codec.EventCodec, MhType: 0x12, MhLength: -1}
	bodyPrefix  = cid.Prefix{Version: 1, Codec: codec.BodyCodec, MhType: 0x12, MhLength: -1}
)

// servePull answers a pull with a batch of stored events.
func (n *network) servePull(ctx context.Context, th *thread, from peer.ID, m *codec.Message) (*codec.Message, error) {
	logID, err := ipel.LogIDFromBytes(m.Log)
	if err != nil {
		n.stats.reject(from, "bad log ID", err)
		return nil, err
	}
	th.mu.Lock()
	st := th.logs[logID]
	var head, base uint64
	if st != nil {
		head, base = st.seq, st.base
	}
	th.mu.Unlock()
	if st == nil {
		return nil, fmt.Errorf("%w: %s", ErrLogNotFound, logID)
	}
	first := max(m.From, 1)
	if first <= base {
		// Compacted: the asker starts from the snapshot, then pulls again.
		return &codec.Message{Type: codec.MsgCompacted, Log: m.Log, From: base + 1}, nil
	}
	want := uint64(min(max(m.Max, 1), pullBatch))
	to := min(head, first+want-1)
	out := &codec.Message{Type: codec.MsgEvents}
	size := 0
	for seq := first; seq <= to && size < maxBatchBytes; seq++ {
		ev, body, err := n.s.loadEvent(ctx, th, logID, seq)
		if err != nil {
			if th.mu.Lock(); st.base >= seq { // compacted meanwhile
				th.mu.Unlock()
				return &codec.Message{Type: codec.MsgCompacted, Log: m.Log, From: st.base + 1}, nil
			}
			th.mu.Unlock()
			return nil, err
		}
		out.Events = append(out.Events, ev.RawData())
		size += len(ev.RawData())
		if body != nil {
			out.Bodies = append(out.Bodies, body.RawData())
			size += len(body.RawData())
		}
	}
	return out, nil
}

// loadEvent reads the blocks of the event at (log, seq) without opening them.
func (s *Service) loadEvent(ctx context.Context, th *thread, logID ipel.LogID, seq uint64) (blocks.Block, blocks.Block, error) {
	b, err := s.deps.Datastore.Get(ctx, eventKey(th.id, logID, seq))
	if err != nil {
		return nil, nil, fmt.Errorf("log %s: event %d: index: %w", logID, seq, err)
	}
	c, err := cid.Cast(b)
	if err != nil {
		return nil, nil, err
	}
	blk, err := s.deps.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, nil, fmt.Errorf("event %s: %w", c, err)
	}
	links, err := codec.EnvelopeLinks(blk.RawData())
	if err != nil {
		return nil, nil, err
	}
	for _, l := range links {
		if l.Prefix().Codec == codec.BodyCodec {
			body, err := s.deps.Blockstore.Get(ctx, l)
			if err != nil {
				return nil, nil, fmt.Errorf("event %s: body %s: %w", c, l, err)
			}
			return blk, body, nil
		}
	}
	return blk, nil, nil
}
