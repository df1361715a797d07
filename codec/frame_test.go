package codec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	msgs := append(seedMessages(), &Message{Type: MsgEvents, Auth: []byte("a"), Events: [][]byte{bytes.Repeat([]byte("e"), inlineBody+1)}})
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := WriteMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for _, want := range msgs {
		h, err := ReadHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != want.Type || !bytes.Equal(h.Thread, want.Thread) || !bytes.Equal(h.Auth, want.Auth) {
			t.Fatalf("header %+v of %+v", h, want)
		}
		got, err := ReadBody(r, h, MaxMessageSize)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || len(got.Events) != len(want.Events) || got.Error != want.Error || got.From != want.From {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	if _, err := ReadHeader(r); err == nil {
		t.Fatal("read past the last frame")
	}
	// A header over its limit is not written.
	if err := WriteMessage(io.Discard, &Message{Type: MsgHeads, Thread: make([]byte, MaxHeaderSize)}); err == nil {
		t.Fatal("wrote a header over its limit")
	}
}

// A body is read as it arrives: a header claiming the largest body makes
// the reader hold about what was sent, and a body over the limit is not
// read at all.
func TestReadBodyGrowsWithWhatArrives(t *testing.T) {
	hdr, _ := Marshal(&FrameHeader{Type: MsgPush, Size: MaxMessageSize})
	raw := append(binary.AppendUvarint(nil, uint64(len(hdr))), hdr...)
	raw = append(raw, make([]byte, 1<<10)...)
	r := bufio.NewReader(bytes.NewReader(raw))
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadBody(r, h, MaxMessageSize)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadMessage) {
		t.Fatalf("a truncated body: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
		t.Fatalf("1 KiB of a claimed %d made the reader allocate %d bytes", MaxMessageSize, got)
	}
	if _, err := ReadBody(bytes.NewReader(nil), &FrameHeader{Type: MsgPush, Size: 1 << 20}, 1<<10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}
