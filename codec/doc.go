// Package codec defines how Threads events are written down: the three
// encryption layers (body under a fresh content key, header under the thread's
// read key, node under the thread's follow key), the Ed25519 signature over
// everything that identifies an event, the block envelope stored in Kubo's
// blockstore under a private-use multicodec, and the IPLD decoder registered
// with Kubo so that `ipfs dag get` and the garbage collector can read blocks.
//
// What a node without the thread's keys sees of an event block: a DAG-CBOR
// map with a version, the link to a separately stored body block (so that
// pinning and GC keep it), and an opaque sealed byte string. No thread ID,
// log ID, sequence number, time, or content is visible.
//
// An event is what its writer signed. Since envelope version 3 the node is
// sealed deterministically under subkeys of the follow key (HKDF-SHA256;
// the nonce is a keyed BLAKE2b hash of the node), and Open refuses any other
// nonce or encoding, so an event has exactly one block and one CID; events
// of earlier versions are compared by their signed node (Event.Signed).
// The follow key's other use, thread proofs on the sync protocol, has a
// subkey of its own.
//
// A private event's content key is sealed to its recipient together with
// the event's thread, log and seq, so that a member who copies it into an
// event of its own makes an event its recipient reads as not authentic.
//
// It also defines the sync protocol's messages and their framing (see
// WriteMessage, ReadHeader, ReadBody): a header small enough to check before
// the body is read, and a body read as it arrives.
package codec
