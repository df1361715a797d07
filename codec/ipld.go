package codec

import (
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/multicodec"
)

// RegisterIPLD registers the event block decoder with an IPLD multicodec
// registry. Event blocks are DAG-CBOR envelopes, so `ipfs dag get` shows
// their links and sealed node, and the garbage collector and pinner can walk
// a log from its head.
func RegisterIPLD(reg multicodec.Registry) {
	reg.RegisterDecoder(EventCodec, dagcbor.Decode)
}
