package threads

import (
	"context"
	"fmt"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/kubo-threads/kubo-threads/codec"
	"github.com/kubo-threads/kubo-threads/ipel"
)

// pushItem is a run of new events of one log, each with its body block
// when the body is stored apart.
type pushItem struct {
	th     *thread
	events []pushEvent
}

type pushEvent struct {
	event blocks.Block
	body  blocks.Block // nil when inline
}

// outbox sends pushes to one peer in order, merging what queued up while a
// push was in flight. Its goroutine ends when the queue is empty.
type outbox struct {
	n       *network
	peer    peer.ID
	queue   []pushItem
	running bool
}

// announceEvents sends newly stored events of this node's log to the
// thread's peers (direct push) and to its pubsub topic.
func (n *network) announceEvents(th *thread, evs []*codec.Event, bodies []blocks.Block) {
	byCid := make(map[cid.Cid]blocks.Block, len(bodies))
	for _, b := range bodies {
		byCid[b.Cid()] = b
	}
	item := pushItem{th: th}
	for _, ev := range evs {
		pe := pushEvent{event: ev.Block}
		if ev.BodyLink.Defined() {
			pe.body = byCid[ev.BodyLink.Cid]
		}
		item.events = append(item.events, pe)
	}
	n.publish(th, item)
	for _, p := range n.book.Peers(n.ctx, th.id) {
		if p.ID == n.self() {
			continue
		}
		n.enqueue(p.ID, item)
	}
}

func (n *network) enqueue(p peer.ID, item pushItem) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ob := n.outboxes[p]
	if ob == nil {
		ob = &outbox{n: n, peer: p}
		n.outboxes[p] = ob
	}
	ob.queue = append(ob.queue, item)
	if !ob.running {
		if n.spawn(ob.run) {
			ob.running = true
		}
	}
}

func (ob *outbox) run() {
	n := ob.n
	for {
		n.mu.Lock()
		items := ob.queue
		ob.queue = nil
		if len(items) == 0 || n.ctx.Err() != nil {
			ob.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		if n.inBackoff(ob.peer) {
			continue // dropped: anti-entropy repairs it once the peer is back
		}
		var msgs []threadMsg
		if n.reorder != nil {
			// One message per run of events, in a shuffled order.
			for _, it := range items {
				msgs = append(msgs, mergePushes([]pushItem{it}, maxBatchBytes)...)
			}
			n.reorder(msgs)
		} else {
			msgs = mergePushes(items, maxBatchBytes)
		}
		for _, m := range msgs {
			if n.dropPush != nil && n.dropPush() {
				continue
			}
			m.msg.Auth = n.auth(m.th, ob.peer)
			if _, err := n.request(n.ctx, ob.peer, m.msg); err != nil {
				n.failed(ob.peer)
				log.Debugf("push to %s: %s", ob.peer, err)
				break
			}
			n.succeeded(ob.peer)
			n.stats.pushed.Add(uint64(len(m.msg.Events)))
		}
	}
}

type threadMsg struct {
	th  *thread
	msg *codec.Message
}

// mergePushes joins consecutive items of the same thread into messages of
// at most maxBytes of blocks (or one event, when it is larger) and
// pullBatch events; an event travels with its body.
func mergePushes(items []pushItem, maxBytes int) []threadMsg {
	var out []threadMsg
	var cur *threadMsg
	size := 0
	for _, it := range items {
		for _, pe := range it.events {
			n := len(pe.event.RawData())
			if pe.body != nil {
				n += len(pe.body.RawData())
			}
			if cur == nil || cur.th != it.th || (len(cur.msg.Events) > 0 && size+n > maxBytes) || len(cur.msg.Events) >= pullBatch {
				out = append(out, threadMsg{th: it.th, msg: &codec.Message{Type: codec.MsgPush, Thread: it.th.id.Bytes()}})
				cur = &out[len(out)-1]
				size = 0
			}
			cur.msg.Events = append(cur.msg.Events, pe.event.RawData())
			if pe.body != nil {
				cur.msg.Bodies = append(cur.msg.Bodies, pe.body.RawData())
			}
			size += n
		}
	}
	return out
}

// backoff: an unreachable peer is skipped for 1s, 2s, 4s ... up to 5 min.
func (n *network) inBackoff(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return time.Now().Before(n.backoff[p].until)
}

func (n *network) failed(p peer.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.backoff[p]
	b.failures++
	wait := time.Second << min(b.failures-1, 8)
	b.until = time.Now().Add(min(wait, 5*time.Minute))
	n.backoff[p] = b
}

func (n *network) succeeded(p peer.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.backoff, p)
}

const (
	// pubsubLimit bounds a pubsub message of a thread; the validator
	// rejects larger ones.
	pubsubLimit = 64 << 10
	// pubsubOverhead is room in a message for what is not block data: the
	// thread, the proof and the CBOR framing of each block.
	pubsubOverhead = 8 << 10
	// pubsubQueue is how many validated messages a thread's subscription
	// holds before pubsub drops new ones (pushes and pulls repair what is
	// dropped): with pubsubLimit, at most 2 MiB per thread.
	pubsubQueue = 32
)

// topicSub is a thread's pubsub topic and the goroutine reading it.
type topicSub struct {
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	stop  context.CancelFunc
}

func (t *topicSub) close() {
	t.stop()
	t.sub.Cancel()
	_ = t.topic.Close()
}

// topicName is a thread's pubsub topic: the thread ID.
func topicName(tid ipel.ThreadID) string { return tid.String() }

// subscribe joins the thread's topic. Messages from peers that cannot prove
// membership are rejected by the validator and not forwarded.
func (n *network) subscribe(th *thread) {
	if n.ps == nil {
		return
	}
	name := topicName(th.id)
	// The validator runs on every message, forwarded ones too: it checks
	// the size, the type and the proof and decodes nothing else.
	err := n.ps.RegisterTopicValidator(name, func(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
		if len(msg.Data) > pubsubLimit {
			n.stats.reject(msg.GetFrom(), "oversized pubsub message", fmt.Errorf("%d bytes, at most %d", len(msg.Data), pubsubLimit))
			return pubsub.ValidationReject
		}
		h, err := codec.DecodeMessageHeader(msg.Data)
		if err == nil && h.Type != codec.MsgPush {
			err = fmt.Errorf("unexpected message type %d", h.Type)
		}
		if err != nil {
			n.stats.reject(msg.GetFrom(), "malformed pubsub message", err)
			return pubsub.ValidationReject
		}
		if _, err := n.member(h.Thread, h.Auth, msg.GetFrom(), ""); err != nil {
			return pubsub.ValidationReject
		}
		return pubsub.ValidationAccept
	})
	if err != nil {
		log.Warnf("thread %s: pubsub validator: %s", th.id, err)
		return
	}
	topic, err := n.ps.Join(name)
	if err != nil {
		_ = n.ps.UnregisterTopicValidator(name)
		log.Warnf("thread %s: join pubsub topic: %s (sync goes on through push and pull)", th.id, err)
		return
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(pubsubQueue))
	if err != nil {
		_ = topic.Close()
		_ = n.ps.UnregisterTopicValidator(name)
		log.Warnf("thread %s: subscribe: %s", th.id, err)
		return
	}
	ctx, stop := context.WithCancel(n.ctx)
	ts := &topicSub{topic: topic, sub: sub, stop: func() {
		stop()
		_ = n.ps.UnregisterTopicValidator(name)
	}}
	n.mu.Lock()
	if old := n.topics[th.id]; old != nil {
		n.mu.Unlock()
		ts.close()
		return
	}
	n.topics[th.id] = ts
	n.mu.Unlock()
	n.spawn(func() {
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if msg.ReceivedFrom == n.self() {
				continue
			}
			m, err := codec.DecodeMessage(msg.Data)
			if err != nil {
				n.stats.reject(msg.GetFrom(), "malformed pubsub message", err)
				continue
			}
			n.receiveEvents(ctx, th, msg.GetFrom(), m)
		}
	})
}

func (n *network) unsubscribe(tid ipel.ThreadID) {
	n.mu.Lock()
	ts := n.topics[tid]
	delete(n.topics, tid)
	n.mu.Unlock()
	if ts != nil {
		ts.close()
	}
}

// publish sends new events on the thread's topic, in messages of at most
// pubsubLimit bytes; an event larger than that travels by push and pull
// only.
func (n *network) publish(th *thread, item pushItem) {
	n.mu.Lock()
	ts := n.topics[th.id]
	n.mu.Unlock()
	if ts == nil {
		return
	}
	for _, m := range mergePushes([]pushItem{item}, pubsubLimit-pubsubOverhead) {
		if n.dropPush != nil && n.dropPush() {
			continue
		}
		m.msg.Auth = codec.ThreadAuth(th.follow, th.id.Bytes(), []byte(n.self()), nil)
		data, err := codec.EncodeMessage(m.msg)
		if err != nil || len(data) > pubsubLimit {
			continue
		}
		if err := ts.topic.Publish(n.ctx, data); err != nil {
			log.Debugf("thread %s: publish: %s", th.id, err)
		}
	}
}
