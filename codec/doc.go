// Package codec defines how Threads events are written down: the three
// encryption layers (body under a fresh content key, header under the thread's
// read key, node under the thread's follow key), the Ed25519 signature over
// everything that identifies an event, the block envelope stored in Kubo's
// blockstore under a private-use multicodec, and the IPLD decoder registered
// with Kubo so that `ipfs dag get` and the garbage collector can read blocks.
//
// What a node without the thread's keys sees of an event block: a DAG-CBOR
// map with a version, the links to the previous event of the same log and to
// a separately stored body block (so that pinning and GC can walk a log), and
// an opaque sealed byte string. No thread ID, log ID, sequence number, time,
// or content is visible.
//
// It also defines the sync protocol's messages and their framing (see
// WriteMessage, ReadHeader, ReadBody): a header small enough to check before
// the body is read, and a body read as it arrives.
package codec
